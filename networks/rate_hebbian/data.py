"""Datasets of the rate Hebbian family (``kind`` ``vectors``): each ``load(rng)`` gives :class:`Samples` that draw
input vectors and know the eigen-decomposition of E[x x^T] (exact for Gaussian data, of the sample set otherwise)."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from biosim.params import Params
from biosim.registry import register

MAX_INPUTS = 4096  # n: the references are dense n x n eigen-decompositions
MAX_SET_VALUES = 5 * 10**7  # values of a sample set held in memory (400 MB)
SAMPLE_IMAGES = ("china.jpg", "flower.jpg")  # scikit-learn's bundled sample images


class Samples:
    """Input vectors x in R^n: ``draw(count, rng)`` and E[x x^T] = V diag(eigenvalues) V^T (descending)."""

    eigenvalues: np.ndarray  # of E[x x^T], descending
    eigenvectors: np.ndarray  # n x n, columns in the same order
    patterns: np.ndarray | None = None  # the distinct inputs, when there are few (BCM), patterns x n
    shape: tuple[int, int] | None = None  # an input as an image (patches), for filter plots

    @property
    def dim(self) -> int:
        return self.eigenvalues.size

    def draw(self, count: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


class Gaussian(Samples):
    """x ~ N(0, V diag(lambda) V^T)."""

    def __init__(self, eigenvalues: np.ndarray, V: np.ndarray):
        self.eigenvalues, self.eigenvectors = eigenvalues, V
        self._factor = (V * np.sqrt(eigenvalues)).T  # x = z @ factor, z standard normal

    def draw(self, count, rng):
        return rng.standard_normal((count, self.dim)) @ self._factor


class SampleSet(Samples):
    """Vectors drawn uniformly, with replacement, from a fixed set; references from its E[x x^T]."""

    def __init__(self, X: np.ndarray, patterns: bool = False, shape: tuple[int, int] | None = None):
        self.X, self.shape = X, shape
        self.patterns = X if patterns else None
        lam, V = np.linalg.eigh(X.T @ X / X.shape[0])
        self.eigenvalues, self.eigenvectors = np.clip(lam[::-1], 0.0, None), V[:, ::-1]

    def draw(self, count, rng):
        return self.X[rng.integers(self.X.shape[0], size=count)]


class VectorData(Params):
    """A source of input vectors for a rate network."""

    kind: ClassVar[str] = "vectors"

    def load(self, rng: np.random.Generator) -> Samples:
        raise NotImplementedError


@register("dataset", "gaussian_spectrum")
class GaussianSpectrum(VectorData):
    """Zero-mean Gaussian vectors with a given covariance spectrum, in a random orthonormal basis (drawn from the
    run's ``data`` stream) or the standard one. ``spectrum`` lists [eigenvalue, multiplicity] pairs, e.g.
    [[10, 5], [1, 45]] for n = 50 with five eigenvalues 10 and 45 eigenvalues 1."""

    spectrum: list[tuple[float, int]] = Field([(10.0, 5), (1.0, 45)], min_length=1,
                                              description="[eigenvalue, multiplicity] pairs (variance units)")
    basis: Literal["random", "standard"] = Field("random", description="eigenvectors: a random rotation (correlated "
                                                                       "inputs) or the standard basis")

    @field_validator("spectrum")
    @classmethod
    def _spectrum(cls, pairs: list[tuple[float, int]]) -> list[tuple[float, int]]:
        if any(not (np.isfinite(value) and value > 0) or count < 1 for value, count in pairs):
            raise ValueError("each pair is [eigenvalue > 0, multiplicity >= 1]")
        if (n := sum(count for _, count in pairs)) > MAX_INPUTS:
            raise ValueError(f"the multiplicities add up to n = {n}; at most {MAX_INPUTS}")
        return pairs

    def load(self, rng):
        lam = np.concatenate([np.full(count, float(value)) for value, count in self.spectrum])
        order = np.argsort(-lam, kind="stable")
        n = lam.size
        if self.basis == "standard":
            V = np.eye(n)
        else:
            V, R = np.linalg.qr(rng.standard_normal((n, n)))
            V *= np.sign(np.diag(R))  # Haar-distributed
        return Gaussian(lam[order], V[:, order])


@register("dataset", "image_patches")
class ImagePatches(VectorData):
    """``count`` random size x size grey-level patches (mean of R, G, B / 255) of scikit-learn's bundled sample
    images, each patch's own mean removed, centred (the mean patch subtracted) and scaled so that the largest
    eigenvalue of E[x x^T] is 1 (dimensionless)."""

    images: list[Literal["china.jpg", "flower.jpg"]] = Field(list(SAMPLE_IMAGES), min_length=1,
                                                             description="which sample images")
    size: int = Field(8, ge=2, le=64, description="patch side (pixels)")
    count: int = Field(20_000, ge=2, le=1_000_000, description="patches drawn")

    @model_validator(mode="after")
    def _fits(self) -> ImagePatches:
        if self.count * self.size**2 > MAX_SET_VALUES:
            raise ValueError(f"count x size^2 = {self.count * self.size**2:,} pixel values; at most "
                             f"{MAX_SET_VALUES:,} (e.g. count: {MAX_SET_VALUES // self.size**2:,})")
        return self

    def load(self, rng):
        try:
            from sklearn.datasets import load_sample_images

            bundled = load_sample_images()
        except (ImportError, OSError) as err:  # scikit-learn or Pillow missing, or the images removed
            raise ValueError(f"cannot load scikit-learn's sample images: {err}") from None
        grey = {name.rsplit("/", 1)[-1]: image.mean(axis=2) / 255.0
                for name, image in zip(bundled.filenames, bundled.images, strict=True)}
        chosen = [grey[name] for name in self.images]
        which = rng.integers(len(chosen), size=self.count)
        s = self.size
        X = np.empty((self.count, s * s))
        for m, image in enumerate(chosen):
            rows = np.flatnonzero(which == m)
            tops = rng.integers(image.shape[0] - s + 1, size=rows.size)
            lefts = rng.integers(image.shape[1] - s + 1, size=rows.size)
            windows = np.lib.stride_tricks.sliding_window_view(image, (s, s))
            X[rows] = windows[tops, lefts].reshape(rows.size, s * s)
        X -= X.mean(axis=1, keepdims=True)
        X -= X.mean(axis=0)
        X /= np.sqrt(max(np.linalg.eigvalsh(X.T @ X / self.count)[-1], np.finfo(float).tiny))
        return SampleSet(X, shape=(s, s))


@register("dataset", "input_patterns")
class InputPatterns(VectorData):
    """``count`` fixed patterns of n non-negative values (uniform, then scaled to unit norm; drawn from the
    ``data`` stream), presented one at a time with equal probability: BCM's selectivity task."""

    count: int = Field(4, ge=2, le=1000, description="patterns")
    n: int = Field(20, ge=2, le=MAX_INPUTS, description="values per pattern (inputs)")

    def load(self, rng):
        X = rng.random((self.count, self.n))
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        return SampleSet(X, patterns=True)
