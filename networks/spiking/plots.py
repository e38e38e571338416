"""Figures of the spiking family, drawn from a ``Recording``.

Every axis carries the unit of what it shows: a state variable's dimension comes from the recording
(``recording.dimensions``, "pop.var" -> dimension) or else from the neuron models that declare a variable
of that name; a weight is in the unit of the variable its projection targets (``recording.dimensions``
under the projection's name). Populations whose spike monitor was truncated (``recording.truncated``)
are marked on the raster.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from biosim.analysis import cv_of, isi_cv, isis, rate_rhythm, rate_spectrum
from biosim.plotting import UNITS, envelope, figure, histogram_bins, note, save, smooth
from biosim.registry import register

RASTER_WINDOW = 2.0  # s: runs longer than 5 s show their last two seconds in the raster
RASTER_NEURONS = 1000  # the raster shows the first this many neurons of a population
TRACE_WINDOW = 1.0  # s: state traces recorded over more than 2 s show their last second
TRACE_POINTS = 2000  # beyond 2x this many samples in the window, traces show each block's min and max
TRACES = 10  # neurons drawn per state variable


def _smoothing(n: int, span: float) -> float:
    """Gaussian width (s) for a population rate: 2 ms for large populations and short spans, wider for
    small populations (a single neuron's rate needs ~0.2 s) and long spans (~500 points across)."""
    return max(2e-3, 0.2 / max(n, 1), span / 500)


def _dimension(rec, key: str) -> str | None:
    """The dimension of a recorded state ("pop.var") or of a projection's weights, when known."""
    if key in rec.dimensions:
        return rec.dimensions[key]
    if "." not in key:
        return None
    from biosim import registry

    var = key.rsplit(".", 1)[1]
    declared = {model.state_vars[var] for model in (registry.get("neuron", name) for name in registry.names("neuron"))
                if var in getattr(model, "state_vars", {})}
    return declared.pop() if len(declared) == 1 else None


def _unit(rec, key: str) -> tuple[float, str]:
    """(factor from SI, unit label) for a recorded state or weight; the label says when it is unknown."""
    dimension = _dimension(rec, key)
    return UNITS.get(dimension, (1.0, f"unit of {dimension}")) if dimension else (1.0, "unit not recorded")


@register("plot", "raster")
def raster(rec, out: Path) -> list[Path]:
    """One spike raster per population (the first ``RASTER_NEURONS`` neurons, said when that is a subset)
    above the population rates; runs longer than 5 s show their last ``RASTER_WINDOW`` seconds. A
    truncated spike monitor is marked in red at its last recorded spike."""
    if not rec.spikes:
        return []
    start = rec.duration - RASTER_WINDOW if rec.duration > 5.0 else 0.0
    end = max(rec.duration, start + rec.dt)
    truncated = set(getattr(rec, "truncated", ()) or ())
    pops = list(rec.spikes)
    heights = [min(3.0, max(0.6, rec.sizes[p] / 300)) for p in pops] + [1.5]
    fig, axes = figure(len(pops) + 1, 1, (9, 1.2 + 1.3 * sum(heights)), sharex=True,
                       gridspec_kw={"height_ratios": heights})
    for k, (pop, ax) in enumerate(zip(pops, axes, strict=False)):
        t, i = rec.spikes[pop]
        n = rec.sizes[pop]
        shown = min(n, RASTER_NEURONS)
        keep = (i < shown) & (t >= start)
        ax.plot(t[keep], i[keep], "|" if shown <= 50 else ",", color=f"C{k}", ms=8)
        ax.set_ylabel(f"{pop}\n(neuron #)")
        ax.set_ylim(-0.5, max(shown, 1) - 0.5)
        remarks = [f"showing {shown} of {n} neurons"] if shown < n else []
        if not keep.any():
            remarks.append("no spikes" + (" in this window" if t.size else ""))
        if remarks:
            ax.text(0.01, 0.97, "; ".join(remarks), transform=ax.transAxes, ha="left", va="top", fontsize=7,
                    bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.6", "alpha": 0.85})
        if pop in truncated:
            last = float(t.max()) if t.size else start
            ax.axvline(last, color="red", lw=1.2)
            ax.text(0.99, 0.97, f"spike monitor full (max_spikes) at t = {last:.4g} s: later spikes not recorded",
                    transform=ax.transAxes, ha="right", va="top", fontsize=7, color="red",
                    bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "red", "alpha": 0.9})
        if pop in rec.rates and rec.rates[pop].size:
            times, rate = smooth(rec.rates[pop], rec.dt, _smoothing(n, rec.duration - start))
            inside = times >= start
            axes[-1].plot(times[inside], rate[inside], "-" if inside.sum() > 1 else "o", color=f"C{k}", lw=0.9,
                          label=pop)
    axes[-1].set_ylabel("rate (Hz)")
    axes[-1].set_xlabel("time (s)" + (f", last {RASTER_WINDOW:g} s of {rec.duration:g} s" if start > 0 else ""))
    if axes[-1].get_legend_handles_labels()[0]:
        axes[-1].legend(fontsize=8, loc="upper right")
    else:
        note(axes[-1], "zero-length run" if rec.duration <= 0 else "no population rate recorded")
    axes[-1].set_xlim(start, end)
    return save(fig, out / "raster.png")


@register("plot", "rates")
def rates(rec, out: Path) -> list[Path]:
    """Smoothed population rate of each population over the whole run (the Gaussian is cut at the run's
    ends and renormalised there, so the ends show what was recorded)."""
    if not rec.rates:
        return []
    fig, ax = figure(1, 1, (9, 3))
    for k, (pop, rate) in enumerate(rec.rates.items()):
        if not rate.size:
            continue
        width = _smoothing(rec.sizes[pop], rec.duration)
        times, smoothed = smooth(rate, rec.dt, width)
        ax.plot(times, smoothed, "-" if times.size > 1 else "o", lw=0.8, color=f"C{k}",
                label=f"{pop} (mean {rate.mean():.2f} Hz, smoothed {width * 1e3:.0f} ms)")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("population rate (Hz)")
    ax.set_xlim(0, max(rec.duration, rec.dt))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    else:
        note(ax, "zero-length run: no rate samples")
    return save(fig, out / "rates.png")


@register("plot", "spectrum")
def spectrum(rec, out: Path) -> list[Path]:
    """Power spectrum of each recorded population rate (1 ms bins, Welch), its peak marked: population
    rhythms (alpha, gamma) show as peaks above the flat spectrum of asynchronous firing."""
    fig, ax = figure(1, 1, (7, 3.5))
    for k, (pop, rate) in enumerate(rec.rates.items()):
        found = rate_spectrum(rate, rec.dt)
        if found is None:
            continue
        freqs, power = found
        peak = rate_rhythm(rate, rec.dt)["rate_peak_hz"]
        ax.semilogy(freqs[1:], power[1:], lw=1, color=f"C{k}", label=f"{pop} (peak {peak:.1f} Hz)")
        ax.axvline(peak, color=f"C{k}", lw=0.6, ls=":")
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("power (Hz²/Hz)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    else:
        note(ax, "no population rate with spikes over at least 16 ms was recorded (monitors.rates)")
    return save(fig, out / "spectrum.png")


@register("plot", "voltage")
def voltage(rec, out: Path) -> list[Path]:
    """Recorded state variables, one panel per variable in its own unit, one line per neuron (the first
    ``TRACES``). Traces longer than 2 s show their last ``TRACE_WINDOW``; beyond ``2 TRACE_POINTS`` samples
    there, each block of samples is drawn as its minimum and maximum. The axis label says which."""
    if not rec.states:
        return []
    fig, axes = figure(len(rec.states), 1, (9, 2.4 * len(rec.states)), sharex=True, squeeze=False)
    for ax, (key, table) in zip(axes[:, 0], rec.states.items(), strict=True):
        scale, unit = _unit(rec, key)
        t, values, indices = table["t"], table["values"], table["indices"]
        ax.set_ylabel(f"{key} ({unit})")
        if not t.size:
            note(ax, "no samples recorded")
            continue
        span = t[-1] - t[0]
        inside = t >= t[-1] - TRACE_WINDOW if span > 2 * TRACE_WINDOW else np.ones(t.size, bool)
        times, shown, block = envelope(t[inside], values[inside][:, :TRACES], TRACE_POINTS)
        for col, idx in enumerate(indices[:TRACES]):
            ax.plot(times, shown[:, col] * scale, "-" if times.size > 1 else "o", lw=0.7, label=f"#{idx}")
        what = [f"last {TRACE_WINDOW:g} s of {span:.4g} s"] if span > 2 * TRACE_WINDOW else []
        what += [f"min and max of every {block} samples"] if block > 1 else []
        what += [f"{TRACES} of {len(indices)} recorded neurons"] if len(indices) > TRACES else []
        if what:
            ax.set_title("; ".join(what), fontsize=8, loc="left")
        ax.legend(fontsize=7, ncol=5, loc="upper right")
    axes[-1, 0].set_xlabel("time (s)")
    return save(fig, out / "voltage.png")


@register("plot", "isi")
def isi(rec, out: Path) -> list[Path]:
    """Histograms of inter-spike intervals (from the spike monitor; a truncated one says until when) and of
    the per-neuron ISI CV (neurons with 3 spikes or more; from the engine's spike counters when recorded)."""
    if not rec.spikes:
        return []
    fig, (left, right) = figure(1, 2, (9, 3.2))
    truncated, stats = getattr(rec, "truncated", set()) or set(), getattr(rec, "spike_stats", {}) or {}
    for k, (pop, (t, i)) in enumerate(rec.spikes.items()):
        intervals = isis(t, i) * 1e3
        if intervals.size:
            label = pop + (f" (until t = {t.max():.4g} s: monitor full)" if pop in truncated else "")
            left.hist(intervals, bins=histogram_bins(intervals, 80), histtype="step", color=f"C{k}", label=label,
                      density=True)
        cvs = cv_of(stats[pop]) if pop in stats else isi_cv(t, i, rec.sizes[pop])  # counters: never truncated
        if cvs.size:
            right.hist(cvs, bins=histogram_bins(cvs, 40), histtype="step", color=f"C{k}",
                       label=f"{pop} (mean {cvs.mean():.2f})")
    left.set_xlabel("ISI (ms)")
    left.set_ylabel("density (1/ms)")
    right.set_xlabel("CV of ISI (dimensionless)")
    right.set_ylabel("neurons")
    for ax, empty in ((left, "no neuron spiked twice"), (right, "no neuron spiked 3 times")):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        else:
            note(ax, empty)
    return save(fig, out / "isi.png")


@register("plot", "weights")
def weights(rec, out: Path) -> list[Path]:
    """Weight distribution at the first and last snapshot, and the evolution of sampled weights, in the
    unit of the variable the projection targets."""
    tables = {name: table for name, table in rec.weights.items() if len(table["t"])}
    if not tables:
        return []
    fig, axes = figure(len(tables), 2, (10, 3.2 * len(tables)), squeeze=False)
    for (name, table), (left, right) in zip(tables.items(), axes, strict=True):
        scale, unit = _unit(rec, name)
        left.set_xlabel(f"{name} weight ({unit})")
        left.set_ylabel("synapses")
        right.set_xlabel("time (s)")
        right.set_ylabel(f"weight ({unit})")
        w = np.asarray(table["w"], np.float64).reshape(len(table["t"]), -1) * scale
        if not w.size:
            note(left, "no synapse sampled")
            continue
        bins = histogram_bins(w, 50)
        left.hist(w[0], bins=bins, alpha=0.6, label=f"t = {table['t'][0]:g} s")
        if len(table["t"]) > 1:
            left.hist(w[-1], bins=bins, alpha=0.6, label=f"t = {table['t'][-1]:g} s")
        left.legend(fontsize=8)
        lines = np.linspace(0, w.shape[1] - 1, min(40, w.shape[1])).astype(int)
        style = "-" if w.shape[0] > 1 else "o"
        right.plot(table["t"], w[:, lines], style, lw=0.6, alpha=0.7)
        right.plot(table["t"], w.mean(axis=1), style, color="k", lw=2, label=f"mean of {w.shape[1]} sampled")
        right.legend(fontsize=8)
    return save(fig, out / "weights.png")
