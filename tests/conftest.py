"""Shared fixtures. Brian2 runs use its numpy target in tests (no C compilation on fresh machines)."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("BIOSIM_BRIAN2_TARGET", "numpy")
# pytest-xdist runs the suite in one worker per core: each worker's torch then gets its share of the cores
# instead of all of them (two workers with two threads each on two cores ran torch tests 2-6x slower)
if (workers := int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))) > 1:
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "BIOSIM_THREADS"):
        os.environ.setdefault(variable, str(max(1, len(os.sched_getaffinity(0)) // workers)))


def poisson_times(rng: np.random.Generator, rate: float, duration: float, dt: float) -> np.ndarray:
    """Sorted spike times on the dt grid (at most one per step), Bernoulli approximation of Poisson."""
    steps = np.flatnonzero(rng.random(round(duration / dt)) < rate * dt)
    return steps * dt


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
