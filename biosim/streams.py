"""Explicit random streams: one seed fixes every random consumer of a run, each with its own generator.

``streams(seed, "connect", "init", ...)`` gives each named consumer an independent ``np.random.Generator``
derived from the seed and the consumer's name (so adding a consumer never changes another's stream). Numba
kernels take the generator as an argument (``@njit(cache=True)`` code accepts ``np.random.Generator``); nothing
seeds a process-global generator, so two simulations advanced alternately, or in two threads, draw exactly what
each draws alone.

The Numba helpers below are the project's only hand-written sampling: ``randint`` because Numba's
``Generator.integers`` costs ~60 ns a draw against ~7 ns for this, and ``partial_shuffle`` (a partial
Fisher-Yates shuffle) because every family draws k-subsets in O(k) inside compiled loops. Both are tested
against NumPy's own samplers.
"""

from __future__ import annotations

import zlib

import numpy as np
from numba import njit


def stream_seed(seed: int, name: str) -> np.random.SeedSequence:
    """The seed sequence of consumer ``name`` under the run's ``seed`` (stable across processes and versions)."""
    return np.random.SeedSequence(entropy=seed, spawn_key=(zlib.crc32(name.encode()),))


def streams(seed: int, *names: str) -> dict[str, np.random.Generator]:
    """One independent generator per named consumer, all fixed by ``seed``."""
    return {name: np.random.default_rng(stream_seed(seed, name)) for name in names}


def stream(seed: int, name: str) -> np.random.Generator:
    """The generator of one named consumer."""
    return np.random.default_rng(stream_seed(seed, name))


@njit(cache=True, inline="always")
def randint(rng, n):
    """An integer uniform on [0, n) from one 53-bit double (relative bias below n / 2**53)."""
    return min(np.int64(rng.random() * n), n - 1)


@njit(cache=True)
def partial_shuffle(rng, perm, k):
    """Move a uniform random k-subset of ``perm`` (in uniform random order) into ``perm[:k]``, in O(k): a partial
    Fisher-Yates shuffle. ``perm`` may start in any order and is left a permutation of its entries."""
    n = perm.shape[0]
    for m in range(k):
        j = m + randint(rng, n - m)
        perm[m], perm[j] = perm[j], perm[m]
