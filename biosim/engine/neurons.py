"""Neuron models: one declarative description per model; kernels generated from it by the equation path
(:mod:`biosim.engine.equations`) or, where measurably faster, hand-written Numba kernels that read it by name.

Each model is described once (:class:`ModelDescription`): state variables with their dimensions, the
equations in Brian2 syntax, threshold, reset, integration scheme, synaptic targets and the variables clamped
during refractoriness; its parameters (with units) are the pydantic fields. From that description come the
kernel's parameter record (a NamedTuple type per model, :meth:`NeuronModel.params`) and the Brian2 equations
and namespace (:meth:`NeuronModel.brian2`), so the two backends cannot drift apart.

Kernel contract (per time step, one call per thread's block of the population):

* ``update(S, last, P, has_input, t, flags, spk, lo, hi) -> n``: integrate neurons ``lo`` to ``hi - 1`` over
  one step (``S[k]`` is state variable ``k`` in SI units), then threshold; write the indices of those that spiked,
  in increasing order, into ``spk[lo:]``, set ``last[i] = t`` for them and return how many spiked. One thread
  calls it per block of neurons (``lo`` a multiple of ``FLAG_BLOCK``), so it reads and writes only its block.
  ``P`` is the model's parameter record, read by name. ``flags`` is a zeroed uint8 scratch of n bytes padded to a
  multiple of ``FLAG_BLOCK``, for vectorised kernels that write 0/1 flags and hand them to ``collect_spikes``.
  Refractory neurons (``t - last[i] < P.ref`` steps) keep their voltage and cannot spike; their other variables keep
  evolving. ``has_input[0]`` is 0 when no neuron has external input (``i_ext``) during the coming chunk, so
  kernels may skip reading it.
* ``reset(S, P, spk, n)``: apply the after-spike reset to the ``n`` neurons in ``spk``.

Variables in ``clamped`` are frozen while a neuron is refractory, including against synaptic input: input
arriving then is discarded (Brian2's ``unless refractory`` semantics, also NEST's ``iaf_psc_delta``).

The schedule follows Brian2: state update, threshold, synaptic propagation, reset.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import numpy as np
from numba import njit
from pydantic import Field, model_validator

from biosim.params import (
    Conductance,
    Current,
    Frequency,
    Params,
    PositiveCapacitance,
    PositiveConductance,
    PositiveTime,
    PositiveVoltage,
    Time,
    Unit,
    Voltage,
)
from biosim.registry import register

NEVER = -(2**30)  # "last spike" step (int32) of a neuron that has not spiked
MAX_STEPS = 2**31 - 1  # steps are int32 in monitors and spike times: about 59 h at dt = 0.1 ms
BRIAN2_UNITS = {"voltage": "volt", "dimensionless": "1", "current": "amp", "conductance": "siemens",
                "capacitance": "farad", "time": "second", "frequency": "hertz"}


@dataclass(frozen=True)
class ModelDescription:
    """A neuron model written once; the kernel record and the Brian2 model are generated from it.

    ``state``: variable -> dimension, in kernel row order. ``equations``: variable -> right-hand side of
    dx/dt in Brian2 syntax (a state variable without one is set from outside, as ``i_ext``).
    ``subexpressions``: name -> (expression, dimension). ``constants``: names of the per-step constants the
    kernel reads besides the parameters, computed by :meth:`NeuronModel.constants`. ``method``: the
    integration scheme (Brian2's name): the one the hand-written kernel implements, or the generated one's."""

    state: dict[str, str]
    equations: dict[str, str]
    threshold: str
    reset: str
    method: str
    synaptic_targets: tuple[str, ...]
    clamped: tuple[str, ...] = ("v",)
    subexpressions: dict[str, tuple[str, str]] = field(default_factory=dict)
    constants: tuple[str, ...] = ()

    def brian2_equations(self) -> str:
        """The equations as Brian2 reads them, units and ``(unless refractory)`` flags from the state."""
        lines = []
        for var, dimension in self.state.items():
            flag = " (unless refractory)" if var in self.clamped else ""
            rhs = self.equations.get(var)
            unit = BRIAN2_UNITS[dimension]
            lines.append(f"d{var}/dt = {rhs} : {unit}{flag}" if rhs else f"{var} : {unit}")
        lines += [f"{name} = {expr} : {BRIAN2_UNITS[dim]}" for name, (expr, dim) in self.subexpressions.items()]
        return "\n".join(lines)


@dataclass
class Brian2Model:
    """What the Brian2 backend needs to build an equivalent NeuronGroup (values in SI)."""

    equations: str
    threshold: str
    reset: str
    method: str
    namespace: dict[str, tuple[float, str]] = field(default_factory=dict)  # name -> (SI value, dimension)
    refractory: float | str = 0.0  # a period (s; 0: none) or a condition


def _dimension(field_info: Any) -> str:
    unit = next((m for m in field_info.metadata if isinstance(m, Unit)), None)
    return unit.dimension if unit else "dimensionless"


_AS_EQUATIONS: dict[tuple[type, str], Any] = {}  # NeuronModel.as_equations, per model class and parameters


class NeuronModel(Params):
    """Base of spiking neuron models. Subclasses give a ``description`` and their kernels."""

    kind: ClassVar[str] = "neuron"
    description: ClassVar[ModelDescription]
    state_vars: ClassVar[dict[str, str]] = {}  # name -> dimension, in kernel order (from the description)
    synaptic_targets: ClassVar[tuple[str, ...]] = ()
    clamped_during_refractory: ClassVar[tuple[str, ...]] = ()
    #: a state row holding each neuron's last refractory step, for refractoriness that is not a fixed period
    #: after the spike (``None``: refractory while ``step - last spike < ref``)
    refractory_step_row: ClassVar[str | None] = None
    Record: ClassVar[type]  # the kernel's parameter record: ref (steps), every field (SI), the constants
    ordered: ClassVar[tuple[tuple[str, str], ...]] = ()  # (low, high) parameters with low < high required
    update: ClassVar[Any]
    reset: ClassVar[Any]
    #: kernels generated from the description by the equation path (biosim.engine.equations) instead of
    #: hand-written ones: where they are at least as fast (benchmarks/equations.py)
    generated: ClassVar[bool] = False
    t_ref: Time = Field(0.0, ge=0)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        desc = cls.__dict__.get("description")
        if desc is None:
            return
        cls.state_vars, cls.synaptic_targets, cls.clamped_during_refractory = \
            desc.state, desc.synaptic_targets, desc.clamped
        if cls.generated:  # the generated module defines the record
            return
        fields = [("ref", int)] + [(name, float) for name in cls.model_fields] + [(c, float) for c in desc.constants]
        record = NamedTuple(f"{cls.__name__}Params", fields)
        record.__module__ = cls.__module__  # importable by name: Numba's cache index pickles the type
        setattr(sys.modules[cls.__module__], record.__name__, record)
        cls.Record = record

    @model_validator(mode="after")
    def _check_order(self) -> NeuronModel:
        for low, high in self.ordered:
            if not getattr(self, low) < getattr(self, high):
                raise ValueError(f"{low} ({getattr(self, low) * 1e3:g} mV) must be below {high} "
                                 f"({getattr(self, high) * 1e3:g} mV)")
        return self

    def kernels(self) -> tuple[Any, Any]:
        """The compiled ``update`` and ``reset`` of the kernel contract."""
        if self.generated:
            return self.as_equations().kernels()
        return type(self).update, type(self).reset

    @property
    def registry_key(self) -> str:
        """A name unique to this model's kernels: the registry name, or the generated module's."""
        return self.as_equations().registry_key if self.generated else self.registry_name

    def as_equations(self) -> Any:
        """This model's own description as an :class:`~biosim.engine.equations.EquationNeuron` (the same state
        rows, in the same order), built once per distinct set of parameters."""
        key = (type(self), self.model_dump_json())
        if key not in _AS_EQUATIONS:
            from biosim.engine.equations import EquationNeuron

            model = EquationNeuron.from_model(self)
            assert list(model.state_vars) == list(self.state_vars), (model.state_vars, self.state_vars)
            _AS_EQUATIONS[key] = model
        return _AS_EQUATIONS[key]

    def ref_steps(self, dt: float) -> int:
        """The refractory period in steps of ``dt`` (s)."""
        return int(round(self.t_ref / dt))

    def params(self, dt: float) -> tuple:
        """The kernel's parameter record for time step ``dt`` (s)."""
        if self.generated:
            return self.as_equations().params(dt)
        values = {name: float(getattr(self, name)) for name in type(self).model_fields}
        return self.Record(self.ref_steps(dt), **values, **self.constants(dt))

    def constants(self, dt: float) -> dict[str, float]:
        """The per-step constants named in ``description.constants``."""
        return {}

    def default_state(self) -> dict[str, float]:
        """Initial value (SI) of every state variable: the neuron at rest."""
        raise NotImplementedError

    def brian2(self) -> Brian2Model:
        """The Brian2 model: equations, threshold, reset and method from the description; namespace = the
        parameters in SI with their dimension."""
        desc = self.description
        namespace = {name: (float(getattr(self, name)), _dimension(info))
                     for name, info in type(self).model_fields.items() if name != "t_ref"}
        return Brian2Model(desc.brian2_equations(), desc.threshold, desc.reset, desc.method, namespace, self.t_ref)


# ---------------------------------------------------------------------------------------------
@register("neuron", "lif_cuba")
class LIFCuba(NeuronModel):
    """LIF with current-based exponential synapses in voltage form (Vogels & Abbott 2005 CUBA).

    dv/dt = (ge + gi + i_ext - (v - e_l)) / tau_m; dge/dt = -ge/tau_e; dgi/dt = -gi/tau_i (ge, gi, i_ext in
    volts). Integrated exactly over each step (i_ext held constant within a step). The defaults are a neuron at
    rest (e_l = v_reset = -60 mV, below v_th = -50 mV); the CUBA benchmark's e_l = -49 mV, above threshold, is
    its constant drive and set in ``experiments/cuba.yaml``.
    """

    description: ClassVar[ModelDescription] = ModelDescription(
        state={"v": "voltage", "ge": "voltage", "gi": "voltage", "i_ext": "voltage"},
        equations={"v": "(ge + gi + i_ext - (v - e_l)) / tau_m", "ge": "-ge / tau_e", "gi": "-gi / tau_i"},
        threshold="v > v_th", reset="v = v_reset", method="exact", synaptic_targets=("ge", "gi", "v"),
        constants=("dm", "de", "di", "ce", "ci", "cx"))
    tau_m: PositiveTime = Field(20e-3)
    tau_e: PositiveTime = Field(5e-3)
    tau_i: PositiveTime = Field(10e-3)
    v_th: Voltage = -50e-3
    v_reset: Voltage = -60e-3
    e_l: Voltage = -60e-3
    ordered: ClassVar[tuple[tuple[str, str], ...]] = (("v_reset", "v_th"),)

    def constants(self, dt: float) -> dict[str, float]:
        """Exact propagators over one step: decays dm, de, di; couplings ce, ci of ge, gi into v; cx of i_ext."""
        dm = math.exp(-dt / self.tau_m)

        def coupling(tau: float) -> float:
            ds = math.exp(-dt / tau)
            if abs(tau - self.tau_m) < 1e-12 * tau:
                return dt / self.tau_m * dm
            return tau / (tau - self.tau_m) * (ds - dm)

        return {"dm": dm, "de": math.exp(-dt / self.tau_e), "di": math.exp(-dt / self.tau_i),
                "ce": coupling(self.tau_e), "ci": coupling(self.tau_i), "cx": 1.0 - dm}

    def default_state(self) -> dict[str, float]:
        return {"v": self.e_l, "ge": 0.0, "gi": 0.0, "i_ext": 0.0}


FLAG_BLOCK = 64  # spike-flag buffers are padded to a multiple of this many bytes


@njit(cache=True)
def collect_spikes(flags, spk, last, t, lo, hi):
    """Turn the 0/1 spike flags (uint8) an update loop wrote into ``flags[lo:hi]`` into the list of spiking
    indices in ``spk[lo:]`` and mark the spike step in ``last``. Returns the spike count. ``lo`` is a multiple
    of ``FLAG_BLOCK`` and flags past the population's end are 0.

    Writing flags inside the integration loop keeps that loop branch-free (vectorised); the scan reads
    64 flags per test, so a quiet step costs n/64 loads."""
    words = flags.view(np.uint64)
    n = 0
    for b in range(lo // 8, min(words.shape[0], (hi + 63) // 64 * 8), 8):
        if words[b] | words[b + 1] | words[b + 2] | words[b + 3] | words[b + 4] | words[b + 5] | words[b + 6] \
                | words[b + 7]:
            for i in range(8 * b, min(8 * b + 64, hi)):
                if flags[i]:
                    spk[lo + n] = i
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
def _lif_cuba_block(v, ge, gi, i_ext, last, flags, has_input, t, P):
    """One block's step: its rows as separate slices, so LLVM vectorises the loop (indexing rows of ``S`` from
    a runtime ``lo`` in one function keeps it scalar)."""
    ref, v_th, e_l, dm, de, di, ce, ci, cx = P.ref, P.v_th, P.e_l, P.dm, P.de, P.di, P.ce, P.ci, P.cx
    if has_input:  # branch-free loops, so LLVM vectorises them; without input, i_ext is not streamed
        for i in range(v.shape[0]):
            _lif_cuba_neuron(i, i_ext[i] * cx, v, ge, gi, last, flags, t, ref, v_th, e_l, dm, de, di, ce, ci)
    else:
        for i in range(v.shape[0]):
            _lif_cuba_neuron(i, 0.0, v, ge, gi, last, flags, t, ref, v_th, e_l, dm, de, di, ce, ci)


@njit(cache=True)
def lif_cuba_update(S, last, P, has_input, t, flags, spk, lo, hi):
    _lif_cuba_block(S[0, lo:hi], S[1, lo:hi], S[2, lo:hi], S[3, lo:hi], last[lo:hi], flags[lo:hi], has_input[0],
                    t, P)
    return collect_spikes(flags, spk, last, t, lo, hi)


@njit(cache=True)
def reset_v(S, P, spk, n):
    """v <- v_reset."""
    v_reset = P.v_reset
    for k in range(n):
        S[0, spk[k]] = v_reset


LIFCuba.update = lif_cuba_update
LIFCuba.reset = reset_v


# ---------------------------------------------------------------------------------------------
@register("neuron", "lif_coba")
class LIFCoba(NeuronModel):
    """Conductance-based LIF (Brette et al. 2007 COBA benchmark; Song et al. 2000 neuron).

    dv/dt = (ge (e_e - v) + gi (e_i - v) + i_ext - (v - e_l)) / tau_m with ge, gi in units of the leak
    conductance (dimensionless), decaying with tau_e, tau_i. Exponential Euler (generated kernel).
    """

    description: ClassVar[ModelDescription] = ModelDescription(
        state={"v": "voltage", "ge": "dimensionless", "gi": "dimensionless", "i_ext": "voltage"},
        equations={"v": "(ge * (e_e - v) + gi * (e_i - v) + i_ext - (v - e_l)) / tau_m", "ge": "-ge / tau_e",
                   "gi": "-gi / tau_i"},
        threshold="v > v_th", reset="v = v_reset", method="exponential_euler", synaptic_targets=("ge", "gi"))
    generated: ClassVar[bool] = True
    tau_m: PositiveTime = Field(20e-3)
    tau_e: PositiveTime = Field(5e-3)
    tau_i: PositiveTime = Field(10e-3)
    v_th: Voltage = -50e-3
    v_reset: Voltage = -60e-3
    e_l: Voltage = -60e-3
    e_e: Voltage = 0.0
    e_i: Voltage = -80e-3
    ordered: ClassVar[tuple[tuple[str, str], ...]] = (("v_reset", "v_th"),)

    def default_state(self) -> dict[str, float]:
        return {"v": self.e_l, "ge": 0.0, "gi": 0.0, "i_ext": 0.0}


# ---------------------------------------------------------------------------------------------
@register("neuron", "lif_delta")
class LIFDelta(NeuronModel):
    """LIF with delta synapses (Brunel 2000): dv/dt = (e_l + i_ext - v)/tau; a spike adds J to v."""

    description: ClassVar[ModelDescription] = ModelDescription(
        state={"v": "voltage", "i_ext": "voltage"}, equations={"v": "(e_l + i_ext - v) / tau_m"},
        threshold="v > v_th", reset="v = v_reset", method="exact", synaptic_targets=("v",), constants=("dm",))
    tau_m: PositiveTime = Field(20e-3)
    v_th: Voltage = 20e-3
    v_reset: Voltage = 10e-3
    e_l: Voltage = 0.0
    ordered: ClassVar[tuple[tuple[str, str], ...]] = (("v_reset", "v_th"),)

    def constants(self, dt: float) -> dict[str, float]:
        """The membrane decay over one step."""
        return {"dm": math.exp(-dt / self.tau_m)}

    def default_state(self) -> dict[str, float]:
        return {"v": self.e_l, "i_ext": 0.0}


@njit(cache=True, inline="always")
def _lif_delta_neuron(i, drive, v, last, flags, t, ref, v_th, e_l, dm):
    """One neuron's exact step towards e_l + drive (its external input)."""
    free = t - last[i] >= ref
    rest = e_l + drive
    x = rest + (v[i] - rest) * dm if free else v[i]
    v[i] = x
    flags[i] = (x > v_th) & free


@njit(cache=True)
def _lif_delta_block(v, i_ext, last, flags, has_input, t, P):
    """One block's step, its rows as separate slices (as ``_lif_cuba_block``)."""
    ref, v_th, e_l, dm = P.ref, P.v_th, P.e_l, P.dm
    if has_input:  # branch-free loops, so LLVM vectorises them; without input, i_ext is not streamed
        for i in range(v.shape[0]):
            _lif_delta_neuron(i, i_ext[i], v, last, flags, t, ref, v_th, e_l, dm)
    else:
        for i in range(v.shape[0]):
            _lif_delta_neuron(i, 0.0, v, last, flags, t, ref, v_th, e_l, dm)


@njit(cache=True)
def lif_delta_update(S, last, P, has_input, t, flags, spk, lo, hi):
    _lif_delta_block(S[0, lo:hi], S[1, lo:hi], last[lo:hi], flags[lo:hi], has_input[0], t, P)
    return collect_spikes(flags, spk, last, t, lo, hi)


LIFDelta.update = lif_delta_update
LIFDelta.reset = reset_v


# ---------------------------------------------------------------------------------------------
@register("neuron", "izhikevich")
class Izhikevich(NeuronModel):
    """Izhikevich (2003): v' = 0.04 v^2 + 5 v + 140 - u + I, u' = a (b v - u) (mV, ms inside).

    I = i_syn + i_ext in mV (Izhikevich's convention); i_syn decays with tau_syn. Classic RK4 (generated) over
    (v, u, i_syn) per step; spike when v >= v_peak, then v <- c, u <- u + d.
    """

    description: ClassVar[ModelDescription] = ModelDescription(
        state={"v": "voltage", "u": "voltage", "i_syn": "voltage", "i_ext": "voltage"},
        equations={"v": "(0.04 * v**2 / mV + 5 * v + 140 * mV - u + i_syn + i_ext) / ms", "u": "a * (b * v - u)",
                   "i_syn": "-i_syn / tau_syn"},
        threshold="v >= v_peak", reset="v = c\nu += d", method="rk4", synaptic_targets=("i_syn", "v"))
    generated: ClassVar[bool] = True
    a: Frequency = 20.0
    b: float = 0.2
    c: Voltage = -65e-3
    d: Voltage = 8e-3
    v_peak: Voltage = 30e-3
    tau_syn: PositiveTime = Field(5e-3)
    ordered: ClassVar[tuple[tuple[str, str], ...]] = (("c", "v_peak"),)

    def default_state(self) -> dict[str, float]:
        return {"v": self.c, "u": self.b * self.c, "i_syn": 0.0, "i_ext": 0.0}


# ---------------------------------------------------------------------------------------------
@register("neuron", "adex")
class AdEx(NeuronModel):
    """Adaptive exponential IF (Brette & Gerstner 2005), current-based exponential synapses.

    C dv/dt = -g_l (v - e_l) + g_l delta_t exp((v - v_t)/delta_t) - w + i_syn + i_ext;
    tau_w dw/dt = a (v - e_l) - w. Classic RK4 (generated) over (v, w, i_syn) per step; spike when v > v_peak,
    then v <- v_reset, w <- w + b. As in NEST's aeif models the right-hand side is evaluated at
    min(v, v_peak), so Runge-Kutta stages that overshoot during the upstroke cannot blow up w.
    """

    description: ClassVar[ModelDescription] = ModelDescription(
        state={"v": "voltage", "w": "current", "i_syn": "current", "i_ext": "current"},
        equations={"v": "(-g_l * (v_eff - e_l) + g_l * delta_t * exp((v_eff - v_t) / delta_t) - w + i_syn + i_ext)"
                        " / c_m", "w": "(a * (v_eff - e_l) - w) / tau_w", "i_syn": "-i_syn / tau_syn"},
        subexpressions={"v_eff": ("clip(v, -1 * volt, v_peak)", "voltage")},
        threshold="v > v_peak", reset="v = v_reset\nw += b", method="rk4", synaptic_targets=("i_syn",))
    generated: ClassVar[bool] = True
    c_m: PositiveCapacitance = Field(281e-12)
    g_l: PositiveConductance = Field(30e-9)
    e_l: Voltage = -70.6e-3
    v_t: Voltage = -50.4e-3
    delta_t: PositiveVoltage = Field(2e-3)
    tau_w: PositiveTime = Field(144e-3)
    a: Conductance = 4e-9
    b: Current = 80.5e-12
    v_reset: Voltage = -70.6e-3
    v_peak: Voltage = 0.0
    tau_syn: PositiveTime = Field(5e-3)
    ordered: ClassVar[tuple[tuple[str, str], ...]] = (("v_reset", "v_peak"),)

    def default_state(self) -> dict[str, float]:
        return {"v": self.e_l, "w": 0.0, "i_syn": 0.0, "i_ext": 0.0}
