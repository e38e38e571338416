"""Anti-Hebbian lateral decorrelation (Foldiak 1989; his 1990 network adds thresholds, Hebbian feed-forward
weights and dq_ij = -alpha (y_i y_j - p^2) for sparse binary outputs): outputs y = W x + Q y (solved exactly per sample,
y = (I - Q)^-1 W x), dq_ij = -eta y_i y_j for i != j, q_ii = 0; the feed-forward W stays as initialised."""

from __future__ import annotations

from typing import ClassVar, NamedTuple

from numba import njit

from biosim.networks.rate_hebbian.target import RateRuleKernels
from biosim.registry import register
from biosim.rules.rate_projection import RateRule


class FoldiakParams(NamedTuple):
    """``foldiak`` as its kernel reads it."""

    eta: float


@njit(cache=True)
def foldiak_update(indptr, indices, data, Q, x, y, p, state, dW, dQ, r):
    """dq_ij += -eta y_i y_j for i != j."""
    k = y.shape[0]
    for i in range(k):
        for j in range(k):
            if i != j:
                dQ[i, j] -= p.eta * y[i] * y[j]


@register("rule", "foldiak")
class Foldiak(RateRule):
    """Foldiak's anti-Hebbian lateral weights: dq_ij = -eta y_i y_j (i != j) with y = W x + Q y; the fixed point
    has E[y_i y_j] = 0 for i != j (decorrelated outputs)."""

    reads: ClassVar[str] = "outputs y"


@register("builder", "foldiak/numba")
def foldiak_numba(rule: Foldiak) -> RateRuleKernels:
    """Lateral weights only."""
    return RateRuleKernels(foldiak_update, FoldiakParams(float(rule.eta)), lateral=True)
