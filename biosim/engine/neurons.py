"""Neuron models: parameter objects plus module-level Numba kernels with one fixed signature.

Kernel contract (one call per time step, over the whole population):

* ``update(S, last, P, t, flags, spk) -> n``: integrate every neuron over one step (``S[k]`` is
  state variable ``k`` in SI units), then threshold; write the indices of spiking neurons into
  ``spk``, set ``last[i] = t`` for them and return how many spiked. ``flags`` is a zeroed uint8
  scratch of n bytes padded to a multiple of ``FLAG_BLOCK``, for vectorised kernels that write
  0/1 flags and hand them to ``collect_spikes``. Refractory neurons (``t - last[i] <
  P[0]`` steps) keep their voltage and cannot spike; their other variables keep evolving.
  ``P[INPUT_FLAG]`` is 0 when no neuron has external input (``i_ext``) during the coming chunk, so
  kernels may skip reading it.
* ``reset(S, P, spk, n)``: apply the after-spike reset to the ``n`` neurons in ``spk``.

Variables in ``clamped_during_refractory`` are frozen while a neuron is refractory, including
against synaptic input: input arriving then is discarded (Brian2's ``unless refractory``
semantics, also NEST's ``iaf_psc_delta``).

The schedule follows Brian2: state update, threshold, synaptic propagation, reset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numba import njit

from biosim.params import Capacitance, Conductance, Current, Frequency, Params, Time, Voltage
from biosim.registry import register

NEVER = -(2**30)  # "last spike" step (int32) of a neuron that has not spiked
MAX_STEPS = 2**31 - 1  # steps are int32 in monitors and spike times: about 59 h at dt = 0.1 ms
INPUT_FLAG = 1  # P[INPUT_FLAG] != 0 when some neuron of the population has external input (i_ext)


@dataclass
class Brian2Model:
    """What the Brian2 backend needs to build an equivalent NeuronGroup (values in SI)."""

    equations: str
    threshold: str
    reset: str
    method: str
    namespace: dict[str, tuple[float, str]] = field(default_factory=dict)  # name -> (SI value, unit)


class NeuronModel(Params):
    """Base of spiking neuron models. Subclasses declare their state and kernels."""

    kind: ClassVar[str] = "neuron"
    state_vars: ClassVar[dict[str, str]] = {}  # name -> dimension, in kernel order
    synaptic_targets: ClassVar[tuple[str, ...]] = ()
    clamped_during_refractory: ClassVar[tuple[str, ...]] = ("v",)
    update: ClassVar[Any]
    reset: ClassVar[Any]
    t_ref: Time = 0.0

    def ref_steps(self, dt: float) -> int:
        return int(round(self.t_ref / dt))

    def pack(self, dt: float) -> np.ndarray:
        """Parameters as the float64 array the kernels read: P[0] refractory period (steps), P[INPUT_FLAG]
        whether any neuron has external input (set by the builder; 1 until then), then ``constants``."""
        return np.array([self.ref_steps(dt), 1.0, *self.constants(dt)], np.float64)

    def constants(self, dt: float) -> list[float]:
        """The model's per-step constants, in the order its kernels read them from P[2] on."""
        raise NotImplementedError

    def default_state(self) -> dict[str, float]:
        raise NotImplementedError

    def brian2(self) -> Brian2Model:
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------
@register("neuron", "lif_cuba")
class LIFCuba(NeuronModel):
    """LIF with current-based exponential synapses in voltage form (Vogels & Abbott 2005 CUBA).

    dv/dt = (ge + gi + i_ext - (v - e_l)) / tau_m; dge/dt = -ge/tau_e; dgi/dt = -gi/tau_i.
    Integrated exactly over each step (i_ext held constant within a step).
    """

    state_vars: ClassVar[dict[str, str]] = {"v": "voltage", "ge": "voltage", "gi": "voltage", "i_ext": "voltage"}
    synaptic_targets: ClassVar[tuple[str, ...]] = ("ge", "gi", "v")
    tau_m: Time = 20e-3
    tau_e: Time = 5e-3
    tau_i: Time = 10e-3
    v_th: Voltage = -50e-3
    v_reset: Voltage = -60e-3
    e_l: Voltage = -49e-3

    def constants(self, dt: float) -> list[float]:
        dm = math.exp(-dt / self.tau_m)

        def coupling(tau: float) -> float:
            ds = math.exp(-dt / tau)
            if abs(tau - self.tau_m) < 1e-12 * tau:
                return dt / self.tau_m * dm
            return tau / (tau - self.tau_m) * (ds - dm)

        return [self.v_th, self.e_l, dm, math.exp(-dt / self.tau_e), math.exp(-dt / self.tau_i),
                coupling(self.tau_e), coupling(self.tau_i), 1.0 - dm, self.v_reset]

    def default_state(self) -> dict[str, float]:
        return {"v": self.e_l, "ge": 0.0, "gi": 0.0, "i_ext": 0.0}

    def brian2(self) -> Brian2Model:
        return Brian2Model(
            "dv/dt = (ge + gi + i_ext - (v - e_l)) / tau_m : volt (unless refractory)\n"
            "dge/dt = -ge / tau_e : volt\ndgi/dt = -gi / tau_i : volt\ni_ext : volt",
            "v > v_th", "v = v_reset", "exact",
            {"tau_m": (self.tau_m, "second"), "tau_e": (self.tau_e, "second"), "tau_i": (self.tau_i, "second"),
             "v_th": (self.v_th, "volt"), "v_reset": (self.v_reset, "volt"), "e_l": (self.e_l, "volt")},
        )


FLAG_BLOCK = 64  # spike-flag buffers are padded to a multiple of this many bytes


@njit(cache=True)
def collect_spikes(flags, spk, last, t):
    """Turn the 0/1 spike flags (uint8) an update loop wrote into ``flags`` into the list of spiking
    indices in ``spk`` and mark the spike step in ``last``. Returns the spike count.

    Writing flags inside the integration loop keeps that loop branch-free (vectorised); the scan reads
    64 flags per test, so a quiet step costs n/64 loads."""
    words = flags.view(np.uint64)
    n = 0
    for b in range(0, words.shape[0], 8):
        if words[b] | words[b + 1] | words[b + 2] | words[b + 3] | words[b + 4] | words[b + 5] | words[b + 6] \
                | words[b + 7]:
            for i in range(8 * b, 8 * b + 64):
                if flags[i]:
                    spk[n] = i
                    n += 1
                    last[i] = t
    return n


@njit(cache=True, inline="always")
def _lif_cuba_neuron(i, drive, v, ge, gi, last, flags, t, ref, v_th, e_l, dm, de, di, ce, ci):
    """One neuron's exact step; ``drive`` is its external input times (1 - exp(-dt/tau_m))."""
    free = t - last[i] >= ref
    integrated = e_l + (v[i] - e_l) * dm + ge[i] * ce + gi[i] * ci + drive
    x = integrated if free else v[i]
    v[i] = x
    ge[i] *= de
    gi[i] *= di
    flags[i] = (x > v_th) & free


@njit(cache=True)
def lif_cuba_update(S, last, P, t, flags, spk):
    ref, v_th, e_l, dm, de, di, ce, ci, cx = int(P[0]), P[2], P[3], P[4], P[5], P[6], P[7], P[8], P[9]
    v, ge, gi, i_ext = S[0], S[1], S[2], S[3]
    if P[INPUT_FLAG]:  # branch-free loops, so LLVM vectorises them; without input, i_ext is not streamed
        for i in range(v.shape[0]):
            _lif_cuba_neuron(i, i_ext[i] * cx, v, ge, gi, last, flags, t, ref, v_th, e_l, dm, de, di, ce, ci)
    else:
        for i in range(v.shape[0]):
            _lif_cuba_neuron(i, 0.0, v, ge, gi, last, flags, t, ref, v_th, e_l, dm, de, di, ce, ci)
    return collect_spikes(flags, spk, last, t)


@njit(cache=True)
def reset_v(S, P, spk, n):
    """v <- v_reset; models using it store v_reset as their last parameter."""
    v_reset = P[P.shape[0] - 1]
    for k in range(n):
        S[0, spk[k]] = v_reset


LIFCuba.update = lif_cuba_update
LIFCuba.reset = reset_v


# ---------------------------------------------------------------------------------------------
@register("neuron", "lif_coba")
class LIFCoba(NeuronModel):
    """Conductance-based LIF (Brette et al. 2007 COBA benchmark; Song et al. 2000 neuron).

    dv/dt = (ge (e_e - v) + gi (e_i - v) + i_ext - (v - e_l)) / tau_m with ge, gi in units of the leak
    conductance (dimensionless), decaying with tau_e, tau_i. Exponential Euler for v, exact for ge, gi.
    """

    state_vars: ClassVar[dict[str, str]] = {"v": "voltage", "ge": "dimensionless", "gi": "dimensionless",
                                            "i_ext": "voltage"}
    synaptic_targets: ClassVar[tuple[str, ...]] = ("ge", "gi")
    tau_m: Time = 20e-3
    tau_e: Time = 5e-3
    tau_i: Time = 10e-3
    v_th: Voltage = -50e-3
    v_reset: Voltage = -60e-3
    e_l: Voltage = -60e-3
    e_e: Voltage = 0.0
    e_i: Voltage = -80e-3

    def constants(self, dt: float) -> list[float]:
        return [self.v_th, self.e_l, self.e_e, self.e_i, dt / self.tau_m, math.exp(-dt / self.tau_e),
                math.exp(-dt / self.tau_i), self.v_reset]

    def default_state(self) -> dict[str, float]:
        return {"v": self.e_l, "ge": 0.0, "gi": 0.0, "i_ext": 0.0}

    def brian2(self) -> Brian2Model:
        return Brian2Model(
            "dv/dt = (ge * (e_e - v) + gi * (e_i - v) + i_ext - (v - e_l)) / tau_m : volt (unless refractory)\n"
            "dge/dt = -ge / tau_e : 1\ndgi/dt = -gi / tau_i : 1\ni_ext : volt",
            "v > v_th", "v = v_reset", "exponential_euler",
            {"tau_m": (self.tau_m, "second"), "tau_e": (self.tau_e, "second"), "tau_i": (self.tau_i, "second"),
             "v_th": (self.v_th, "volt"), "v_reset": (self.v_reset, "volt"), "e_l": (self.e_l, "volt"),
             "e_e": (self.e_e, "volt"), "e_i": (self.e_i, "volt")},
        )


@njit(cache=True)
def lif_coba_update(S, last, P, t, flags, spk):
    ref, v_th, e_l, e_e, e_i, dt_tau, de, di = int(P[0]), P[2], P[3], P[4], P[5], P[6], P[7], P[8]
    v, ge, gi, i_ext = S[0], S[1], S[2], S[3]
    for i in range(v.shape[0]):
        free = t - last[i] >= ref
        if free:
            g = 1.0 + ge[i] + gi[i]
            v_inf = (e_l + ge[i] * e_e + gi[i] * e_i + i_ext[i]) / g
            v[i] = v_inf + (v[i] - v_inf) * math.exp(-dt_tau * g)
        ge[i] *= de
        gi[i] *= di
        flags[i] = (v[i] > v_th) & free
    return collect_spikes(flags, spk, last, t)


LIFCoba.update = lif_coba_update
LIFCoba.reset = reset_v


# ---------------------------------------------------------------------------------------------
@register("neuron", "lif_delta")
class LIFDelta(NeuronModel):
    """LIF with delta synapses (Brunel 2000): dv/dt = (e_l + i_ext - v)/tau; a spike adds J to v."""

    state_vars: ClassVar[dict[str, str]] = {"v": "voltage", "i_ext": "voltage"}
    synaptic_targets: ClassVar[tuple[str, ...]] = ("v",)
    tau_m: Time = 20e-3
    v_th: Voltage = 20e-3
    v_reset: Voltage = 10e-3
    e_l: Voltage = 0.0

    def constants(self, dt: float) -> list[float]:
        return [self.v_th, self.e_l, math.exp(-dt / self.tau_m), self.v_reset]

    def default_state(self) -> dict[str, float]:
        return {"v": self.e_l, "i_ext": 0.0}

    def brian2(self) -> Brian2Model:
        return Brian2Model(
            "dv/dt = (e_l + i_ext - v) / tau_m : volt (unless refractory)\ni_ext : volt",
            "v > v_th", "v = v_reset", "exact",
            {"tau_m": (self.tau_m, "second"), "v_th": (self.v_th, "volt"), "v_reset": (self.v_reset, "volt"),
             "e_l": (self.e_l, "volt")},
        )


@njit(cache=True, inline="always")
def _lif_delta_neuron(i, drive, v, last, flags, t, ref, v_th, e_l, dm):
    """One neuron's exact step towards e_l + drive (its external input)."""
    free = t - last[i] >= ref
    rest = e_l + drive
    x = rest + (v[i] - rest) * dm if free else v[i]
    v[i] = x
    flags[i] = (x > v_th) & free


@njit(cache=True)
def lif_delta_update(S, last, P, t, flags, spk):
    ref, v_th, e_l, dm = int(P[0]), P[2], P[3], P[4]
    v, i_ext = S[0], S[1]
    if P[INPUT_FLAG]:  # branch-free loops, so LLVM vectorises them; without input, i_ext is not streamed
        for i in range(v.shape[0]):
            _lif_delta_neuron(i, i_ext[i], v, last, flags, t, ref, v_th, e_l, dm)
    else:
        for i in range(v.shape[0]):
            _lif_delta_neuron(i, 0.0, v, last, flags, t, ref, v_th, e_l, dm)
    return collect_spikes(flags, spk, last, t)


LIFDelta.update = lif_delta_update
LIFDelta.reset = reset_v


# ---------------------------------------------------------------------------------------------
@register("neuron", "izhikevich")
class Izhikevich(NeuronModel):
    """Izhikevich (2003): v' = 0.04 v^2 + 5 v + 140 - u + I, u' = a (b v - u) (mV, ms inside).

    I = i_syn + i_ext in mV (Izhikevich's convention); i_syn decays with tau_syn. Classic RK4 over
    (v, u, i_syn) per step; spike when v >= v_peak, then v <- c, u <- u + d.
    """

    state_vars: ClassVar[dict[str, str]] = {"v": "voltage", "u": "voltage", "i_syn": "voltage",
                                            "i_ext": "voltage"}
    synaptic_targets: ClassVar[tuple[str, ...]] = ("i_syn", "v")
    a: Frequency = 20.0
    b: float = 0.2
    c: Voltage = -65e-3
    d: Voltage = 8e-3
    v_peak: Voltage = 30e-3
    tau_syn: Time = 5e-3

    def constants(self, dt: float) -> list[float]:
        return [self.v_peak * 1e3, self.a * 1e-3, self.b, self.c * 1e3, self.d * 1e3, self.tau_syn * 1e3, dt * 1e3]

    def default_state(self) -> dict[str, float]:
        return {"v": self.c, "u": self.b * self.c, "i_syn": 0.0, "i_ext": 0.0}

    def brian2(self) -> Brian2Model:
        return Brian2Model(
            "dv/dt = (0.04 * v**2 / mV + 5 * v + 140 * mV - u + i_syn + i_ext) / ms : volt (unless refractory)\n"
            "du/dt = a * (b * v - u) : volt\ndi_syn/dt = -i_syn / tau_syn : volt\ni_ext : volt",
            "v >= v_peak", "v = c\nu += d", "rk4",
            {"a": (self.a, "hertz"), "b": (self.b, "1"), "c": (self.c, "volt"), "d": (self.d, "volt"),
             "v_peak": (self.v_peak, "volt"), "tau_syn": (self.tau_syn, "second")},
        )


@njit(cache=True)
def _izh_rates(v, u, i_syn, i_ext, a, b, tau_syn, free):
    """Derivatives (mV/ms) of v, u, i_syn; ``free`` is 0 while refractory (v frozen), else 1."""
    return free * (0.04 * v * v + 5.0 * v + 140.0 - u + i_syn + i_ext), a * (b * v - u), -i_syn / tau_syn


@njit(cache=True)
def izhikevich_update(S, last, P, t, flags, spk):
    ref, v_peak, a, b, tau_syn, h = int(P[0]), P[2], P[3], P[4], P[7], P[8]
    v, u, i_syn, i_ext = S[0], S[1], S[2], S[3]
    n = 0
    for i in range(v.shape[0]):  # classic RK4 over (v, u, i_syn) in mV and ms, as Brian2's rk4
        free = 1.0 if t - last[i] >= ref else 0.0
        x, y, z, c = v[i] * 1e3, u[i] * 1e3, i_syn[i] * 1e3, i_ext[i] * 1e3
        k1 = _izh_rates(x, y, z, c, a, b, tau_syn, free)
        k2 = _izh_rates(x + 0.5 * h * k1[0], y + 0.5 * h * k1[1], z + 0.5 * h * k1[2], c, a, b, tau_syn, free)
        k3 = _izh_rates(x + 0.5 * h * k2[0], y + 0.5 * h * k2[1], z + 0.5 * h * k2[2], c, a, b, tau_syn, free)
        k4 = _izh_rates(x + h * k3[0], y + h * k3[1], z + h * k3[2], c, a, b, tau_syn, free)
        x += h / 6.0 * (k1[0] + 2.0 * k2[0] + 2.0 * k3[0] + k4[0])
        y += h / 6.0 * (k1[1] + 2.0 * k2[1] + 2.0 * k3[1] + k4[1])
        z += h / 6.0 * (k1[2] + 2.0 * k2[2] + 2.0 * k3[2] + k4[2])
        if free and not x < v_peak:  # also catches an overflow to inf/nan at the spike upstroke
            spk[n] = i
            n += 1
            last[i] = t
        v[i], u[i], i_syn[i] = x * 1e-3, y * 1e-3, z * 1e-3
    return n


@njit(cache=True)
def izhikevich_reset(S, P, spk, n):
    c, d = P[5] * 1e-3, P[6] * 1e-3
    for k in range(n):
        S[0, spk[k]] = c
        S[1, spk[k]] += d


Izhikevich.update = izhikevich_update
Izhikevich.reset = izhikevich_reset


# ---------------------------------------------------------------------------------------------
@register("neuron", "adex")
class AdEx(NeuronModel):
    """Adaptive exponential IF (Brette & Gerstner 2005), current-based exponential synapses.

    C dv/dt = -g_l (v - e_l) + g_l delta_t exp((v - v_t)/delta_t) - w + i_syn + i_ext;
    tau_w dw/dt = a (v - e_l) - w. Classic RK4 over (v, w, i_syn) per step; spike when v > v_peak,
    then v <- v_reset, w <- w + b. As in NEST's aeif models the right-hand side is evaluated at
    min(v, v_peak), so Runge-Kutta stages that overshoot during the upstroke cannot blow up w.
    """

    state_vars: ClassVar[dict[str, str]] = {"v": "voltage", "w": "current", "i_syn": "current",
                                            "i_ext": "current"}
    synaptic_targets: ClassVar[tuple[str, ...]] = ("i_syn",)
    c_m: Capacitance = 281e-12
    g_l: Conductance = 30e-9
    e_l: Voltage = -70.6e-3
    v_t: Voltage = -50.4e-3
    delta_t: Voltage = 2e-3
    tau_w: Time = 144e-3
    a: Conductance = 4e-9
    b: Current = 80.5e-12
    v_reset: Voltage = -70.6e-3
    v_peak: Voltage = 0.0
    tau_syn: Time = 5e-3

    def constants(self, dt: float) -> list[float]:
        return [self.v_peak, self.c_m, self.g_l, self.e_l, self.v_t, self.delta_t, self.tau_w, self.a, self.b,
                self.tau_syn, dt, self.v_reset]

    def default_state(self) -> dict[str, float]:
        return {"v": self.e_l, "w": 0.0, "i_syn": 0.0, "i_ext": 0.0}

    def brian2(self) -> Brian2Model:
        return Brian2Model(
            "dv/dt = (-g_l * (v_eff - e_l) + g_l * delta_t * exp((v_eff - v_t) / delta_t) - w"
            " + i_syn + i_ext) / c_m : volt (unless refractory)\n"
            "dw/dt = (a * (v_eff - e_l) - w) / tau_w : amp\ndi_syn/dt = -i_syn / tau_syn : amp\ni_ext : amp\n"
            "v_eff = clip(v, -1 * volt, v_peak) : volt",
            "v > v_peak", "v = v_reset\nw += b", "rk4",
            {"c_m": (self.c_m, "farad"), "g_l": (self.g_l, "siemens"), "e_l": (self.e_l, "volt"),
             "v_t": (self.v_t, "volt"), "delta_t": (self.delta_t, "volt"), "tau_w": (self.tau_w, "second"),
             "a": (self.a, "siemens"), "b": (self.b, "amp"), "v_reset": (self.v_reset, "volt"),
             "v_peak": (self.v_peak, "volt"), "tau_syn": (self.tau_syn, "second")},
        )


@njit(cache=True)
def _adex_rates(v, w, i_syn, i_ext, P, free):
    """Derivatives (SI) of v, w, i_syn; ``free`` is 0 while refractory (v frozen), else 1."""
    v_peak, c_m, g_l, e_l, v_t, delta_t, tau_w, a, tau_syn = P[2], P[3], P[4], P[5], P[6], P[7], P[8], P[9], P[11]
    v = min(v, v_peak)  # as NEST's aeif models: RK stages overshooting the spike must not feed w
    spike_current = g_l * delta_t * math.exp((v - v_t) / delta_t)
    dv = free * (-g_l * (v - e_l) + spike_current - w + i_syn + i_ext) / c_m
    return dv, (a * (v - e_l) - w) / tau_w, -i_syn / tau_syn


@njit(cache=True)
def adex_update(S, last, P, t, flags, spk):
    ref, v_peak, h = int(P[0]), P[2], P[12]
    v, w, i_syn, i_ext = S[0], S[1], S[2], S[3]
    n = 0
    for i in range(v.shape[0]):  # classic RK4 over (v, w, i_syn), as Brian2's rk4
        free = 1.0 if t - last[i] >= ref else 0.0
        x, y, z, c = v[i], w[i], i_syn[i], i_ext[i]
        k1 = _adex_rates(x, y, z, c, P, free)
        k2 = _adex_rates(x + 0.5 * h * k1[0], y + 0.5 * h * k1[1], z + 0.5 * h * k1[2], c, P, free)
        k3 = _adex_rates(x + 0.5 * h * k2[0], y + 0.5 * h * k2[1], z + 0.5 * h * k2[2], c, P, free)
        k4 = _adex_rates(x + h * k3[0], y + h * k3[1], z + h * k3[2], c, P, free)
        x += h / 6.0 * (k1[0] + 2.0 * k2[0] + 2.0 * k3[0] + k4[0])
        y += h / 6.0 * (k1[1] + 2.0 * k2[1] + 2.0 * k3[1] + k4[1])
        z += h / 6.0 * (k1[2] + 2.0 * k2[2] + 2.0 * k3[2] + k4[2])
        if free and not x <= v_peak:
            spk[n] = i
            n += 1
            last[i] = t
        v[i], w[i], i_syn[i] = x, y, z
    return n


@njit(cache=True)
def adex_reset(S, P, spk, n):
    b, v_reset = P[10], P[13]
    for k in range(n):
        S[0, spk[k]] = v_reset
        S[1, spk[k]] += b


AdEx.update = adex_update
AdEx.reset = adex_reset
