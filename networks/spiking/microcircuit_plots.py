"""The microcircuit's figure: a raster of every population stacked by layer, beside per-population rates and
CVs, optionally against other simulators' (``benchmarks/microcircuit.py`` draws NEST's beside biosim's)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from biosim.analysis import summary_of
from biosim.plotting import figure, save
from biosim.registry import register

RASTER_SPAN = 0.2  # s: the raster shows the last this much of the run
RASTER_FRACTION = 0.05  # of each population's neurons drawn in the raster (Potjans & Diesmann's Fig. 6 style)
RASTER_MIN = 50  # ... and at least this many (all of a smaller population)
E_COLOR, I_COLOR = "#4477aa", "#cc6677"


def layers_figure(spikes: dict[str, tuple[np.ndarray, np.ndarray]], sizes: dict[str, int], duration: float,
                  stats: dict[str, dict[str, dict[str, float]]], out: Path, title: str = "") -> list[Path]:
    """Raster (last ``RASTER_SPAN`` s, ``RASTER_FRACTION`` of each population but at least ``RASTER_MIN`` neurons,
    layer 2/3 on top) beside bars of
    the rate (Hz) and the mean ISI CV per population for each label of ``stats`` (label -> pop -> rate_hz,
    cv_isi, optional rate_sd and cv_sd for error bars over seeds)."""
    pops = list(spikes)
    fig, (ax_r, ax_rate, ax_cv) = figure(1, 3, (13, 5.5), gridspec_kw={"width_ratios": [2.2, 1, 1]})
    start = max(0.0, duration - RASTER_SPAN)
    offset, ticks = 0, []
    for pop in pops:
        times, idx = spikes[pop]
        shown = min(sizes[pop], max(RASTER_MIN, int(round(sizes[pop] * RASTER_FRACTION))))
        keep = (idx < shown) & (times >= start)
        ax_r.plot(times[keep] * 1e3, -(offset + idx[keep]), ".", ms=3, mew=0, rasterized=True,
                  color=I_COLOR if pop.endswith("I") else E_COLOR)
        ticks.append(-(offset + shown / 2))
        offset += shown
    ax_r.set_yticks(ticks, pops)
    ax_r.set_xlim(start * 1e3, max(duration, start + 1e-3) * 1e3)
    ax_r.set_ylim(-offset, 0)
    ax_r.set_xlabel("time (ms)")
    ax_r.set_ylabel(f"population ({RASTER_FRACTION:.0%} of neurons, at least {RASTER_MIN})")
    positions = np.arange(len(pops))
    width = 0.8 / max(len(stats), 1)
    for k, (label, per_pop) in enumerate(stats.items()):
        for ax, key in ((ax_rate, "rate_hz"), (ax_cv, "cv_isi")):
            values = [per_pop[pop][key] for pop in pops]
            errors = [per_pop[pop].get(key.split("_")[0] + "_sd", 0.0) for pop in pops]
            ax.barh(positions + (k - (len(stats) - 1) / 2) * width, values, width, xerr=errors, label=label,
                    color=f"C{k}", capsize=2)
    for ax, label in ((ax_rate, "rate (Hz)"), (ax_cv, "mean CV of ISIs")):
        ax.set_yticks(positions, pops)
        ax.set_ylim(len(pops) - 0.5, -0.5)
        ax.set_xlabel(label)
    ax_rate.legend(fontsize=8, loc="upper right")
    if title:
        fig.suptitle(title)
    return save(fig, out)


@register("plot", "microcircuit")
def microcircuit(rec, out: Path) -> list[Path]:
    """The layered raster and the rates and CVs over the whole run (``metrics.json`` has them after the
    transient)."""
    pops = [pop for pop in rec.spikes if pop != "thalamus"]
    if not pops:
        return []
    stats = {pop: summary_of(rec.spike_stats[pop], rec.duration) for pop in pops}  # CV NaN (no bar) if none
    return layers_figure({pop: rec.spikes[pop] for pop in pops}, rec.sizes, rec.duration,
                         {"biosim (whole run)": stats}, out / "microcircuit.png")
