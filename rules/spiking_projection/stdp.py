"""Pair-based STDP with traces (Song et al. 2000; van Rossum et al. 2000; Guetig et al. 2003).

At a pre spike: w += -a_minus * w_max * f-(w) * apost; at a post spike: w += a_plus * w_max *
f+(w) * apre, with f+(w) = ((w_max - w)/w_max)^mu, f-(w) = (w/w_max)^mu (mu = 0: additive) and
weights clipped to [w_min, w_max]. Amplitudes are fractions of w_max, as in Song et al. (2000).
"""

from __future__ import annotations

from typing import ClassVar, Literal, NamedTuple

from numba import njit
from pydantic import Field

from biosim.engine.plasticity import Brian2Synapses, Pairing, SpikingPlasticity, SpikingRule, Trace
from biosim.params import PositiveTime, Weight
from biosim.registry import register


class STDPParams(NamedTuple):
    """Kernel parameters: amplitudes in weight units, bounds, soft-bound exponent (0: additive)."""

    a_plus_w: float
    a_minus_w: float
    w_min: float
    w_max: float
    mu: float


@njit(cache=True, inline="always")
def clip(w, lo, hi):
    return min(max(w, lo), hi)


@njit(cache=True, inline="always")
def soft_bound(distance, w_max, mu):
    """(distance / w_max)^mu, exactly 1 for the additive case mu = 0."""
    return 1.0 if mu == 0.0 else (max(distance, 0.0) / w_max) ** mu


@njit(cache=True)
def stdp_on_pre(i, lo, hi, post_idx, w, syn, pre_tr, post_tr, p):
    for s in range(lo, hi):
        dw = -p.a_minus_w * soft_bound(w[s], p.w_max, p.mu) * post_tr[0, post_idx[s]]
        w[s] = clip(w[s] + dw, p.w_min, p.w_max)


@njit(cache=True)
def stdp_on_post(j, lo, hi, col_syn, col_pre, w, syn, pre_tr, post_tr, p):
    for k in range(lo, hi):
        s = col_syn[k]
        dw = p.a_plus_w * soft_bound(p.w_max - w[s], p.w_max, p.mu) * pre_tr[0, col_pre[k]]
        w[s] = clip(w[s] + dw, p.w_min, p.w_max)


@register("rule", "stdp")
class STDP(SpikingRule):
    """Pair-based STDP, additive or multiplicative, all-to-all or nearest-spike pairing."""

    reads: ClassVar[str] = "pre/post spike traces"
    tau_plus: PositiveTime = Field(20e-3, description="decay of the presynaptic trace")
    tau_minus: PositiveTime = Field(20e-3, description="decay of the postsynaptic trace")
    a_plus: float = Field(0.01, ge=0, description="potentiation per pair, fraction of w_max")
    a_minus: float = Field(0.0105, ge=0, description="depression per pair, fraction of w_max")
    w_min: Weight = Field(0.0, description="lower weight bound")
    w_max: Weight = Field(..., gt=0, description="upper weight bound")
    weight_dependence: Literal["additive", "multiplicative"] = Field("additive", description="f(w) = 1, or soft bounds")
    mu: float = Field(1.0, ge=0, description="exponent of the multiplicative weight dependence")
    pairing: Pairing = Field("all_to_all", description="which spike pairs interact")

    def weight_bounds(self) -> tuple[float, float]:
        return self.w_min, self.w_max


@register("builder", "stdp/numba")
def stdp_numba(rule: STDP, dt: float) -> SpikingPlasticity:
    """Kernels, one pre and one post trace, and the parameter record (``dt`` plays no role)."""
    mu = 0.0 if rule.weight_dependence == "additive" else rule.mu
    nearest = rule.pairing == "nearest"
    params = STDPParams(rule.a_plus * rule.w_max, rule.a_minus * rule.w_max, rule.w_min, rule.w_max, mu)
    return SpikingPlasticity(stdp_on_pre, stdp_on_post, None, (Trace(rule.tau_plus, nearest),),
                             (Trace(rule.tau_minus, nearest),), (), params)


@register("builder", "stdp/brian2")
def stdp_brian2(rule: STDP, unit: str) -> Brian2Synapses:
    """The same rule as Brian2 statements; ``unit`` is the Brian2 unit of the weight."""
    bump = "= 1" if rule.pairing == "nearest" else "+= 1"
    additive = rule.weight_dependence == "additive"
    f_minus = "1" if additive else "(w_syn / w_max)**mu"
    f_plus = "1" if additive else "((w_max - w_syn) / w_max)**mu"
    model = (f"w_syn : {unit}\ndapre/dt = -apre / tau_plus : 1 (event-driven)\n"
             "dapost/dt = -apost / tau_minus : 1 (event-driven)")
    on_pre = f"w_syn = clip(w_syn - a_minus_w * {f_minus} * apost, w_min, w_max)\napre {bump}"
    on_post = f"w_syn = clip(w_syn + a_plus_w * {f_plus} * apre, w_min, w_max)\napost {bump}"
    namespace = {"tau_plus": (rule.tau_plus, "second"), "tau_minus": (rule.tau_minus, "second"),
                 "a_plus_w": (rule.a_plus * rule.w_max, unit), "a_minus_w": (rule.a_minus * rule.w_max, unit),
                 "w_min": (rule.w_min, unit), "w_max": (rule.w_max, unit), "mu": (rule.mu, "1")}
    return Brian2Synapses(model, on_pre, on_post, namespace)
