"""BCM with a sliding threshold (Bienenstock, Cooper & Munro 1982; Intrator & Cooper 1992):
dw_ij = eta y_i (y_i - theta_i) x_j, and theta_i relaxes to E[y_i^2] with time constant tau_theta (samples)."""

from __future__ import annotations

from typing import ClassVar, NamedTuple

from numba import njit
from pydantic import Field

from biosim.networks.rate_hebbian.target import RateRuleKernels
from biosim.registry import register
from biosim.rules.rate_projection import RateRule


class BCMParams(NamedTuple):
    """``bcm`` as its kernel reads it."""

    eta: float
    tau_theta: float


@njit(cache=True)
def bcm_update(indptr, indices, data, Q, x, y, p, state, dW, dQ, r):
    """dw_ij += eta y_i (y_i - theta_i) x_j, then theta_i += (y_i^2 - theta_i) / tau_theta (``state`` is theta)."""
    for i in range(indptr.shape[0] - 1):
        phi = p.eta * y[i] * (y[i] - state[i])
        for e in range(indptr[i], indptr[i + 1]):
            dW[e] += phi * x[indices[e]]
        state[i] += (y[i] * y[i] - state[i]) / p.tau_theta


@register("rule", "bcm")
class BCM(RateRule):
    """BCM: dw_ij = eta y_i (y_i - theta_i) x_j with the sliding threshold theta_i -> E[y_i^2] (time constant
    tau_theta samples). Over P equally likely, linearly independent patterns the stable fixed points are
    selective: y = P for one pattern, 0 for the others (Intrator & Cooper 1992)."""

    reads: ClassVar[str] = "input x, output y, its sliding threshold"
    tau_theta: float = Field(5.0, ge=1, description="time constant of the sliding threshold (samples)")
    theta0: float = Field(0.0, ge=0, description="initial threshold (squared output units)")


@register("builder", "bcm/numba")
def bcm_numba(rule: BCM) -> RateRuleKernels:
    """Weights and thresholds, theta kept per output."""
    return RateRuleKernels(bcm_update, BCMParams(float(rule.eta), float(rule.tau_theta)), state0=float(rule.theta0))
