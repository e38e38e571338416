"""Shared fixtures. Brian2 runs use its numpy target in tests (no C compilation on fresh machines)."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("BIOSIM_BRIAN2_TARGET", "numpy")


def poisson_times(rng: np.random.Generator, rate: float, duration: float, dt: float) -> np.ndarray:
    """Sorted spike times on the dt grid (at most one per step), Bernoulli approximation of Poisson."""
    steps = np.flatnonzero(rng.random(round(duration / dt)) < rate * dt)
    return steps * dt


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
