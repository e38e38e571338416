"""``lif_euler``: the leaky integrate-and-fire neuron of the PSPM paper's C code, forward Euler, delta synapses summed
into the next step's update (Bagley, Bordelon, Moseley & Wessel, ``spikesMatchOptInputFixed.c``).

Per step of dt: ``v <- v + (dt * (-v + syn + r_m i_ext)) / tau_m`` where ``syn`` (V) is the summed weight of the
synapses whose presynaptic neuron spiked in the previous step; a neuron that spiked in the previous step starts from
``v_reset`` instead: ``v <- v_reset + (dt / tau_m) (syn + r_m i_ext - v_reset)``; then ``v < v_floor`` is set to
``v_reset``, and ``v > v_th`` spikes. The products are taken in the C code's order, so a NumPy port of that code
gives the same raster bit for bit (``tests/test_pspm_network.py``). The C code thresholds before it updates; here,
as in Brian2, the update comes first, so its raster is this one one step later (its first step never spikes:
``v`` starts at 0).
"""

from __future__ import annotations

from typing import ClassVar

from numba import njit
from pydantic import Field

from biosim.engine.neurons import Brian2Model, ModelDescription, NeuronModel, collect_spikes, reset_v
from biosim.params import PositiveTime, Voltage, positive
from biosim.registry import register

PositiveResistance = positive("resistance")


@register("neuron", "lif_euler")
class LIFEuler(NeuronModel):
    """LIF by forward Euler with the PSPM code's one-step synaptic sum, reset and floor (defaults: the paper's:
    1/tau_m = 30 Hz, r_m = 100 Mohm, v_th = 30 mV, reset to 0 V, floor -15 V)."""

    description: ClassVar[ModelDescription] = ModelDescription(
        state={"v": "voltage", "syn": "voltage", "i_ext": "current"},
        equations={"v": "(-v + syn + r_m * i_ext) / tau_m"},
        threshold="v > v_th", reset="v = v_reset", method="euler", synaptic_targets=("syn",),
        constants=("dt", "rate", "rate_dt"))
    tau_m: PositiveTime = Field(1 / 30)
    r_m: PositiveResistance = Field(1e8)
    v_th: Voltage = 30e-3
    v_reset: Voltage = 0.0
    v_floor: Voltage = Field(-15.0, description="a voltage below it is set to v_reset (the C code's clamp)")
    ordered: ClassVar[tuple[tuple[str, str], ...]] = (("v_reset", "v_th"), ("v_floor", "v_reset"))

    def constants(self, dt: float) -> dict[str, float]:
        """The step dt (s), 1/tau_m (Hz, the C code's ``Tau``) and (1/tau_m) dt (its ``Tau*step``)."""
        rate = 1.0 / self.tau_m
        return {"dt": dt, "rate": rate, "rate_dt": rate * dt}

    def default_state(self) -> dict[str, float]:
        return {"v": 0.0, "syn": 0.0, "i_ext": 0.0}

    def brian2(self) -> Brian2Model:
        """None: Brian2's state update cannot read a synaptic sum that is cleared every step."""
        raise ValueError("neuron model 'lif_euler' has no Brian2 form (its synaptic input is a sum cleared every "
                         "step, read by the next update); run it on backend biosim")


@njit(cache=True)
def lif_euler_update(S, last, P, has_input, t, flags, spk, lo, hi):
    v, syn, i_ext = S[0], S[1], S[2]
    for i in range(lo, hi):  # not vectorised (branches), so the block's slices would gain nothing
        x = syn[i]
        syn[i] = 0.0
        if t - last[i] < P.ref:  # refractory: v held, input discarded
            flags[i] = 0
            continue
        drive = P.r_m * i_ext[i] if has_input[0] else 0.0
        if last[i] == t - 1:  # spiked in the previous step: from v_reset (the C code: 0 + Tau*step*(syn + R*I))
            u = P.v_reset + P.rate_dt * (x + drive - P.v_reset)
        else:  # the C code: V + (step * (-V + syn + R*I)) * Tau
            u = v[i] + (P.dt * (-v[i] + x + drive)) * P.rate
        if u < P.v_floor:
            u = P.v_reset
        v[i] = u
        flags[i] = u > P.v_th
    return collect_spikes(flags, spk, last, t, lo, hi)


LIFEuler.update = lif_euler_update
LIFEuler.reset = reset_v
