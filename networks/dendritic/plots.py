"""Figures of the dendritic-segments family, drawn from saved ``Results``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from biosim.plotting import figure, save
from biosim.registry import register


@register("plot", "error_curves")
def error_curves(results, out: Path) -> list[Path]:
    """Exact probability per curve (lines; the paper's approximation dashed where there is one) and
    Monte-Carlo estimates (points with 95% binomial intervals) on a log axis."""
    arrays, meta = results.arrays, results.meta
    x, trials = arrays["x"], meta["trials"]
    fig, ax = figure(1, 1, (7.5, 5))
    for c, label in enumerate(meta["curves"]):
        color = f"C{c}"
        exact = arrays[f"c{c}_exact"]
        shown = exact > 0
        ax.plot(x[shown], exact[shown], color=color, lw=1.6, label=label)
        for kind, style in (("approx", "--"), ("bound", ":")):
            if f"c{c}_{kind}" in arrays:
                name = "approximation (expected union size)" if kind == "approx" else "union bound"
                ax.plot(x, arrays[f"c{c}_{kind}"], style, color=color, lw=1.2, label=name if c == 0 else None)
        hits = arrays[f"c{c}_hits"]
        done = hits >= 0
        if done.any():
            rate = hits[done] / trials
            error = 1.96 * np.sqrt(np.maximum(rate * (1 - rate), 1.0 / trials) / trials)
            ax.errorbar(x[done], np.maximum(rate, 0.5 / trials), yerr=[np.minimum(error, rate * 0.999), error],
                        fmt="o", ms=4, color=color, mfc="white", capsize=2,
                        label=f"Monte Carlo ({trials:,} trials per point)" if c == 0 else None)
    if np.any(np.concatenate([arrays[f"c{c}_exact"] for c in range(len(meta["curves"]))]) > 0):
        ax.set_yscale("log")
    ax.set_xlabel(meta["x"])
    ax.set_ylabel(meta["ylabel"])
    ax.set_title(meta["title"], fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7)
    return save(fig, out / "error_curves.png")
