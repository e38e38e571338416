"""Figures of the physical family, drawn from saved ``TrainingResults``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from biosim.plotting import figure, note, save
from biosim.registry import register
from biosim.torch.results import TrainingResults


@register("plot", "perturbation_recovery")
def perturbation_recovery(results: TrainingResults, out: Path) -> list[Path]:
    """Train and test accuracy per epoch, the physics' perturbation marked, and the 1-point band under the
    accuracy it had just before."""
    history = results.history
    if not history:
        return []
    epochs = np.arange(1, len(history) + 1)
    fig, ax = figure(1, 1, (7, 4))
    for key, label in (("train_accuracy", "train"), ("test_accuracy", "test")):
        ax.plot(epochs, [record.get(key, np.nan) for record in history], label=label)
    changed = [e for e, record in zip(epochs, history, strict=True) if record.get("perturbed")]
    for e in changed:
        before = history[e - 1]["test_accuracy"]
        ax.axvline(e + 0.5, color="grey", linestyle="--", label="physics perturbed")
        ax.plot([e + 0.5], [history[e - 1]["test_accuracy_after_change"]], "v", color="C1",
                label="test, right after the change")
        ax.axhspan(before - 0.01, before, color="grey", alpha=0.2, label="within 1 point of before")
    if not changed:
        note(ax, "no perturbation in this run")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (fraction)")
    ax.legend(fontsize=8)
    fig.suptitle(f"{results.title} ({results.rule})", fontsize=9)
    return save(fig, out / "perturbation_recovery.png")
