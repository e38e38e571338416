"""Figures of the rate Hebbian family, drawn from saved ``RateResults``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from biosim.networks.rate_hebbian.family import RateResults
from biosim.plotting import figure, note, save
from biosim.registry import register

SAMPLES = "samples presented"
MAX_CURVES = 10  # rows drawn one curve each


def _positive(results: RateResults, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The records after the first (0 samples cannot sit on a log axis)."""
    keep = results.samples > 0
    return results.samples[keep], values[keep]


@register("plot", "hebbian_curves")
def learning_curves(results: RateResults, out: Path) -> list[Path]:
    """Subspace and orthonormality errors, and |cos| of each row with the eigenvector of its rank and with the
    first one, against samples presented."""
    fig, (errors, ordered, first) = figure(1, 3, (15, 4.3))
    x, sub = _positive(results, results.subspace_error)
    _, ortho = _positive(results, results.orthonormality_error)
    if x.size:
        errors.loglog(x, sub, "o-", ms=3, label="subspace error ||P_W - P_k||_F / ||P_k||_F")
        errors.loglog(x, ortho, "s-", ms=3, label="orthonormality error max |W W^T - I|")
        errors.legend(fontsize=8)
    else:
        note(errors, "nothing trained")
    errors.set_xlabel(SAMPLES)
    errors.set_ylabel("error (dimensionless)")
    rows = results.cos_first.shape[1] if results.cos_first.ndim == 2 else 0
    for ax, values, what, leading in ((ordered, results.cos_ordered, "eigenvector i (same rank)", rows + 1),
                                      (first, results.cos_first, "eigenvector 1 (PC1)", 2)):
        if _repeated(results.eigenvalues[:leading]):
            ax.set_title("repeated eigenvalues: these eigenvectors are\nany basis of their eigenspace", fontsize=8)
        _, cos = _positive(results, values)
        for i in range(min(cos.shape[1], MAX_CURVES)):
            ax.semilogx(x, cos[:, i], "-", label=f"row {i + 1}")
        if not x.size:
            note(ax, "nothing trained")
        elif cos.shape[1]:
            ax.legend(fontsize=7, ncol=2)
        ax.set_xlabel(SAMPLES)
        ax.set_ylabel(f"|cos(w_i, {what})|")
        ax.set_ylim(-0.02, 1.02)
    fig.suptitle(f"{results.title} (rule {results.rule})", fontsize=10)
    return save(fig, out / "hebbian_curves.png")


def _repeated(eigenvalues: np.ndarray) -> bool:
    """Whether two of these (descending) eigenvalues are equal, so their eigenvectors are not unique."""
    return bool(np.any(np.isclose(eigenvalues[:-1], eigenvalues[1:], rtol=1e-9, atol=0)))


def _aligned(W: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Rows of W with the sign that makes their dot product with their best-matching column of V positive."""
    if not V.size:
        return W
    dots = W @ V
    best = dots[np.arange(W.shape[0]), np.abs(dots).argmax(axis=1)]
    return W * np.where(best < 0, -1.0, 1.0)[:, None]


def _grid(fig, ax, vectors: np.ndarray, shape: tuple[int, ...], title: str) -> None:
    """Vectors (rows) as image tiles (``shape``) in a grid, or as one matrix (rows x inputs) without a shape; one
    colour scale per grid, symmetric about 0."""
    top = float(np.nanmax(np.abs(vectors), initial=0.0)) or 1.0
    if len(shape) == 2:
        h, w = shape
        cols = int(np.ceil(np.sqrt(vectors.shape[0])))
        rows = int(np.ceil(vectors.shape[0] / cols))
        canvas = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan)
        for m, vector in enumerate(vectors):
            r, c = divmod(m, cols)
            canvas[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = vector.reshape(h, w)
        image = ax.imshow(canvas, cmap="RdBu_r", vmin=-top, vmax=top, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"{vectors.shape[0]} filters, {h} x {w} pixels each (reading order)")
    else:
        image = ax.imshow(vectors, cmap="RdBu_r", vmin=-top, vmax=top, aspect="auto", interpolation="nearest")
        ax.set_xlabel("input j")
        ax.set_ylabel("row i")
        if vectors.shape[0] <= 20:
            ax.set_yticks(range(vectors.shape[0]), [str(i + 1) for i in range(vectors.shape[0])])
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, label="weight (dimensionless)")


@register("plot", "hebbian_filters")
def filters(results: RateResults, out: Path) -> list[Path]:
    """The learned rows of W beside the leading eigenvectors of E[x x^T] (PCA), as filter grids (image inputs) or
    matrices."""
    fig, (learned, pca) = figure(1, 2, (12, 5))
    V = results.eigenvectors.T
    shape = tuple(int(s) for s in results.patch_shape)
    W = results.final_weights
    if W.size and np.isfinite(W).all():
        _grid(fig, learned, _aligned(W, V.T), shape, f"learned W ({results.rule}, after "
                                                     f"{int(results.samples[-1])} samples)")
    else:
        note(learned, "no finite weights")
    if V.size:
        _grid(fig, pca, V, shape, f"leading {V.shape[0]} eigenvectors of E[x x^T] (PCA)")
    else:
        note(pca, "no reference")
    fig.suptitle(results.title, fontsize=10)
    return save(fig, out / "hebbian_filters.png")


@register("plot", "bcm_responses")
def bcm_responses(results: RateResults, out: Path) -> list[Path]:
    """Each output's response to each input pattern against samples presented (BCM selectivity over time)."""
    R = results.responses
    outputs = min(R.shape[1], 6) if R.ndim == 3 and R.shape[2] else 0
    fig, axes = figure(1, max(outputs, 1), (max(4.2 * outputs, 8), 4), squeeze=False)
    if not outputs:
        note(axes[0, 0], "no input patterns in these data")
    x, R = _positive(results, R) if outputs else (results.samples, R)
    for i in range(outputs):
        ax = axes[0, i]
        for p in range(min(R.shape[2], MAX_CURVES)):
            ax.semilogx(x, R[:, i, p], "-", label=f"pattern {p + 1}")
        ax.set_xlabel(SAMPLES)
        ax.set_ylabel(f"response y of output {i + 1} (rate units)")
        ax.legend(fontsize=7)
    fig.suptitle(f"{results.title} (rule {results.rule})", fontsize=10)
    return save(fig, out / "bcm_responses.png")


@register("plot", "output_correlations")
def output_correlations(results: RateResults, out: Path) -> list[Path]:
    """The largest off-diagonal correlation of the outputs on the probe inputs against samples presented, and their
    correlation matrices before and after learning."""
    fig, (curve, before, after) = figure(1, 3, (18, 4.3))
    for ax, matrix, when in ((before, results.correlation_before, "before learning"),
                             (after, results.correlation_after, f"after {int(results.samples[-1])} samples")):
        image = ax.imshow(matrix, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(f"output correlations, {when}", fontsize=10)
        ax.set_xlabel("output j")
        ax.set_ylabel("output i")
        fig.colorbar(image, ax=ax, label="correlation coefficient")
    x, c = _positive(results, results.output_correlation)
    if x.size:
        curve.loglog(x, c, "o-", ms=3)
    else:
        note(curve, "nothing trained")
    curve.set_xlabel(SAMPLES)
    curve.set_ylabel("max |off-diagonal correlation|\n(dimensionless)")
    fig.suptitle(f"{results.title} (rule {results.rule})", fontsize=10)
    return save(fig, out / "output_correlations.png")
