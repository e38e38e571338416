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


@register("plot", "physics_picture")
def physics_picture(results: TrainingResults, out: Path) -> list[Path]:
    """The first physical block on the first test item (label embedded): a wave medium's time-integrated
    intensity over the grid (sources and probes marked) beside its speed map and probe readings; a scattering
    medium's input power and detected output per mode; the oscillators' angles through time."""
    a = results.arrays
    label = int(a["picture_label"][0]) if "picture_label" in a else None
    title = f"{results.title}: block 1, first test item" + (f" (label {label})" if label is not None else "")
    if "picture_energy" in a:
        energy, speed = a["picture_energy"], a["picture_speed"]
        two_d = energy.shape[1] > 1
        fig, axes = figure(1, 3, (15, 4.2))
        if two_d:
            shown = axes[0].imshow(energy.T, origin="lower", cmap="magma")
            fig.colorbar(shown, ax=axes[0], label="time-integrated u^2 (a.u.)")
            for key, marker, name in (("picture_sources", "c.", "sources"), ("picture_probes", "wx", "probes")):
                axes[0].plot(a[key][:, 0], a[key][:, 1], marker, markersize=3, label=name)
            axes[0].set_ylabel("y (cells)")
            axes[0].legend(fontsize=7, loc="upper right")
            speed_image = axes[1].imshow(speed.T, origin="lower", cmap="viridis")
            fig.colorbar(speed_image, ax=axes[1], label="speed c (cells per unit time)")
            axes[1].set_ylabel("y (cells)")
        else:
            axes[0].semilogy(np.maximum(energy[:, 0], 1e-300))
            axes[0].set_ylabel("time-integrated u^2 (a.u.)")
            axes[1].plot(speed[:, 0])
            axes[1].set_ylabel("speed c (cells per unit time)")
        for ax, name in zip(axes[:2], ("intensity", "medium"), strict=True):
            ax.set_xlabel("x (cells)")
            ax.set_title(name, fontsize=9)
        axes[2].bar(np.arange(len(a["picture_output"])), a["picture_output"])
        axes[2].set_xlabel("probe")
        axes[2].set_ylabel("integrated intensity / mean over probes")
    elif "picture_output" in a:
        fig, axes = figure(1, 2, (11, 4))
        axes[0].bar(np.arange(len(a["picture_input"])), a["picture_input"])
        axes[0].set_xlabel("input mode")
        axes[0].set_ylabel("|E_in|^2 (unit mean)")
        axes[1].bar(np.arange(len(a["picture_output"])), a["picture_output"])
        axes[1].set_xlabel("output mode")
        axes[1].set_ylabel("detector reading (a.u.)")
    elif "picture_trajectory" in a:
        fig, axes = figure(1, 1, (7, 4))
        axes.plot(a["picture_times"], a["picture_trajectory"], linewidth=0.6)
        axes.set_xlabel("time (dimensionless)")
        axes.set_ylabel("angle q (rad)")
    else:
        fig, axes = figure(1, 1, (6, 3))
        note(axes, "no physical block in this run")
    fig.suptitle(title, fontsize=9)
    return save(fig, out / "physics_picture.png")
