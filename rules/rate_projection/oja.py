"""The Oja family in one kernel: dw_ij = eta y_i (x_j - r_ij), the reconstruction r declared by the rule.

* ``oja`` (Oja 1982, single unit): r_ij = y_i w_ij; every output learns alone and finds the first principal
  component of E[x x^T];
* ``oja_subspace`` (Oja 1989, subspace rule): r_j = sum_l y_l w_lj; the rows become an orthonormal basis of the
  principal subspace (any rotation of it);
* ``sanger`` (Sanger 1989, generalised Hebbian algorithm): r_ij = sum_{l <= i} y_l w_lj; row i becomes the i-th
  eigenvector, in order (where the eigenvalues are distinct).

Matrix form (dense, batch mean): dW = eta (y x^T - T(y y^T) W) with T = diagonal part (oja), identity (subspace) or
lower triangle (sanger). The ``torch`` builder computes that (HLOP reuses ``oja_subspace`` through it).
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

from numba import njit

from biosim.networks.rate_hebbian.target import RateRuleKernels, TorchRateUpdate
from biosim.registry import register
from biosim.rules.rate_projection import RateRule

OWN, ALL, ORDERED = 0, 1, 2  # reconstruction kinds


class OjaParams(NamedTuple):
    """An Oja-family rule as its kernel reads it."""

    eta: float
    reconstruction: int  # OWN, ALL or ORDERED


@njit(cache=True)
def oja_update(indptr, indices, data, Q, x, y, p, state, dW, dQ, r):
    """dw_ij += eta y_i (x_j - r_ij) for every stored weight; ``r`` accumulates sum_l y_l w_l (all rows, or rows
    up to i)."""
    k = indptr.shape[0] - 1
    if p.reconstruction != OWN:
        r[:] = 0.0
    if p.reconstruction == ALL:
        for m in range(k):
            for e in range(indptr[m], indptr[m + 1]):
                r[indices[e]] += y[m] * data[e]
    for i in range(k):
        lo, hi, a = indptr[i], indptr[i + 1], p.eta * y[i]
        if p.reconstruction == OWN:
            for e in range(lo, hi):
                dW[e] += a * (x[indices[e]] - y[i] * data[e])
            continue
        if p.reconstruction == ORDERED:
            for e in range(lo, hi):
                r[indices[e]] += y[i] * data[e]
        for e in range(lo, hi):
            j = indices[e]
            dW[e] += a * (x[j] - r[j])


class OjaRule(RateRule):
    """dw_ij = eta y_i (x_j - r_ij) with the reconstruction r of the subclass."""

    reads: ClassVar[str] = "input x, outputs y, weights"
    reconstruction: ClassVar[int]


@register("rule", "oja")
class Oja(OjaRule):
    """Oja (1982): dw_i = eta y_i (x - y_i w_i); each output alone converges to the unit first principal
    component of E[x x^T]."""

    reconstruction: ClassVar[int] = OWN
    fixed_point: ClassVar[str] = "first principal component"


@register("rule", "oja_subspace")
class OjaSubspace(OjaRule):
    """Oja (1989) subspace rule: dW = eta (y x^T - y y^T W); the rows converge to an orthonormal basis of the
    principal k-subspace of E[x x^T]."""

    reconstruction: ClassVar[int] = ALL
    orthonormal_rows: ClassVar[bool] = True
    fixed_point: ClassVar[str] = "principal subspace"


@register("rule", "sanger")
class Sanger(OjaRule):
    """Sanger (1989) generalised Hebbian algorithm: dW = eta (y x^T - LT(y y^T) W); row i converges to the i-th
    eigenvector of E[x x^T] (distinct eigenvalues), in order."""

    reconstruction: ClassVar[int] = ORDERED
    orthonormal_rows: ClassVar[bool] = True
    fixed_point: ClassVar[str] = "ordered eigenvectors"


@register("builder", "oja/numba")
@register("builder", "oja_subspace/numba")
@register("builder", "sanger/numba")
def oja_numba(rule: OjaRule) -> RateRuleKernels:
    """The one Oja-family kernel with the rule's reconstruction."""
    return RateRuleKernels(oja_update, OjaParams(float(rule.eta), rule.reconstruction))


@register("builder", "oja/torch")
@register("builder", "oja_subspace/torch")
@register("builder", "sanger/torch")
def oja_torch(rule: OjaRule) -> TorchRateUpdate:
    """dH = eta (y x^T - T(y y^T) H) / batch on dense torch tensors, y = H x unless given; the subspace rule as
    eta y^T (x - y H) / batch where that costs less (2 B k n multiplications against B k n + B k^2 + k^2 n, B rows
    of k outputs and n inputs)."""
    import torch

    part = {OWN: lambda m: torch.diag(torch.diagonal(m)), ALL: lambda m: m, ORDERED: torch.tril}[rule.reconstruction]

    def delta(H: torch.Tensor, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        y = x @ H.T if y is None else y
        (B, n), k = x.shape, len(H)
        if rule.reconstruction == ALL and B * n <= k * (B + n):
            return rule.eta * (y.T @ (x - y @ H)) / B
        return rule.eta * (y.T @ x - part(y.T @ y) @ H) / B

    return TorchRateUpdate(delta)
