"""The ``dense_hebbian`` target: how a dense Hebbian network stores its examples in a P-body energy.

Declared once, here, beside the Monte Carlo that runs it (``montecarlo``). A storage rule's ``numba`` builder,
called with ``examples`` (one int8 [M_mu, N] array of +-1 examples per archetype or class), ``P`` (even) and ``R``
(the normalisation, e.g. r^2 + (1 - r^2)/M), returns a :class:`StoredPatterns`: L integer patterns S_nu with integer
scales s_nu, so the energy is

    H(sigma) = -c N sum_nu (S_nu . sigma / (N s_nu))^P,

never the N^P coupling tensor: the Monte Carlo keeps the integer overlaps A_nu = S_nu . sigma (exact, no drift).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from biosim.registry import register
from biosim.targets import Target


class StoredPatterns(NamedTuple):
    """What the Monte Carlo runs for a storage rule: the energy's patterns, scales and coefficient."""

    S: np.ndarray  # int32 [L, N]: integer stored patterns (a sum of examples, or one example)
    scale: np.ndarray  # int64 [L]: s_nu, the pattern is S_nu / s_nu (an example average, or an example)
    label: np.ndarray  # int64 [L]: the archetype (class) each stored pattern belongs to
    coefficient: float  # c in H = -c N sum_nu (S_nu . sigma / (N s_nu))^P


register("target", "dense_hebbian")(Target(
    description="stored patterns and coefficient of the P-body energy of a dense Hebbian network",
    implementation=StoredPatterns, backends=("numba",)))
