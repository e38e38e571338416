"""Functions that generated model code calls besides NumPy's: ``clip``, ``exprel`` and counter-based random
numbers.

``rand`` and ``randn`` are pure functions of (key, step, neuron, site): a splitmix64 hash of the counters gives
the bits, so a draw does not depend on the order neurons are visited or on how many threads visit them, and one
seed fixes every draw (the key is the population's noise stream, ``noise/<population>``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2^-53


@njit(cache=True, inline="always")
def _mix(z):
    """splitmix64's finaliser (Steele, Lea & Flood 2014): a bijection of uint64 with full avalanche."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True, inline="always")
def _bits(key, step, i, site):
    z = _mix(np.uint64(key) + _GOLDEN * np.uint64(site + 1))
    z = _mix(z + _GOLDEN * np.uint64(step))
    return _mix(z + _GOLDEN * np.uint64(i))


@njit(cache=True)
def rand(key, step, i, site):
    """A uniform draw in (0, 1) for counters (step, neuron i, call site); 53 random bits."""
    return (float(_bits(key, step, i, site) >> _S11) + 0.5) * _TO_UNIT


@njit(cache=True)
def randn(key, step, i, site):
    """A standard normal draw (Box-Muller on two uniforms of sites 2 site and 2 site + 1)."""
    u1 = rand(key, step, i, 2 * site)
    u2 = rand(key, step, i, 2 * site + 1)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@njit(cache=True, inline="always")
def clip(x, low, high):
    """Brian2's ``clip``: ``x`` limited to [low, high]."""
    return min(max(x, low), high)


@njit(cache=True)
def exprel(x):
    """Brian2's ``exprel``: (exp(x) - 1) / x, 1 at x = 0, accurate near 0."""
    if x == 0.0:
        return 1.0
    return math.expm1(x) / x
