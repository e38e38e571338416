"""Explicit random streams: one seed fixes every random consumer of a run, each with its own generator.

``streams(seed, "connect", "init", ...)`` gives each named consumer an independent ``np.random.Generator``
derived from the seed and the consumer's name (so adding a consumer never changes another's stream). Numba
kernels take the generator as an argument (``@njit(cache=True)`` code accepts ``np.random.Generator``); nothing
seeds a process-global generator, so two simulations advanced alternately, or in two threads, draw exactly what
each draws alone.

``mix`` is the counter-based hash behind draws that must not depend on visiting order or thread count (equation
models' ``rand``/``randn``, Poisson drives): splitmix64's finaliser of a counter, keyed by ``stream_key``.

The Numba helpers below are the project's only hand-written sampling: ``randint`` because Numba's
``Generator.integers`` costs ~60 ns a draw, and ``partial_shuffle`` (a partial Fisher-Yates shuffle) because every
family draws k-subsets in O(k) inside compiled loops. Both use Lemire's (2019) multiply-shift with rejection on
32-bit halves of the generator's raw 64-bit output: exactly uniform, ~4.5 ns an index. Both are tested against
NumPy's own samplers.
"""

from __future__ import annotations

import zlib

import numpy as np
from numba import njit
from numba.np.random.generator_core import next_uint64

GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # 2^64 / golden ratio: splitmix64's counter increment
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_LOW = np.uint64(0xFFFFFFFF)
_SHIFT = np.uint64(32)
_SPAN = np.uint64(2**32)


def stream_seed(seed: int, name: str) -> np.random.SeedSequence:
    """The seed sequence of consumer ``name`` under the run's ``seed`` (stable across processes and versions)."""
    return np.random.SeedSequence(entropy=seed, spawn_key=(zlib.crc32(name.encode()),))


def stream_key(seed: int, name: str) -> int:
    """A 63-bit key of consumer ``name`` for counter-based generators (hashes of key and counters)."""
    return int(stream_seed(seed, name).generate_state(1, np.uint64)[0] >> np.uint64(1))


def streams(seed: int, *names: str) -> dict[str, np.random.Generator]:
    """One independent generator per named consumer, all fixed by ``seed``."""
    return {name: np.random.default_rng(stream_seed(seed, name)) for name in names}


def stream(seed: int, name: str) -> np.random.Generator:
    """The generator of one named consumer."""
    return np.random.default_rng(stream_seed(seed, name))


@njit(cache=True, inline="always")
def mix(z):
    """splitmix64's finaliser (Steele, Lea & Flood 2014): a bijection of uint64 with full avalanche, so
    ``mix(state + GOLDEN * i)`` over counters ``i`` is splitmix64's sequence."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True, inline="always")
def _bounded(bits, x, n):
    """An integer uniform on [0, n) (n < 2**32) from the 32-bit draw ``x``: Lemire's multiply-shift, with the
    rare biased draws (probability below n / 2**32) rejected and redrawn."""
    n = np.uint64(n)
    product = x * n
    if (product & _LOW) < n:
        threshold = (_SPAN - n) % n
        while (product & _LOW) < threshold:
            product = (next_uint64(bits) >> _SHIFT) * n
    return np.int64(product >> _SHIFT)


@njit(cache=True, inline="always")
def randint(rng, n):
    """An integer uniform on [0, n), for 0 < n < 2**32."""
    return _bounded(rng.bit_generator, next_uint64(rng.bit_generator) >> _SHIFT, n)


@njit(cache=True)
def partial_shuffle(rng, perm, k):
    """Move a uniform random k-subset of ``perm`` (in uniform random order) into ``perm[:k]``, in O(k): a partial
    Fisher-Yates shuffle, two indices from each 64-bit draw. ``perm`` (fewer than 2**32 entries) may start in any
    order and is left a permutation of its entries."""
    bits = rng.bit_generator
    n = perm.shape[0]
    for m in range(0, k, 2):
        raw = next_uint64(bits)
        j = m + _bounded(bits, raw & _LOW, n - m)
        perm[m], perm[j] = perm[j], perm[m]
        if m + 1 < k:
            j = m + 1 + _bounded(bits, raw >> _SHIFT, n - m - 1)
            perm[m + 1], perm[j] = perm[j], perm[m + 1]


def alias_table(pmf: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Walker's alias table of the distribution ``pmf`` over 0..len-1, built by Vose's (1991) method in exact
    integer arithmetic on probabilities quantised to multiples of 2^-64 (the rounding error goes to the mode).
    Returns (threshold uint64[K], alias int64[K], shift) with K = 2^(64 - shift) >= 2 columns: a 64-bit draw
    ``r`` picks column ``j = r >> shift`` and gives ``j`` if ``r mod 2^shift < threshold[j]``, else ``alias[j]``,
    so each outcome has exactly its quantised probability."""
    pmf = np.asarray(pmf, dtype=np.float64)
    units = [int(x) for x in np.round(pmf / pmf.sum() * 2.0**64)]
    units[int(np.argmax(pmf))] += 2**64 - sum(units)
    bits = max(1, (len(units) - 1).bit_length())
    capacity = 2 ** (64 - bits)  # each column's share of the 2^64 draws
    units += [0] * (2**bits - len(units))
    threshold, alias = [capacity] * len(units), list(range(len(units)))
    small = [j for j, u in enumerate(units) if u < capacity]
    large = [j for j, u in enumerate(units) if u >= capacity]
    while small and large:
        j, big = small.pop(), large[-1]
        threshold[j], alias[j] = units[j], big
        units[big] -= capacity - units[j]
        if units[big] < capacity:
            small.append(large.pop())
    return np.array(threshold, dtype=np.uint64), np.array(alias, dtype=np.int64), 64 - bits
