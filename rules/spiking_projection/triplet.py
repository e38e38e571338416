"""Triplet STDP (Pfister & Gerstner 2006, J Neurosci 26:9673).

Pre traces r1 (tau_plus), r2 (tau_x); post traces o1 (tau_minus), o2 (tau_y).
Pre spike: w -= w_max * o1 * (a2_minus + a3_minus * r2) (r2 before its own update).
Post spike: w += w_max * r1 * (a2_plus + a3_plus * o2) (o2 before its own update).
Amplitudes are fractions of w_max; weights are clipped to [w_min, w_max].

Presets are the fitted parameter sets of the paper (visual cortex: Sjostrom et al. 2001 data,
Table 3; hippocampal culture: Wang et al. 2005 data, Table 4), for all-to-all and nearest-spike
interactions, full and minimal models. tau_plus = 16.8 ms and tau_minus = 33.7 ms throughout.
Where the minimal model has no use for tau_x (a3_minus = 0) the full model's value is kept.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numba import njit
from pydantic import Field, model_validator

from biosim.params import Time, Weight
from biosim.registry import register
from biosim.rules.base import Pairing, SpikingRule, Trace
from biosim.rules.spiking_projection.stdp import clip

A2P, A3P, A2M, A3M, W_MIN, W_MAX = range(6)

# (pairing, tau_x ms, tau_y ms, a2_plus, a3_plus, a2_minus, a3_minus). Provenance: the visual-cortex rows
# all-to-all full, all-to-all minimal (tau_y = 114 ms), nearest minimal, the nearest-full time constants and
# hippocampal all-to-all full agree with two independent transcriptions of the paper's tables; the other
# hippocampal rows rest on one transcription and should be checked against the paper before relying on them.
PRESETS: dict[str, tuple[str, float, float, float, float, float, float]] = {
    "visual_cortex_all_to_all_full": ("all_to_all", 101, 125, 5e-10, 6.2e-3, 7e-3, 2.3e-4),
    "visual_cortex_all_to_all_minimal": ("all_to_all", 101, 114, 0.0, 6.5e-3, 7.1e-3, 0.0),
    "visual_cortex_nearest_full": ("nearest", 714, 40, 8.8e-11, 5.3e-2, 6.6e-3, 3.1e-3),
    "visual_cortex_nearest_minimal": ("nearest", 714, 40, 0.0, 5e-2, 8e-3, 0.0),
    "hippocampal_all_to_all_full": ("all_to_all", 946, 27, 6.1e-3, 6.7e-3, 1.6e-3, 1.4e-3),
    "hippocampal_all_to_all_minimal": ("all_to_all", 946, 40, 5.3e-3, 8e-3, 3.5e-3, 0.0),
    "hippocampal_nearest_full": ("nearest", 575, 47, 4.6e-3, 9.1e-3, 3e-3, 7.5e-9),
    "hippocampal_nearest_minimal": ("nearest", 575, 48, 4.6e-3, 9.1e-3, 3e-3, 0.0),
}


@njit(cache=True)
def triplet_on_pre(i, lo, hi, post_idx, w, syn, pre_tr, post_tr, p):
    depression = p[W_MAX] * (p[A2M] + p[A3M] * pre_tr[1, i])
    for s in range(lo, hi):
        w[s] = clip(w[s] - depression * post_tr[0, post_idx[s]], p[W_MIN], p[W_MAX])


@njit(cache=True)
def triplet_on_post(j, lo, hi, col_syn, col_pre, w, syn, pre_tr, post_tr, p):
    potentiation = p[W_MAX] * (p[A2P] + p[A3P] * post_tr[1, j])
    for k in range(lo, hi):
        s = col_syn[k]
        w[s] = clip(w[s] + potentiation * pre_tr[0, col_pre[k]], p[W_MIN], p[W_MAX])


@register("rule", "triplet_stdp")
class TripletSTDP(SpikingRule):
    """Triplet STDP; ``preset`` picks a fitted parameter set, explicit fields override it."""

    reads: ClassVar[str] = "two pre and two post spike traces"
    preset: str | None = Field(None, description=f"one of: {', '.join(PRESETS)}")
    tau_plus: Time = Field(16.8e-3, description="decay of r1")
    tau_minus: Time = Field(33.7e-3, description="decay of o1")
    tau_x: Time = Field(101e-3, description="decay of r2")
    tau_y: Time = Field(125e-3, description="decay of o2")
    a2_plus: float = Field(5e-10, ge=0, description="pair potentiation, fraction of w_max")
    a3_plus: float = Field(6.2e-3, ge=0, description="triplet potentiation, fraction of w_max")
    a2_minus: float = Field(7e-3, ge=0, description="pair depression, fraction of w_max")
    a3_minus: float = Field(2.3e-4, ge=0, description="triplet depression, fraction of w_max")
    w_min: Weight = Field(0.0, description="lower weight bound")
    w_max: Weight = Field(..., gt=0, description="upper weight bound")
    pairing: Pairing = Field("all_to_all", description="which spike pairs interact")

    on_pre = triplet_on_pre
    on_post = triplet_on_post

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("preset") is None:
            return data
        name = data["preset"]
        if name not in PRESETS:
            from biosim.errors import did_you_mean

            raise ValueError(f"unknown preset {name!r}{did_you_mean(name, PRESETS)}; allowed: {', '.join(PRESETS)}")
        pairing, tau_x, tau_y, a2p, a3p, a2m, a3m = PRESETS[name]
        preset = {"pairing": pairing, "tau_x": tau_x * 1e-3, "tau_y": tau_y * 1e-3, "a2_plus": a2p,
                  "a3_plus": a3p, "a2_minus": a2m, "a3_minus": a3m}
        return {**preset, **data}

    def pre_traces(self) -> list[Trace]:
        nearest = self.pairing == "nearest"
        return [Trace(self.tau_plus, nearest), Trace(self.tau_x, nearest)]

    def post_traces(self) -> list[Trace]:
        nearest = self.pairing == "nearest"
        return [Trace(self.tau_minus, nearest), Trace(self.tau_y, nearest)]

    def pack(self, dt: float) -> np.ndarray:
        return np.array([self.a2_plus, self.a3_plus, self.a2_minus, self.a3_minus, self.w_min, self.w_max])

    def weight_bounds(self) -> tuple[float, float]:
        return self.w_min, self.w_max

    def brian2(self, unit: str) -> tuple[str, str, str, dict[str, tuple[float, str]]]:
        """(synapse model, on_pre plasticity, on_post, namespace) for the Brian2 backend."""
        bump = "= 1" if self.pairing == "nearest" else "+= 1"
        traces = {"r1": "tau_plus", "r2": "tau_x", "o1": "tau_minus", "o2": "tau_y"}
        model = "\n".join([f"w_syn : {unit}"]
                          + [f"d{x}/dt = -{x} / {tau} : 1 (event-driven)" for x, tau in traces.items()])
        on_pre = f"w_syn = clip(w_syn - w_max * o1 * (a2_minus + a3_minus * r2), w_min, w_max)\nr1 {bump}\nr2 {bump}"
        on_post = f"w_syn = clip(w_syn + w_max * r1 * (a2_plus + a3_plus * o2), w_min, w_max)\no1 {bump}\no2 {bump}"
        namespace = {tau: (getattr(self, tau), "second") for tau in traces.values()}
        namespace |= {a: (getattr(self, a), "1") for a in ("a2_plus", "a3_plus", "a2_minus", "a3_minus")}
        namespace |= {"w_min": (self.w_min, unit), "w_max": (self.w_max, unit)}
        return model, on_pre, on_post, namespace
