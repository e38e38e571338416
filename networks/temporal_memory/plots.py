"""Figures of the temporal-memory family, drawn from saved ``SequenceResults``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from biosim.networks.temporal_memory.family import SequenceResults
from biosim.plotting import figure, note, save
from biosim.registry import register


@register("plot", "anomaly")
def anomaly(results: SequenceResults, out: Path) -> list[Path]:
    """Temporal memory: anomaly and prediction precision per step (light) and per sequence (dark), with
    the pass boundaries; the last pass is the test pass when there is one."""
    fig, axes = figure(2, 1, (10, 5.5), sharex=True)
    steps = np.arange(results.phase.size)
    length = max(1, int(np.median(results.sequence_lengths))) if results.sequence_lengths else 1
    rows = ((axes[0], results.anomaly, "anomaly\n(fraction of active columns)", "C0"),
            (axes[1], results.precision, "prediction precision\n(fraction of predicted columns)", "C2"))
    for ax, values, label, color in rows:
        ax.set_ylabel(label)
        ax.set_ylim(-0.05, 1.05)
        if not np.isfinite(values).any():
            note(ax, "no step presented" if not values.size else "no column was ever predicted")
            continue
        ax.plot(steps, values, "," if values.size > 1 else "o", color="0.6")
        blocks = np.arange(0, values.size, length)
        means = [np.nanmean(values[b:b + length]) if np.isfinite(values[b:b + length]).any() else np.nan
                 for b in blocks]
        ax.plot(blocks + length / 2, means, "-" if blocks.size > 1 else "o", color=color, lw=1.5,
                label=f"mean over {length} steps")
        for boundary in np.flatnonzero(np.diff(results.phase)) + 0.5:
            ax.axvline(boundary, color="k", lw=0.6, ls="--")
        ax.legend(fontsize=8, loc="center right")
    if results.test and results.phase.size and results.phase[-1] == results.passes:
        axes[0].text(results.phase.size - 1, 1.0, "test pass", ha="right", va="top", fontsize=8)
    axes[1].set_xlabel("step (SDRs presented; dashed lines: pass boundaries)")
    axes[0].set_title(results.title, fontsize=10)
    return save(fig, out / "anomaly.png")
