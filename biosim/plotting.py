"""Figure helpers shared by every family's plots, and ``draw``. Each plot is a registry entry
``plot(results, out_dir) -> list of written files`` that reads a run's results (never re-runs a model) and
draws nothing when its data is absent."""

from __future__ import annotations

import logging
from pathlib import Path


def figure(rows: int, cols: int, size: tuple[float, float], **kwargs):
    """A figure and its axes, without pyplot (no GUI backend, faster import)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    return fig, fig.subplots(rows, cols, **kwargs)


def save(fig, path: Path) -> list[Path]:
    width, height = fig.get_size_inches()  # margins in inches, so labels fit at any figure size
    fig.subplots_adjust(left=0.8 / width, right=1 - 0.2 / width, bottom=0.55 / height, top=1 - 0.3 / height,
                        hspace=0.35, wspace=0.3)
    fig.savefig(path, dpi=100)
    return [path]


def draw(results, out: Path, names: list[str], log: logging.Logger | None = None) -> list[Path]:
    """Draw the named figures from a run's results, one after another in this process (no worker pool, so
    drawing works inside daemonic workers such as Dask's). A figure that cannot be drawn is skipped with a
    warning; the others are still drawn."""
    from biosim import registry

    log = log or logging.getLogger("biosim")
    files = []
    for name in names:
        try:
            files += registry.get("plot", name, key="plots")(results, out)
        except Exception as err:  # one bad figure must not lose the others (or the run)
            log.warning("figure %r skipped: %s: %s", name, type(err).__name__, err)
    return files
