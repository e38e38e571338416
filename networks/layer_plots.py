"""Figures of the layer-local family, drawn from saved ``Results``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from biosim.plotting import figure, save
from biosim.registry import register


@register("plot", "learning_curves")
def learning_curves(results, out: Path) -> list[Path]:
    """Per epoch: each group's local loss, the rule's per-layer statistics (goodness of positive and
    negative data, prototype accuracy), and train/test accuracy."""
    history, meta = results.meta["history"], results.meta
    if not history:
        return []
    epochs = np.arange(1, len(history) + 1)
    stat_keys = sorted({k for record in history for k in record if k.startswith("layer")})
    fig, axes = figure(1, 3 if stat_keys else 2, (15 if stat_keys else 10, 4))
    losses = np.array([record["group_loss"] for record in history])
    for g in range(losses.shape[1]):
        axes[0].plot(epochs, losses[:, g], label=f"group {g}")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("local loss")
    axes[0].legend(fontsize=8)
    accuracy = axes[-1]
    metric = "accuracy" if "test_accuracy" in history[-1] else "mse"
    for key, style in ((f"train_{metric}", "--"), (f"test_{metric}", "-")):
        accuracy.plot(epochs, [record.get(key, np.nan) for record in history], style, label=key.replace("_", " "))
    accuracy.set_xlabel("epoch")
    accuracy.set_ylabel("accuracy" if metric == "accuracy" else "reconstruction MSE")
    if metric == "accuracy":
        accuracy.set_ylim(0, 1.02)
    else:
        accuracy.set_yscale("log")
    accuracy.legend(fontsize=8)
    if stat_keys:
        for key in stat_keys:
            style = ":" if key.endswith("_neg") else "-"
            axes[1].plot(epochs, [record.get(key, np.nan) for record in history], style, label=key)
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("per-layer statistic")
        axes[1].legend(fontsize=7)
    fig.suptitle(f"{meta['title']} ({meta['rule']})", fontsize=10)
    return save(fig, out / "learning_curves.png")


@register("plot", "embeddings")
def embeddings(results, out: Path) -> list[Path]:
    """Test-set hidden activities of every layer projected on their first two principal components."""
    arrays = results.arrays
    layers = sorted((k for k in arrays if k.startswith("pca_layer")), key=lambda k: int(k[9:]))
    if not layers:
        return []
    fig, axes = figure(1, len(layers), (4.2 * len(layers), 4), squeeze=False)
    labels = arrays["test_labels"]
    for ax, key in zip(axes[0], layers, strict=True):
        points = arrays[key]
        scatter = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", s=6)
        ax.set_title(f"hidden layer {int(key[9:]) + 1}", fontsize=9)
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
    fig.colorbar(scatter, ax=axes[0].tolist(), label="class")
    fig.suptitle(results.meta["title"], fontsize=10)
    return save(fig, out / "embeddings.png")
