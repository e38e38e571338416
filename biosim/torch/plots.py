"""Figures of the PyTorch families (layer-local and graph-local), drawn from saved ``TrainingResults``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.ticker import FuncFormatter, NullFormatter

from biosim.plotting import figure, save
from biosim.registry import register
from biosim.torch.results import SMALLER_IS_BETTER, TrainingResults


@register("plot", "learning_curves")
def learning_curves(results: TrainingResults, out: Path) -> list[Path]:
    """Per epoch: each group's local loss, the rule's per-layer statistics (goodness of positive and
    negative data), and the train/val/test score the results name (accuracy, ROC-AUC or reconstruction MSE)
    with each layer's own accuracy (FF goodness, CCL prototypes)."""
    history = results.history
    if not history:
        return []
    epochs = _epoch_axis(history)
    layer_keys = sorted({k for record in history for k in record if k.startswith("layer")})
    per_layer_accuracy = [k for k in layer_keys if k.endswith("accuracy")]
    stat_keys = [k for k in layer_keys if k not in per_layer_accuracy]
    fig, axes = figure(1, 3 if stat_keys else 2, (15 if stat_keys else 10, 4))
    losses = np.array([record["group_loss"] for record in history])
    names = results.groups or [f"group {g}" for g in range(losses.shape[1])]
    for g in range(losses.shape[1]):
        axes[0].plot(epochs, losses[:, g], label=names[g])
    axes[0].set_yscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}")  # 0.06, not 6x10^-2: fits the margin
    axes[0].yaxis.set_major_formatter(plain)
    finite = losses[np.isfinite(losses) & (losses > 0)]
    if finite.size and finite.max() < 10 * finite.min():  # under a decade: label the minor ticks too
        axes[0].yaxis.set_minor_formatter(plain)
    else:
        axes[0].yaxis.set_minor_formatter(NullFormatter())
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("local loss")
    axes[0].legend(fontsize=8)
    accuracy, metric = axes[-1], results.score
    for key, style in ((f"train_{metric}", "--"), (f"val_{metric}", ":"), (f"test_{metric}", "-")):
        if not np.isfinite([record.get(key, np.nan) for record in history]).any():
            continue
        accuracy.plot(epochs, [record.get(key, np.nan) for record in history], style, color="k",
                      label=f"{key.split('_', 1)[0]} {results.score_label}")
    for key in per_layer_accuracy:
        accuracy.plot(epochs, [record.get(key, np.nan) for record in history], lw=1.0, color=_layer_colour(key),
                      label=_layer_label(key))
    accuracy.set_xlabel("epoch")
    accuracy.set_ylabel(results.score_label)
    if metric in SMALLER_IS_BETTER:
        accuracy.set_yscale("log")
    else:
        accuracy.set_ylim(0, 1.02)
    accuracy.legend(fontsize=8)
    if stat_keys:
        for key in stat_keys:
            style = ":" if key.endswith("_neg") else "-"
            axes[1].plot(epochs, [record.get(key, np.nan) for record in history], style, color=_layer_colour(key),
                         label=_layer_label(key))
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("per-layer statistic")
        axes[1].legend(fontsize=7)
    fig.suptitle(f"{results.title} ({results.rule})", fontsize=10)
    return save(fig, out / "learning_curves.png")


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
    """Test-set hidden activities of every layer projected on their first two principal components."""
    layers = results.embeddings
    if not layers:
        return []
    fig, axes = figure(1, len(layers), (4.2 * len(layers), 4), squeeze=False)
    for ax, (layer, points) in zip(axes[0], layers.items(), strict=True):
        scatter = ax.scatter(points[:, 0], points[:, 1], c=results.labels, cmap="tab10", s=6)
        ax.set_title(f"hidden layer {layer + 1}", fontsize=9)
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
    fig.colorbar(scatter, ax=axes[0].tolist(), label="class")
    fig.suptitle(results.title, fontsize=10)
    return save(fig, out / "embeddings.png")
