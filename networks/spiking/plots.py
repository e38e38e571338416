"""Figures of the spiking family, drawn from a ``Recording``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from biosim.analysis import isi_cv, isis, smooth_rate
from biosim.plotting import figure, save
from biosim.registry import register

RASTER_WINDOW = 2.0  # s: long runs show their last two seconds in the raster


def _smoothing(n: int, span: float) -> float:
    """Gaussian width (s) for a population rate: 2 ms for large populations and short spans, wider for
    small populations (a single neuron's rate needs ~0.2 s) and long spans (~500 points across)."""
    return max(2e-3, 0.2 / n, span / 500)


@register("plot", "raster")
def raster(rec, out: Path) -> list[Path]:
    """One spike raster per population (first 1000 neurons) above the population rates; runs longer
    than 5 s show their last ``RASTER_WINDOW`` seconds."""
    if not rec.spikes:
        return []
    start = rec.duration - RASTER_WINDOW if rec.duration > 5.0 else 0.0
    pops = list(rec.spikes)
    heights = [min(3.0, max(0.6, rec.sizes[p] / 300)) for p in pops] + [1.5]
    fig, axes = figure(len(pops) + 1, 1, (9, 1.2 + 1.3 * sum(heights)), sharex=True,
                        gridspec_kw={"height_ratios": heights})
    for k, (pop, ax) in enumerate(zip(pops, axes, strict=False)):
        t, i = rec.spikes[pop]
        keep = (i < 1000) & (t >= start)
        marker = "|" if rec.sizes[pop] <= 50 else ","
        ax.plot(t[keep], i[keep], marker, color=f"C{k}", ms=8)
        ax.set_ylabel(f"{pop}\n(neuron)")
        ax.set_ylim(-0.5, min(rec.sizes[pop], 1000) - 0.5)
        if pop in rec.rates:
            times, smooth = smooth_rate(rec.rates[pop], rec.dt, _smoothing(rec.sizes[pop], rec.duration - start))
            shown = times >= start
            axes[-1].plot(times[shown], smooth[shown], color=f"C{k}", lw=0.9, label=pop)
    axes[-1].set_ylabel("rate (Hz)")
    axes[-1].set_xlabel("time (s)" + (f", last {RASTER_WINDOW:g} s of {rec.duration:g} s" if start > 0 else ""))
    if rec.rates:
        axes[-1].legend(fontsize=8, loc="upper right")
    axes[-1].set_xlim(start, rec.duration)
    return save(fig, out / "raster.png")


@register("plot", "rates")
def rates(rec, out: Path) -> list[Path]:
    """Smoothed population rate of each population over the whole run."""
    if not rec.rates:
        return []
    fig, ax = figure(1, 1, (9, 3))
    for k, (pop, rate) in enumerate(rec.rates.items()):
        width = _smoothing(rec.sizes[pop], rec.duration)
        ax.plot(*smooth_rate(rate, rec.dt, width), lw=0.8, color=f"C{k}",
                label=f"{pop} (mean {rate.mean():.2f} Hz, smoothed {width * 1e3:.0f} ms)")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("population rate (Hz)")
    ax.legend(fontsize=8)
    return save(fig, out / "rates.png")


@register("plot", "voltage")
def voltage(rec, out: Path) -> list[Path]:
    """Recorded state variables, one panel per variable, one line per neuron."""
    if not rec.states:
        return []
    fig, axes = figure(len(rec.states), 1, (9, 2.4 * len(rec.states)), sharex=True, squeeze=False)
    for ax, (key, table) in zip(axes[:, 0], rec.states.items(), strict=True):
        scale, unit = (1e3, "mV") if key.endswith(".v") else (1.0, "SI")
        for col, idx in enumerate(table["indices"][:10]):
            ax.plot(table["t"], table["values"][:, col] * scale, lw=0.7, label=f"#{idx}")
        ax.set_ylabel(f"{key} ({unit})")
        ax.legend(fontsize=7, ncol=5, loc="upper right")
    axes[-1, 0].set_xlabel("time (s)")
    return save(fig, out / "voltage.png")


@register("plot", "isi")
def isi(rec, out: Path) -> list[Path]:
    """Histograms of inter-spike intervals and of the per-neuron ISI CV."""
    pops = [p for p, (t, _) in rec.spikes.items() if t.size > 1]
    if not pops:
        return []
    fig, (left, right) = figure(1, 2, (9, 3.2))
    for k, pop in enumerate(pops):
        t, i = rec.spikes[pop]
        intervals = isis(t, i) * 1e3
        if intervals.size:
            left.hist(intervals, bins=80, histtype="step", color=f"C{k}", label=pop, density=True)
        cvs = isi_cv(t, i, rec.sizes[pop])
        if cvs.size:
            right.hist(cvs, bins=40, histtype="step", color=f"C{k}", label=f"{pop} (mean {cvs.mean():.2f})")
    left.set_xlabel("ISI (ms)")
    left.set_ylabel("density")
    right.set_xlabel("CV of ISI")
    for ax in (left, right):
        ax.legend(fontsize=8)
    return save(fig, out / "isi.png")


@register("plot", "weights")
def weights(rec, out: Path) -> list[Path]:
    """Weight distribution at the first and last snapshot, and the evolution of sampled weights."""
    tables = {name: table for name, table in rec.weights.items() if len(table["t"])}
    if not tables:
        return []
    fig, axes = figure(len(tables), 2, (10, 3.2 * len(tables)), squeeze=False)
    for (name, table), (left, right) in zip(tables.items(), axes, strict=True):
        w = table["w"]
        bins = np.linspace(w.min(), w.max() if w.max() > w.min() else w.min() + 1e-12, 50)
        left.hist(w[0], bins=bins, alpha=0.6, label=f"t = {table['t'][0]:g} s")
        left.hist(w[-1], bins=bins, alpha=0.6, label=f"t = {table['t'][-1]:g} s")
        left.set_xlabel(f"{name} weight (SI)")
        left.set_ylabel("synapses")
        left.legend(fontsize=8)
        lines = np.linspace(0, w.shape[1] - 1, min(40, w.shape[1])).astype(int)
        right.plot(table["t"], w[:, lines], lw=0.6, alpha=0.7)
        right.plot(table["t"], w.mean(axis=1), color="k", lw=2, label="mean")
        right.set_xlabel("time (s)")
        right.set_ylabel("weight (SI)")
        right.legend(fontsize=8)
    return save(fig, out / "weights.png")
