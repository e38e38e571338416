"""Figures of the temporal-memory family, drawn from saved ``Results``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from biosim.plotting import figure, save
from biosim.registry import register


@register("plot", "anomaly")
def anomaly(results, out: Path) -> list[Path]:
    """Temporal memory: anomaly and prediction precision per step (light) and per sequence (dark), with
    the pass boundaries; the last pass is the test pass when there is one."""
    arrays, meta = results.arrays, results.meta
    fig, axes = figure(2, 1, (10, 5.5), sharex=True)
    phase = arrays["phase"]
    length = int(np.median(meta["sequence_lengths"])) or 1
    steps = np.arange(phase.size)
    for ax, key, label in ((axes[0], "anomaly", "anomaly"), (axes[1], "precision", "prediction precision")):
        values = arrays[key]
        ax.plot(steps, values, ",", color="0.6")
        blocks = np.arange(0, phase.size, length)
        means = [np.nanmean(values[b:b + length]) if np.isfinite(values[b:b + length]).any() else np.nan
                 for b in blocks]
        ax.plot(blocks + length / 2, means, color="C0" if key == "anomaly" else "C2", lw=1.5,
                label=f"mean over {length} steps")
        for boundary in np.flatnonzero(np.diff(phase)) + 0.5:
            ax.axvline(boundary, color="k", lw=0.6, ls="--")
        ax.set_ylabel(label)
        ax.set_ylim(-0.05, 1.05)
        ax.legend(fontsize=8, loc="center right")
    if meta["test"]:
        axes[0].text(phase.size - 1, 1.0, "test pass", ha="right", va="top", fontsize=8)
    axes[1].set_xlabel("step (dashed lines: pass boundaries)")
    axes[0].set_title(meta["title"], fontsize=10)
    return save(fig, out / "anomaly.png")
