"""Figures of the Sparsey family, drawn from saved ``SparseyResults``."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from biosim.networks.sparsey.family import Capacity, Classification, Sequences, Similarity, SparseyResults
from biosim.plotting import figure, histogram_bins, note, save
from biosim.registry import register


@register("plot", "sparsey")
def sparsey(results: SparseyResults, out: Path) -> list[Path]:
    """Sparsey: capacity (exact retrieval vs items, time per item vs items stored), similarity (code
    overlap vs input overlap), sequences (code overlap by position) or classification (confusion)."""
    data = results.data
    with warnings.catch_warnings():  # a run stopped early leaves NaN rows: their means are NaN, not drawn
        warnings.simplefilter("ignore", RuntimeWarning)
        fig = DRAW[type(data)](data)
    fig.suptitle(results.title, fontsize=10)
    return save(fig, out / "sparsey.png")


def _capacity(data: Capacity):
    fig, (left, right) = figure(1, 2, (11, 4.2))
    mean, low, high = (f(data.exact, axis=1) for f in (np.nanmean, np.nanmin, np.nanmax))
    left.errorbar(data.items, mean, yerr=[mean - low, high - mean], fmt="o-", capsize=3,
                  label="exact code (mean, min-max over seeds)")
    left.plot(data.items, np.nanmean(data.per_module, axis=1), "s--", label="per-CM accuracy")
    left.set_xlabel("items stored (one trial each)")
    left.set_ylabel("retrieval (fraction correct)")
    left.set_ylim(-0.02, 1.05)
    left.legend(fontsize=8)
    right.plot(data.timing_stored, data.timing_store_s * 1e6, "o-", label="store")
    right.plot(data.timing_stored, data.timing_retrieve_s * 1e6, "s-", label="retrieve")
    right.set_xlabel("items stored")
    right.set_ylabel("time per item (µs)")
    right.set_ylim(bottom=0)
    if data.timing_stored.size:
        right.legend(fontsize=8)
    else:
        note(right, "not timed")
    return fig


def _similarity(data: Similarity):
    fig, ax = figure(1, 1, (6.5, 4.5))
    x, y = data.input_overlap, data.code_overlap
    ax.set_xlabel("input overlap with a stored item (fraction of active bits)")
    ax.set_ylabel("code overlap with its code (fraction of Q)")
    if not x.size:
        note(ax, "no variant presented")
        return fig
    levels = np.unique(x)
    ax.plot(x + np.random.default_rng(0).uniform(-0.01, 0.01, x.size), y, ".", alpha=0.15, color="0.5")
    ax.plot(levels, [y[x == v].mean() for v in levels], "o-", color="C0", label="mean")
    ax.legend(fontsize=8)
    return fig


def _sequences(data: Sequences):
    fig, ax = figure(1, 1, (6.5, 4.5))
    positions = np.arange(data.recall_overlap_by_position.size)
    ax.plot(positions, data.recognition_overlap_by_position, "s-", label="recognition (input present)")
    ax.plot(positions, data.recall_overlap_by_position, "o-", label="recall from the first item (H only)")
    ax.set_xlabel("position in sequence")
    ax.set_ylabel("code overlap with the stored code\n(fraction of Q)")
    ax.set_ylim(-0.02, 1.05)
    ax.legend(fontsize=8)
    return fig


def _classification(data: Classification):
    fig, (left, right) = figure(1, 2, (11, 4.5))
    labels, predicted = data.test_labels, data.predicted
    left.set_xlabel("predicted class")
    left.set_ylabel("true class")
    if labels.size:
        classes = np.unique(np.concatenate([labels, predicted]))
        confusion = np.array([[np.sum((labels == a) & (predicted == b)) for b in classes] for a in classes])
        image = left.imshow(confusion, cmap="Blues", vmin=0)
        left.set_xticks(range(len(classes)), classes)
        left.set_yticks(range(len(classes)), classes)
        left.set_title(f"test accuracy {np.mean(labels == predicted):.3f} ({labels.size} images)", fontsize=10)
        fig.colorbar(image, ax=left, label="test images")
    else:
        note(left, "no test image")
    familiarity = data.familiarity[np.isfinite(data.familiarity)]
    right.set_xlabel("top-level familiarity G while learning (dimensionless, 0-1)")
    right.set_ylabel("training images")
    if familiarity.size:
        right.hist(familiarity, bins=histogram_bins(familiarity, 40), color="C1")
    else:
        note(right, "no training image coded")
    return fig


DRAW = {Capacity: _capacity, Similarity: _similarity, Sequences: _sequences, Classification: _classification}
