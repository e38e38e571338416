"""Figures of the Sparsey family, drawn from saved ``Results``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from biosim.plotting import figure, save
from biosim.registry import register


@register("plot", "sparsey")
def sparsey(results, out: Path) -> list[Path]:
    """Sparsey: capacity (exact retrieval vs items, time per item vs items stored), similarity (code
    overlap vs input overlap), sequences (code overlap by position) or classification (confusion)."""
    arrays, meta = results.arrays, results.meta
    study = meta["study"]
    if study == "capacity":
        fig, (left, right) = figure(1, 2, (11, 4.2))
        exact = arrays["exact"]
        left.errorbar(arrays["items"], np.nanmean(exact, axis=1), yerr=[np.nanmean(exact, axis=1) - np.nanmin(
            exact, axis=1), np.nanmax(exact, axis=1) - np.nanmean(exact, axis=1)], fmt="o-", capsize=3,
            label="exact code (mean, min-max over seeds)")
        left.plot(arrays["items"], np.nanmean(arrays["per_module"], axis=1), "s--", label="per-CM accuracy")
        left.set_xlabel("items stored (one trial each)")
        left.set_ylabel("retrieval")
        left.set_ylim(-0.02, 1.05)
        left.legend(fontsize=8)
        right.plot(arrays["timing_stored"], arrays["timing_store_s"] * 1e6, "o-", label="store")
        right.plot(arrays["timing_stored"], arrays["timing_retrieve_s"] * 1e6, "s-", label="retrieve")
        right.set_xlabel("items stored")
        right.set_ylabel("time per item (us)")
        right.set_ylim(bottom=0)
        right.legend(fontsize=8)
    elif study == "similarity":
        fig, ax = figure(1, 1, (6.5, 4.5))
        x, y = arrays["input_overlap"], arrays["code_overlap"]
        levels = np.unique(x)
        ax.plot(x + np.random.default_rng(0).uniform(-0.01, 0.01, x.size), y, ".", alpha=0.15, color="0.5")
        ax.plot(levels, [y[x == v].mean() for v in levels], "o-", color="C0", label="mean")
        ax.set_xlabel("input overlap with a stored item (fraction of active bits)")
        ax.set_ylabel("code overlap with its code (fraction of Q)")
        ax.legend(fontsize=8)
    elif study == "sequences":
        fig, ax = figure(1, 1, (6.5, 4.5))
        positions = np.arange(arrays["recall_overlap_by_position"].size)
        ax.plot(positions, arrays["recognition_overlap_by_position"], "s-", label="recognition (input present)")
        ax.plot(positions, arrays["recall_overlap_by_position"], "o-", label="recall from the first item (H only)")
        ax.set_xlabel("position in sequence")
        ax.set_ylabel("code overlap with the stored code")
        ax.set_ylim(-0.02, 1.05)
        ax.legend(fontsize=8)
    else:
        fig, (left, right) = figure(1, 2, (11, 4.5))
        labels, predicted = arrays["test_labels"], arrays["predicted"]
        classes = np.unique(np.concatenate([labels, predicted]))
        confusion = np.array([[np.sum((labels == a) & (predicted == b)) for b in classes] for a in classes])
        image = left.imshow(confusion, cmap="Blues")
        left.set_xticks(range(len(classes)), classes)
        left.set_yticks(range(len(classes)), classes)
        left.set_xlabel("predicted")
        left.set_ylabel("true")
        left.set_title(f"test accuracy {np.mean(labels == predicted):.3f}", fontsize=10)
        fig.colorbar(image, ax=left)
        right.hist(arrays["familiarity"][np.isfinite(arrays["familiarity"])], bins=40, color="C1")
        right.set_xlabel("top-level familiarity G while learning")
        right.set_ylabel("training images")
    fig.suptitle(meta["title"], fontsize=10)
    return save(fig, out / "sparsey.png")
