"""Archetypes and their noisy examples (Agliari, Barra et al.): xi in {+-1}^N, eta = chi xi with P(chi = +-1) =
(1 +- r)/2, M examples per archetype."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Dataset:
    """K archetypes ``xi`` (int8 [K, N], +-1) and M examples of each, ``eta`` (int8 [K, M, N], +-1)."""

    xi: np.ndarray
    eta: np.ndarray


def draw(N: int, K: int, M: int, r: float, archetypes: np.random.Generator,
         examples: np.random.Generator) -> Dataset:
    """Unbiased i.i.d. archetypes from ``archetypes``; examples of quality ``r`` (E[eta xi] = r) from ``examples``."""
    xi = np.where(archetypes.random((K, N)) < 0.5, 1, -1).astype(np.int8)
    chi = np.where(examples.random((K, M, N)) < (1 + r) / 2, 1, -1).astype(np.int8)
    return Dataset(xi, chi * xi[:, None, :])


def data_entropy(M: int, r: float) -> float:
    """The dataset entropy rho = (1 - r^2) / (M r^2) (inf for r = 0)."""
    return np.inf if r == 0 else (1 - r * r) / (M * r * r)


def example_norm(M: int, r: float) -> float:
    """R = E[eta_bar_i^2] = r^2 + (1 - r^2) / M, the mean square of an example average."""
    return r * r + (1 - r * r) / M
