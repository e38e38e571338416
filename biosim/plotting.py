"""Figure helpers shared by every family's plots, and ``draw``. Each plot is a registry entry
``plot(results, out_dir) -> list of written files`` that reads a run's results (never re-runs a model),
draws nothing when its data is absent, and draws degenerate data (no events, one sample, constant values)
as such rather than failing."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from biosim.units import DISPLAY_UNITS, unit_scale

#: dimension (as neuron models declare their state) -> (factor from SI, unit shown on axes): the display units of
#: :data:`biosim.units.DISPLAY_UNITS`, a number without one labelled "dimensionless"
UNITS = {dimension: (float(f"{1 / unit_scale(unit)[0]:.15g}"), unit) if unit else (1.0, "dimensionless")
         for dimension, unit in DISPLAY_UNITS.items()}


def figure(rows: int, cols: int, size: tuple[float, float], **kwargs):
    """A figure and its axes, without pyplot (no GUI backend, faster import)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    return fig, fig.subplots(rows, cols, **kwargs)


TITLE_IN, LINE_IN = 0.25, 0.17  # inches taken by an axes title, by one more line of an axis label
LOG_TICKS_IN = 0.2  # inches more that tick labels such as 10^-12 take than linear ones


def save(fig, path: Path) -> list[Path]:
    """Write ``fig`` with margins in inches (labels fit at any figure size) that make room for a figure
    title above the axes titles and for multi-line axis labels, so no title or label overlaps another.
    (Matplotlib's constrained layout does this too, at twice the drawing time.)"""
    width, height = fig.get_size_inches()
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    titled = any(ax.get_title(loc=loc) for ax in axes for loc in ("left", "center", "right"))
    top = 0.3 + TITLE_IN * titled + 0.3 * bool(fig.get_suptitle())
    left = 0.8 + LINE_IN * max((ax.get_ylabel().count("\n") for ax in axes), default=0) \
        + LOG_TICKS_IN * any(ax.get_yscale() == "log" for ax in axes)
    bottom = 0.55 + LINE_IN * max((ax.get_xlabel().count("\n") for ax in axes), default=0)
    fig.subplots_adjust(left=left / width, right=1 - 0.2 / width, bottom=bottom / height, top=1 - top / height,
                        hspace=0.35 + 0.25 * titled, wspace=0.3)
    fig.savefig(path, dpi=100)
    return [path]


def note(ax, text: str, color: str = "0.3") -> None:
    """A message in the middle of an axis (e.g. why it holds no data)."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=9, color=color,
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": color, "alpha": 0.9})


def smooth(values: np.ndarray, dt: float, width: float) -> tuple[np.ndarray, np.ndarray]:
    """``values`` sampled every ``dt`` (s) smoothed with a Gaussian of standard deviation ``width`` (s):
    (times of the samples' centres, smoothed values).

    Samples are first averaged in bins of a quarter of ``width`` (the last bin may be partial), so the
    kernel stays ~35 taps long whatever the run length. Near the ends the kernel is cut at the run's edges
    and renormalised by its mass inside them, so a run's first and last values are averages of what was
    recorded: no burst or dip from padding."""
    values = np.asarray(values, np.float64)
    if values.size == 0:
        return np.zeros(0), np.zeros(0)
    per_bin = max(1, int(width / dt / 4))
    starts = np.arange(0, values.size, per_bin)
    counts = np.diff(np.append(starts, values.size))
    binned = np.add.reduceat(values, starts) / counts
    sigma = max(width / (per_bin * dt), 1e-9)
    half = int(4 * sigma) + 1
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    weights = counts.astype(np.float64)  # a partial last bin weighs what it holds
    total = np.convolve(binned * weights, kernel)[half:half + binned.size]
    mass = np.convolve(weights, kernel)[half:half + binned.size]
    return (starts + counts / 2) * dt, total / mass


def envelope(t: np.ndarray, values: np.ndarray, points: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Decimate samples ``values[time, trace]`` to at most ``2 * points`` per trace keeping each block's
    minimum and maximum (so spikes stay visible; the last block may be shorter): (times, values, samples
    per block; 1 = untouched)."""
    if t.size <= 2 * points:
        return t, values, 1
    block = -(-t.size // points)
    starts = np.arange(0, t.size, block)
    ends = np.append(starts[1:], t.size) - 1
    lows, highs = np.minimum.reduceat(values, starts, axis=0), np.maximum.reduceat(values, starts, axis=0)
    both = np.stack([lows, highs], axis=1).reshape(-1, *values.shape[1:])  # min then max of each block
    return np.stack([t[starts], t[ends]], axis=1).ravel(), both, block


def histogram_bins(values: np.ndarray, bins: int) -> np.ndarray:
    """``bins`` equal bins over the range of ``values``; one bin of width 1 around a single value (or 10% of
    it) when they are all equal, where ``np.histogram`` fails with 'Too many bins'."""
    low, high = float(np.min(values)), float(np.max(values))
    if high - low <= 1e-9 * max(abs(low), abs(high), 1e-300):
        half = 0.05 * abs(low) or 0.5
        return np.array([low - half, low + half])
    return np.linspace(low, high, bins + 1)


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
