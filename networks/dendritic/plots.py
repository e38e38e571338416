"""Figures of the dendritic-segments family, drawn from saved ``CurveResults``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from biosim.networks.dendritic.family import CurveResults
from biosim.plotting import figure, note, save
from biosim.registry import register

UNITS = {"n": "cells", "a": "active cells", "s": "synapses", "theta": "active synapses", "v": "cells replaced",
         "m": "patterns", "w": "active cells"}  # what each swept parameter counts


@register("plot", "error_curves")
def error_curves(results: CurveResults, out: Path) -> list[Path]:
    """Exact probability per curve (lines; the paper's approximation dashed, the union bound dotted, where
    there is one) and Monte-Carlo estimates (points with 95% binomial intervals) on a log axis; probabilities
    of exactly 0 cannot be drawn on it and are said so in the legend."""
    x, trials = results.values, results.trials
    fig, ax = figure(1, 1, (7.5, 5))
    for c, curve in enumerate(results.curves):
        color = f"C{c}"
        shown = curve.exact > 0
        zeros = int(np.sum(~shown))
        ax.plot(x[shown], curve.exact[shown], "-" if shown.sum() > 1 else "o", color=color, lw=1.6,
                label=textwrap.fill(curve.label + (f" ({zeros} of probability 0 not shown)" if zeros else ""), 70))
        for extra, style, name in ((curve.approx, "--", "approximation (expected union size)"),
                                   (curve.bound, ":", "union bound")):
            if extra is not None and np.any(extra > 0):
                ax.plot(x[extra > 0], extra[extra > 0], style, color=color, lw=1.2, label=name if c == 0 else None)
        done = curve.hits >= 0
        if done.any():
            rate = curve.hits[done] / trials
            error = 1.96 * np.sqrt(np.maximum(rate * (1 - rate), 1.0 / trials) / trials)
            low = np.minimum(error, rate * 0.999)
            ax.errorbar(x[done], np.maximum(rate, 0.5 / trials), yerr=np.vstack([low, error]), fmt="o", ms=4,
                        color=color, mfc="white", capsize=2,
                        label=f"Monte Carlo ({trials:,} trials per point)" if c == 0 else None)
    if any(np.any(curve.exact > 0) for curve in results.curves):
        ax.set_yscale("log")
    else:
        note(ax, "no positive probability to draw" if results.curves else "no curve computed")
    ax.set_xlabel(f"{results.x} ({UNITS.get(results.x, 'count')})")
    ax.set_ylabel(f"{results.ylabel} (dimensionless)")
    ax.set_title(textwrap.fill(results.title, 90), fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    return save(fig, out / "error_curves.png")
