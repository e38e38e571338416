"""Figures of the PyTorch families (layer-local and graph-local), drawn from saved ``TrainingResults``."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from biosim.plotting import figure, note, save
from biosim.registry import register
from biosim.torch.results import SMALLER_IS_BETTER, TrainingResults


@register("plot", "learning_curves")
def learning_curves(results: TrainingResults, out: Path) -> list[Path]:
    """Per epoch: each group's local loss, the rule's per-layer statistics (goodness of positive and
    negative data), and the train/val/test score the results name (accuracy, ROC-AUC or reconstruction MSE)
    with each layer's own accuracy (FF goodness, CCL prototypes). A panel without finite values says so;
    curves of one or two records are drawn as points."""
    history = results.history
    if not history:
        return []
    epochs = _epoch_axis(history)
    marker = "o" if len(epochs) < 3 else None
    layer_keys = sorted({k for record in history for k in record if k.startswith("layer")})
    per_layer_accuracy = [k for k in layer_keys if k.endswith("accuracy")]
    stat_keys = [k for k in layer_keys if k not in per_layer_accuracy]
    fig, axes = figure(1, 3 if stat_keys else 2, (15 if stat_keys else 10, 4))
    losses = np.array([record["group_loss"] for record in history], np.float64)
    names = results.groups or [f"group {g}" for g in range(losses.shape[1])]
    for g in range(losses.shape[1]):
        axes[0].plot(epochs, losses[:, g], marker=marker, label=names[g])
    positive = losses[np.isfinite(losses) & (losses > 0)]
    if positive.size:
        axes[0].set_yscale("log")
        plain = FuncFormatter(lambda value, _: f"{value:g}")  # 0.06, not 6x10^-2: fits the margin
        axes[0].yaxis.set_major_formatter(plain)
        # under a decade: label the minor ticks too
        axes[0].yaxis.set_minor_formatter(plain if positive.max() < 10 * positive.min() else NullFormatter())
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("local loss")
    _legend_or_note(axes[0], "no finite loss recorded", fontsize=8)
    scores, metric = axes[-1], results.score
    curves = {key: np.array([record.get(key, np.nan) for record in history], np.float64)
              for key in (f"train_{metric}", f"val_{metric}", f"test_{metric}")}
    for (key, values), style, split_marker in zip(curves.items(), ("--", ":", "-"), "s^o", strict=True):
        if np.isfinite(values).any():
            scores.plot(epochs, values, style, marker=marker and split_marker, color="k",
                        label=f"{key.split('_', 1)[0]} {results.score_label}")
    for key in per_layer_accuracy:
        scores.plot(epochs, [record.get(key, np.nan) for record in history], lw=1.0, marker=marker,
                    color=_layer_colour(key), label=_layer_label(key))
    scores.set_xlabel("epoch")
    scores.set_ylabel(results.score_label)
    if metric not in SMALLER_IS_BETTER:
        scores.set_ylim(0, 1.02)
    elif any((values[np.isfinite(values)] > 0).any() for values in curves.values()):
        scores.set_yscale("log")
    _legend_or_note(scores, f"no finite {results.score_label} recorded", fontsize=8)
    if stat_keys:
        for key in stat_keys:
            style = ":" if key.endswith("_neg") else "-"
            axes[1].plot(epochs, [record.get(key, np.nan) for record in history], style, marker=marker,
                         color=_layer_colour(key), label=_layer_label(key))
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("per-layer statistic")
        _legend_or_note(axes[1], "no finite statistic recorded", fontsize=7)
    for ax in axes:
        ax.set_xlim(epochs.min() - 0.5, epochs.max() + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    fig.suptitle(f"{results.title} ({results.rule})", fontsize=10)
    return save(fig, out / "learning_curves.png")


def _legend_or_note(ax, empty: str, fontsize: int) -> None:
    """A legend of the axis's curves, or a note that none has a finite value."""
    if any(np.isfinite(np.asarray(line.get_ydata(), np.float64)).any() for line in ax.get_lines()):
        ax.legend(fontsize=fontsize)
    else:
        note(ax, empty)


def _epoch_axis(history: list[dict]) -> np.ndarray:
    """Training epochs counted across stages (greedy training restarts ``epoch`` at every stage; records may
    be every few epochs)."""
    axis, offset, previous = [], 0, None
    for record in history:
        if previous is not None and record["stage"] != previous["stage"]:
            offset += previous["epoch"] + 1
        axis.append(offset + record["epoch"] + 1)
        previous = record
    return np.array(axis)


def _layer_colour(key: str) -> str:
    """One colour per layer across panels (the same as that layer's loss curve in forward-forward)."""
    return f"C{int(key.removeprefix('layer').split('_', 1)[0]) % 10}"


def _layer_label(key: str) -> str:
    """'layer0_goodness_pos' -> 'layer 1 goodness pos' (statistics count layers from 0, plots from 1)."""
    index, rest = key.removeprefix("layer").split("_", 1)
    return f"layer {int(index) + 1} {rest.replace('_', ' ')}"


@register("plot", "embeddings")
def embeddings(results: TrainingResults, out: Path) -> list[Path]:
    """Test-set hidden activities of every layer projected on their first two principal components, coloured
    by class: a legend of the classes when they are few (up to 20), else a colour bar beside the panels."""
    layers = results.embeddings
    if not layers:
        return []
    labels = np.asarray(results.labels)
    classes = np.unique(labels)
    few = len(classes) <= 20
    n = len(layers)
    fig, axes = figure(1, n + (not few), (4.2 * n + (not few) * 0.6, 4), squeeze=False,
                       **({} if few else {"width_ratios": [1] * n + [0.06]}))
    panels = axes[0][:n]
    colours = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
    for ax, (layer, points) in zip(panels, layers.items(), strict=True):
        if few:
            for k, c in enumerate(classes):
                ax.scatter(*points[labels == c].T, color=colours(k), s=6, label=str(c))
        else:
            scatter = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="viridis", s=6)
        ax.set_title(f"hidden layer {layer + 1}", fontsize=9)
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
    if few:
        panels[-1].legend(title="class", fontsize=7, title_fontsize=8, markerscale=2, framealpha=0.8,
                          ncols=1 if len(classes) <= 10 else 2)
    else:
        bar = fig.colorbar(scatter, cax=axes[0][-1], label="class")
        bar.ax.yaxis.set_ticks_position("left")  # in the gap beside the last panel, not past the figure's edge
        bar.ax.yaxis.set_label_position("left")
    fig.suptitle(results.title, fontsize=10)
    return save(fig, out / "embeddings.png")
