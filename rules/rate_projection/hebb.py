"""Plain Hebb with weight decay (Hebb 1949): dw_ij = eta y_i x_j - decay w_ij."""

from __future__ import annotations

from typing import ClassVar, NamedTuple

from numba import njit
from pydantic import Field

from biosim.networks.rate_hebbian.target import RateRuleKernels
from biosim.registry import register
from biosim.rules.rate_projection import RateRule


class HebbParams(NamedTuple):
    """``hebb`` as its kernel reads it."""

    eta: float
    decay: float


@njit(cache=True)
def hebb_update(indptr, indices, data, Q, x, y, p, state, dW, dQ, r):
    """dw_ij += eta y_i x_j - decay w_ij for every stored weight."""
    for i in range(indptr.shape[0] - 1):
        for e in range(indptr[i], indptr[i + 1]):
            dW[e] += p.eta * y[i] * x[indices[e]] - p.decay * data[e]


@register("rule", "hebb")
class Hebb(RateRule):
    """Plain Hebbian learning with decay: dw_ij = eta y_i x_j - decay w_ij. For linear y = W x the mean update is
    dW = W (eta C - decay I), C = E[x x^T]: each row grows along the eigenvectors with eta lambda > decay (the
    first principal component fastest) and is unbounded unless decay = eta lambda_1."""

    reads: ClassVar[str] = "input x, output y, weight"
    fixed_point: ClassVar[str] = "first principal component"  # in direction; in size only at decay = eta lambda_1
    decay: float = Field(0.0, ge=0, description="weight decay per sample (dimensionless)")


@register("builder", "hebb/numba")
def hebb_numba(rule: Hebb) -> RateRuleKernels:
    """The Hebbian product minus decay."""
    return RateRuleKernels(hebb_update, HebbParams(float(rule.eta), float(rule.decay)))
