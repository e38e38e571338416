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

from typing import Any, ClassVar, NamedTuple

from numba import njit
from pydantic import Field, model_validator

from biosim.engine.plasticity import Brian2Synapses, Pairing, SpikingPlasticity, SpikingRule, Trace
from biosim.params import PositiveTime, Weight
from biosim.registry import register
from biosim.rules.spiking_projection.stdp import clip


class TripletParams(NamedTuple):
    """Kernel parameters: the four amplitudes (fractions of w_max) and the weight bounds."""

    a2_plus: float
    a3_plus: float
    a2_minus: float
    a3_minus: float
    w_min: float
    w_max: float


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
    depression = p.w_max * (p.a2_minus + p.a3_minus * pre_tr[1, i])
    for s in range(lo, hi):
        w[s] = clip(w[s] - depression * post_tr[0, post_idx[s]], p.w_min, p.w_max)


@njit(cache=True)
def triplet_on_post(j, lo, hi, col_syn, col_pre, w, syn, pre_tr, post_tr, p):
    potentiation = p.w_max * (p.a2_plus + p.a3_plus * post_tr[1, j])
    for k in range(lo, hi):
        s = col_syn[k]
        w[s] = clip(w[s] + potentiation * pre_tr[0, col_pre[k]], p.w_min, p.w_max)


@register("rule", "triplet_stdp")
class TripletSTDP(SpikingRule):
    """Triplet STDP; ``preset`` picks a fitted parameter set, explicit fields override it."""

    reads: ClassVar[str] = "two pre and two post spike traces"
    preset: str | None = Field(None, description=f"one of: {', '.join(PRESETS)}")
    tau_plus: PositiveTime = Field(16.8e-3, description="decay of r1")
    tau_minus: PositiveTime = Field(33.7e-3, description="decay of o1")
    tau_x: PositiveTime = Field(101e-3, description="decay of r2")
    tau_y: PositiveTime = Field(125e-3, description="decay of o2")
    a2_plus: float = Field(5e-10, ge=0, description="pair potentiation, fraction of w_max")
    a3_plus: float = Field(6.2e-3, ge=0, description="triplet potentiation, fraction of w_max")
    a2_minus: float = Field(7e-3, ge=0, description="pair depression, fraction of w_max")
    a3_minus: float = Field(2.3e-4, ge=0, description="triplet depression, fraction of w_max")
    w_min: Weight = Field(0.0, description="lower weight bound")
    w_max: Weight = Field(..., gt=0, description="upper weight bound")
    pairing: Pairing = Field("all_to_all", description="which spike pairs interact")

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

    def weight_bounds(self) -> tuple[float, float]:
        return self.w_min, self.w_max


@register("builder", "triplet_stdp/numba")
def triplet_numba(rule: TripletSTDP, dt: float) -> SpikingPlasticity:
    """Kernels, traces (r1, r2) and (o1, o2), and the parameter record (``dt`` plays no role)."""
    nearest = rule.pairing == "nearest"
    params = TripletParams(rule.a2_plus, rule.a3_plus, rule.a2_minus, rule.a3_minus, rule.w_min, rule.w_max)
    return SpikingPlasticity(triplet_on_pre, triplet_on_post, None,
                             (Trace(rule.tau_plus, nearest), Trace(rule.tau_x, nearest)),
                             (Trace(rule.tau_minus, nearest), Trace(rule.tau_y, nearest)), (), params)


@register("builder", "triplet_stdp/brian2")
def triplet_brian2(rule: TripletSTDP, unit: str) -> Brian2Synapses:
    """The same rule as Brian2 statements; ``unit`` is the Brian2 unit of the weight."""
    bump = "= 1" if rule.pairing == "nearest" else "+= 1"
    traces = {"r1": "tau_plus", "r2": "tau_x", "o1": "tau_minus", "o2": "tau_y"}
    model = "\n".join([f"w_syn : {unit}"]
                      + [f"d{x}/dt = -{x} / {tau} : 1 (event-driven)" for x, tau in traces.items()])
    on_pre = f"w_syn = clip(w_syn - w_max * o1 * (a2_minus + a3_minus * r2), w_min, w_max)\nr1 {bump}\nr2 {bump}"
    on_post = f"w_syn = clip(w_syn + w_max * r1 * (a2_plus + a3_plus * o2), w_min, w_max)\no1 {bump}\no2 {bump}"
    namespace = {tau: (getattr(rule, tau), "second") for tau in traces.values()}
    namespace |= {a: (getattr(rule, a), "1") for a in ("a2_plus", "a3_plus", "a2_minus", "a3_minus")}
    namespace |= {"w_min": (rule.w_min, unit), "w_max": (rule.w_max, unit)}
    return Brian2Synapses(model, on_pre, on_post, namespace)
