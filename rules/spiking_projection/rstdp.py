"""Reward-modulated STDP with eligibility traces (Izhikevich 2007; Fremaux & Gerstner 2016).

The pair-STDP update (additive, all-to-all) goes to a per-synapse eligibility trace e that decays
with tau_e. A modulator population (e.g. dopamine neurons or a reward generator) raises the
modulator level d by ``dopamine`` per spike; d decays with tau_d. Every step
w += eta * d * e * dt, clipped to [w_min, w_max].
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from numba import njit
from pydantic import Field

from biosim.params import Frequency, Time, Weight
from biosim.registry import register
from biosim.rules.base import SpikingRule, Trace
from biosim.rules.spiking_projection.stdp import clip

A_PLUS, A_MINUS, W_MIN, W_MAX, E_DECAY, ETA_DT = range(6)


@njit(cache=True)
def rstdp_on_pre(i, lo, hi, post_idx, w, syn, pre_tr, post_tr, p):
    for s in range(lo, hi):
        syn[0, s] -= p[A_MINUS] * post_tr[0, post_idx[s]]


@njit(cache=True)
def rstdp_on_post(j, lo, hi, col_syn, col_pre, w, syn, pre_tr, post_tr, p):
    for k in range(lo, hi):
        syn[0, col_syn[k]] += p[A_PLUS] * pre_tr[0, col_pre[k]]


@njit(cache=True)
def rstdp_on_step(w, syn, p, modulator):
    gain = p[ETA_DT] * modulator
    e = syn[0]
    for s in range(w.shape[0]):
        e[s] *= p[E_DECAY]
        if gain != 0.0:
            w[s] = clip(w[s] + gain * e[s], p[W_MIN], p[W_MAX])


@register("rule", "rstdp")
class RewardSTDP(SpikingRule):
    """Reward-modulated STDP: STDP to an eligibility trace, weights follow modulator x eligibility."""

    reads: ClassVar[str] = "pre/post spike traces and a modulator population"
    synapse_vars: ClassVar[tuple[str, ...]] = ("eligibility",)
    needs_modulator: ClassVar[bool] = True
    tau_plus: Time = Field(20e-3, description="decay of the presynaptic trace")
    tau_minus: Time = Field(20e-3, description="decay of the postsynaptic trace")
    a_plus: float = Field(0.01, ge=0, description="eligibility per causal pair, fraction of w_max")
    a_minus: float = Field(0.0105, ge=0, description="eligibility per acausal pair, fraction of w_max")
    tau_e: Time = Field(1.0, description="decay of the eligibility trace")
    tau_d: Time = Field(0.2, description="decay of the modulator level")
    dopamine: float = Field(1.0, description="modulator level added per modulator spike")
    eta: Frequency = Field(1.0, description="learning rate")
    w_min: Weight = Field(0.0, description="lower weight bound")
    w_max: Weight = Field(..., gt=0, description="upper weight bound")

    on_pre = rstdp_on_pre
    on_post = rstdp_on_post
    on_step = rstdp_on_step

    def pre_traces(self) -> list[Trace]:
        return [Trace(self.tau_plus)]

    def post_traces(self) -> list[Trace]:
        return [Trace(self.tau_minus)]

    def modulator_tau(self) -> float:
        return self.tau_d

    def modulator_jump(self) -> float:
        return self.dopamine

    def pack(self, dt: float) -> np.ndarray:
        return np.array([self.a_plus * self.w_max, self.a_minus * self.w_max, self.w_min, self.w_max,
                         math.exp(-dt / self.tau_e), self.eta * dt])

    def weight_bounds(self) -> tuple[float, float]:
        return self.w_min, self.w_max
