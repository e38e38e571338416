"""Figures of the continual-learning family, drawn from saved ``ContinualResults``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from biosim.networks.continual.family import ContinualResults, scores
from biosim.plotting import figure, note, save
from biosim.registry import register


def _title(results: ContinualResults) -> str:
    done = int(np.isfinite(np.diag(results.accuracy)).sum())
    acc, bwt = scores(results.accuracy, done)
    return f"{results.title} ({results.rule}, {results.scenario}): ACC {acc:.3f}, BWT {bwt:.3f}"


@register("plot", "accuracy_matrix")
def accuracy_matrix(results: ContinualResults, out: Path) -> list[Path]:
    """Heat map of A[t, j], the test accuracy on task j after training task t (blank above the diagonal and for
    tasks not trained), each cell annotated."""
    A = results.accuracy
    T = len(A)
    fig, ax = figure(1, 1, (1.0 * T + 2.5, 0.9 * T + 1.5))
    image = ax.imshow(np.ma.masked_invalid(A), vmin=0, vmax=1, cmap="viridis")
    for t, j in zip(*np.nonzero(np.isfinite(A)), strict=True):
        ax.text(j, t, f"{A[t, j]:.2f}", ha="center", va="center", fontsize=8,
                color="black" if A[t, j] > 0.6 else "white")
    ax.set_xticks(range(T), [str(j + 1) for j in range(T)])
    ax.set_yticks(range(T), [str(t + 1) for t in range(T)])
    ax.set_xlabel("evaluated on task j")
    ax.set_ylabel("after training task t")
    fig.colorbar(image, ax=ax, label="test accuracy (fraction)")
    if not np.isfinite(A).any():
        note(ax, "no task finished")
    fig.suptitle(_title(results), fontsize=9)
    return save(fig, out / "accuracy_matrix.png")


@register("plot", "task_accuracy")
def task_accuracy(results: ContinualResults, out: Path) -> list[Path]:
    """Test accuracy of each task (one curve per task j) after each training task t >= j, across the sequence."""
    A = results.accuracy
    T = len(A)
    fig, ax = figure(1, 1, (6.5, 4))
    for j in range(T):
        rows = np.arange(j, T)
        if np.isfinite(A[rows, j]).any():
            ax.plot(rows + 1, A[rows, j], "o-", color=f"C{j % 10}", label=f"task {j + 1}")
    ax.set_xlabel("after training task t")
    ax.set_ylabel("test accuracy (fraction)")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0.5, T + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if ax.get_lines():
        ax.legend(fontsize=8)
    else:
        note(ax, "no task finished")
    fig.suptitle(_title(results), fontsize=9)
    return save(fig, out / "task_accuracy.png")


@register("plot", "subspace_sizes")
def subspace_sizes(results: ContinualResults, out: Path) -> list[Path]:
    """Rows of each shared layer's protected subspace after each task, and their orthonormality error
    max |H H^T - I| (log scale; none for rules without a subspace)."""
    done = int(np.isfinite(np.diag(results.accuracy)).sum())
    sizes, ortho = results.subspace_sizes[:done], results.orthonormality[:done]
    fig, (left, right) = figure(1, 2, (11, 4))
    tasks = np.arange(1, done + 1)
    for l, name in enumerate(results.layers):
        left.plot(tasks, sizes[:, l], "o-", color=f"C{l}", label=name)
        finite = np.isfinite(ortho[:, l]) & (ortho[:, l] > 0)
        if finite.any():
            right.plot(tasks[finite], ortho[finite, l], "o-", color=f"C{l}", label=name)
    for ax in (left, right):
        ax.set_xlabel("after training task t")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_ylabel("subspace rows k")
    right.set_ylabel("max |H H^T - I|")
    if left.get_lines():
        left.legend(fontsize=8)
    if right.get_lines():
        right.set_yscale("log")
        right.legend(fontsize=8)
    else:
        note(right, "no subspace rows")
    fig.suptitle(_title(results), fontsize=9)
    return save(fig, out / "subspace_sizes.png")
