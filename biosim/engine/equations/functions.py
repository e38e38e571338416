"""Functions that generated model code calls besides NumPy's: ``exp`` and ``exprel`` that LLVM can vectorise,
``clip`` and counter-based random numbers.

``exp`` and ``exprel`` are branch-free (selects only) and call no library function, so a neuron loop that uses
them compiles to SIMD code (8 doubles per AVX-512 instruction): libm's scalar ``exp`` cannot be vectorised by
Numba's LLVM without Intel's SVML. Their relative error against NumPy's and SciPy's is at most 1.01 and 3
machine epsilons (tested; about 1 and 3 ulp), so traces still agree with Brian2's to the cross-checks'
tolerances.

``rand`` and ``randn`` are pure functions of (key, step, neuron, site): a splitmix64 hash of the counters gives
the bits, so a draw does not depend on the order neurons are visited or on how many threads visit them, and one
seed fixes every draw (the key is the population's noise stream, ``noise/<population>``).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from biosim.streams import GOLDEN, mix

_S11 = np.uint64(11)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2^-53


@njit(cache=True, inline="always")
def _bits(key, step, i, site):
    z = mix(np.uint64(key) + GOLDEN * np.uint64(site + 1))
    z = mix(z + GOLDEN * np.uint64(step))
    return mix(z + GOLDEN * np.uint64(i))


@njit(cache=True)
def rand(key, step, i, site):
    """A uniform draw in (0, 1) for counters (step, neuron i, call site); 53 random bits."""
    return (float(_bits(key, step, i, site) >> _S11) + 0.5) * _TO_UNIT


@njit(cache=True)
def randn(key, step, i, site):
    """A standard normal draw (Box-Muller on the uniforms of sites ``site`` and ``site + 1``: the generator
    numbers a randn call site twice, so no other draw uses them)."""
    u1 = rand(key, step, i, site)
    u2 = rand(key, step, i, site + 1)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


_LOG2E = 1.4426950408889634
_LN2_HI, _LN2_LO = 0.6931471803691238, 1.9082149292705877e-10  # ln 2 split: k * _LN2_HI is exact for |k| < 2^11
_HALF_LN2 = 0.34657359027997264
#: Taylor coefficients in Horner's order, to x^13 (the tail is below 1e-17 for |x| <= ln 2 / 2): of e^x (1/k!)
#: and of exprel (1/(k + 1)!)
_EXP = tuple(1.0 / math.factorial(k) for k in range(13, -1, -1))
_EXPREL = tuple(1.0 / math.factorial(k + 1) for k in range(13, -1, -1))


@intrinsic
def _float_from_bits(typingctx, bits):
    """The float64 whose IEEE-754 bits are the int64 ``bits`` (a bitcast)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@njit(cache=True, inline="always")
def _horner(x, coefficients):
    """The polynomial with ``coefficients`` (highest power first) at ``x``."""
    p = 0.0
    for c in coefficients:
        p = p * x + c
    return p


@njit(cache=True, inline="always")
def exp(x):
    """e^x: x = k ln 2 + r with |r| <= ln 2 / 2 (Cody & Waite), e^r by its Taylor series, 2^k from the exponent
    bits (in two factors, so subnormal results and k = 1024 are exact); inf above 709.8, NaN stays NaN."""
    y = min(max(x, -745.2), 709.8)
    k = math.floor(y * _LOG2E + 0.5)
    r = (y - k * _LN2_HI) - k * _LN2_LO
    half = np.int64(k) >> 1
    out = _horner(r, _EXP) * _float_from_bits((half + 1023) << 52) * _float_from_bits((np.int64(k) - half + 1023) << 52)
    out = math.inf if x > 709.8 else out
    return x if x != x else out


@njit(cache=True, inline="always")
def exprel(x):
    """Brian2's ``exprel``: (e^x - 1) / x, 1 at x = 0; its Taylor series near 0 (no cancellation)."""
    far = (exp(x) - 1.0) / (x if x != 0.0 else 1.0)
    far = math.inf if x > 709.8 else far  # as Brian2's C++ exprel (inf / inf would be NaN)
    return _horner(x, _EXPREL) if abs(x) < _HALF_LN2 else far


@njit(cache=True, inline="always")
def clip(x, low, high):
    """Brian2's ``clip``: ``x`` limited to [low, high]."""
    return min(max(x, low), high)
