"""Reward-modulated STDP with eligibility traces (Izhikevich 2007; Fremaux & Gerstner 2016).

The pair-STDP update (additive, all-to-all) goes to a per-synapse eligibility trace e that decays
with tau_e. A modulator population (e.g. dopamine neurons or a reward generator) raises the
modulator level d by ``dopamine`` per spike; d decays with tau_d. Every step
w += eta * d * e * dt, clipped to [w_min, w_max].
"""

from __future__ import annotations

import math
from typing import ClassVar, NamedTuple

from numba import njit
from pydantic import Field

from biosim.engine.plasticity import Modulator, SpikingPlasticity, SpikingRule, Trace
from biosim.params import Frequency, PositiveTime, Weight
from biosim.registry import register
from biosim.rules.spiking_projection.stdp import clip


class RewardSTDPParams(NamedTuple):
    """Kernel parameters: amplitudes in weight units, bounds, eligibility decay per step, eta x dt."""

    a_plus_w: float
    a_minus_w: float
    w_min: float
    w_max: float
    e_decay: float
    eta_dt: float



@njit(cache=True)
def rstdp_on_pre(i, lo, hi, post_idx, w, syn, pre_tr, post_tr, p):
    for s in range(lo, hi):
        syn[0, s] -= p.a_minus_w * post_tr[0, post_idx[s]]


@njit(cache=True)
def rstdp_on_post(j, lo, hi, col_syn, col_pre, w, syn, pre_tr, post_tr, p):
    for k in range(lo, hi):
        syn[0, col_syn[k]] += p.a_plus_w * pre_tr[0, col_pre[k]]


@njit(cache=True)
def rstdp_on_step(w, syn, p, modulator):
    gain = p.eta_dt * modulator
    e = syn[0]
    for s in range(w.shape[0]):
        e[s] *= p.e_decay
        if gain != 0.0:
            w[s] = clip(w[s] + gain * e[s], p.w_min, p.w_max)


@register("rule", "rstdp")
class RewardSTDP(SpikingRule):
    """Reward-modulated STDP: STDP to an eligibility trace, weights follow modulator x eligibility."""

    reads: ClassVar[str] = "pre/post spike traces and a modulator population"
    needs_modulator: ClassVar[bool] = True
    tau_plus: PositiveTime = Field(20e-3, description="decay of the presynaptic trace")
    tau_minus: PositiveTime = Field(20e-3, description="decay of the postsynaptic trace")
    a_plus: float = Field(0.01, ge=0, description="eligibility per causal pair, fraction of w_max")
    a_minus: float = Field(0.0105, ge=0, description="eligibility per acausal pair, fraction of w_max")
    tau_e: PositiveTime = Field(1.0, description="decay of the eligibility trace")
    tau_d: PositiveTime = Field(0.2, description="decay of the modulator level")
    dopamine: float = Field(1.0, description="modulator level added per modulator spike")
    eta: Frequency = Field(1.0, description="learning rate")
    w_min: Weight = Field(0.0, description="lower weight bound")
    w_max: Weight = Field(..., gt=0, description="upper weight bound")

    def weight_bounds(self) -> tuple[float, float]:
        return self.w_min, self.w_max


@register("builder", "rstdp/numba")
def rstdp_numba(rule: RewardSTDP, dt: float) -> SpikingPlasticity:
    """Kernels, one eligibility variable per synapse, the modulator, and the parameter record for ``dt`` (s)."""
    params = RewardSTDPParams(rule.a_plus * rule.w_max, rule.a_minus * rule.w_max, rule.w_min, rule.w_max,
                              math.exp(-dt / rule.tau_e), rule.eta * dt)
    return SpikingPlasticity(rstdp_on_pre, rstdp_on_post, rstdp_on_step, (Trace(rule.tau_plus),),
                             (Trace(rule.tau_minus),), ("eligibility",), params, Modulator(rule.tau_d, rule.dopamine))
