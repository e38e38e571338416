"""Figures of the SDR families, drawn from saved ``Results``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from biosim.plotting import figure, save
from biosim.registry import register


@register("plot", "error_curves")
def error_curves(results, out: Path) -> list[Path]:
    """Exact probability per curve (lines; the paper's approximation dashed where there is one) and
    Monte-Carlo estimates (points with 95% binomial intervals) on a log axis."""
    arrays, meta = results.arrays, results.meta
    x, trials = arrays["x"], meta["trials"]
    fig, ax = figure(1, 1, (7.5, 5))
    for c, label in enumerate(meta["curves"]):
        color = f"C{c}"
        exact = arrays[f"c{c}_exact"]
        shown = exact > 0
        ax.plot(x[shown], exact[shown], color=color, lw=1.6, label=label)
        for kind, style in (("approx", "--"), ("bound", ":")):
            if f"c{c}_{kind}" in arrays:
                name = "approximation (expected union size)" if kind == "approx" else "union bound"
                ax.plot(x, arrays[f"c{c}_{kind}"], style, color=color, lw=1.2, label=name if c == 0 else None)
        hits = arrays[f"c{c}_hits"]
        done = hits >= 0
        if done.any():
            rate = hits[done] / trials
            error = 1.96 * np.sqrt(np.maximum(rate * (1 - rate), 1.0 / trials) / trials)
            ax.errorbar(x[done], np.maximum(rate, 0.5 / trials), yerr=[np.minimum(error, rate * 0.999), error],
                        fmt="o", ms=4, color=color, mfc="white", capsize=2,
                        label=f"Monte Carlo ({trials:,} trials per point)" if c == 0 else None)
    if np.any(np.concatenate([arrays[f"c{c}_exact"] for c in range(len(meta["curves"]))]) > 0):
        ax.set_yscale("log")
    ax.set_xlabel(meta["x"])
    ax.set_ylabel(meta["ylabel"])
    ax.set_title(meta["title"], fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7)
    return save(fig, out / "error_curves.png")


@register("plot", "anomaly")
def anomaly(results, out: Path) -> list[Path]:
    """Temporal memory: anomaly and prediction precision per step (light) and per sequence (dark), with
    the pass boundaries; the last pass is the test pass when there is one."""
    arrays, meta = results.arrays, results.meta
    fig, axes = figure(2, 1, (10, 5.5), sharex=True)
    phase = arrays["phase"]
    length = int(np.median(meta["sequence_lengths"])) or 1
    steps = np.arange(phase.size)
    for ax, key, label in ((axes[0], "anomaly", "anomaly"), (axes[1], "precision", "prediction precision")):
        values = arrays[key]
        ax.plot(steps, values, ",", color="0.6")
        blocks = np.arange(0, phase.size, length)
        means = [np.nanmean(values[b:b + length]) if np.isfinite(values[b:b + length]).any() else np.nan
                 for b in blocks]
        ax.plot(blocks + length / 2, means, color="C0" if key == "anomaly" else "C2", lw=1.5,
                label=f"mean over {length} steps")
        for boundary in np.flatnonzero(np.diff(phase)) + 0.5:
            ax.axvline(boundary, color="k", lw=0.6, ls="--")
        ax.set_ylabel(label)
        ax.set_ylim(-0.05, 1.05)
        ax.legend(fontsize=8, loc="center right")
    if meta["test"]:
        axes[0].text(phase.size - 1, 1.0, "test pass", ha="right", va="top", fontsize=8)
    axes[1].set_xlabel("step (dashed lines: pass boundaries)")
    axes[0].set_title(meta["title"], fontsize=10)
    return save(fig, out / "anomaly.png")


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
