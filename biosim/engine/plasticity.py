"""The ``spiking_projection`` target: what a rule on the synapses of a spiking projection provides.

A rule (:class:`SpikingRule`) is a validated parameter object. Its builder ``<rule>/numba`` turns it, for a time
step ``dt``, into a :class:`SpikingPlasticity` record; its builder ``<rule>/brian2`` into
:class:`Brian2Synapses` statements. The engine never asks which rule it runs: it decays and bumps the declared
traces and calls the kernels with the record's typed parameters.

Kernel signatures (``w``: float64 weights in CSR order, ``syn``: float64[n_vars, n_syn],
``pre_tr``/``post_tr``: float64[n_traces, n_neurons], ``p``: the rule's parameter NamedTuple, read by name):

* ``on_pre(i, lo, hi, post_idx, w, syn, pre_tr, post_tr, p)`` for a spike of pre neuron ``i``;
  its synapses are ``lo:hi`` with targets ``post_idx[lo:hi]``;
* ``on_post(j, lo, hi, col_syn, col_pre, w, syn, pre_tr, post_tr, p)`` for a spike of post neuron
  ``j``; its synapses are ``col_syn[lo:hi]`` from pre neurons ``col_pre[lo:hi]``;
* ``on_step(w, syn, p, modulator)`` once per step (rules with per-step dynamics only).

Schedule within a step: ``on_step`` of a rule without a modulator (clock-driven synaptic dynamics, integrated
before the step's spikes act, as Brian2 integrates them in its ``groups`` slot), all ``on_pre`` calls, then pre
traces are bumped, then all ``on_post`` calls, then post traces are bumped (so a simultaneous pre/post pair
counts as pre-before-post, as in Brian2), then ``on_step`` of a rule with a modulator (it reads this step's
modulator spikes). Traces see spikes at somatic spike times: a synaptic delay
postpones the postsynaptic effect of a spike, not the plasticity.

Weights on a device (a projection's ``device:``, any registry entry with a ``synapses`` method returning a
:class:`SynapseDevice`): the rule is unchanged; right after each of its kernel calls the device's
``write(s, w, state, p, rng, t)`` runs for every synapse s the call could have changed (a pre spike's row, a post
spike's column, all synapses after ``on_step``) and lands the rule's proposal w[s] on the device (levels, write
noise, faults, bounds), setting w[s] to what the device then holds; ``age(w, state, p, t)`` runs every ``every``
steps (drift). The weights the engine propagates and records are always the device's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np
from pydantic import ValidationInfo, model_validator

from biosim.registry import register
from biosim.targets import Rule, Target
from biosim.units import format_quantity

SPIKING_PROJECTION = "spiking_projection"
BACKENDS = {"biosim": "numba", "brian2": "brian2"}  # experiment backend -> builder backend


@dataclass(frozen=True)
class Trace:
    """A spike trace: decays with ``tau`` (s); a spike adds 1, or resets it to 1 when ``nearest``."""

    tau: float
    nearest: bool = False


Pairing = Literal["all_to_all", "nearest"]


class Modulator(NamedTuple):
    """The modulator level fed to ``on_step``: decays with ``tau`` (s), rises by ``jump`` per modulator spike."""

    tau: float
    jump: float


class SpikingPlasticity(NamedTuple):
    """What the Numba engine runs for a plastic rule on a spiking projection (built for one ``dt``)."""

    on_pre: Any  # @njit kernel or None
    on_post: Any
    on_step: Any
    pre_traces: tuple[Trace, ...]
    post_traces: tuple[Trace, ...]
    synapse_vars: tuple[str, ...]  # per-synapse variables, rows of ``syn``
    params: tuple  # the rule's typed parameter record (a NamedTuple of floats)
    modulator: Modulator | None = None


class Brian2Synapses(NamedTuple):
    """What the Brian2 backend needs for a plastic rule: the synapse model (with ``w_syn`` in the target's unit),
    the plasticity statements at pre and post spikes, and the namespace (name -> (SI value, Brian2 unit))."""

    model: str
    on_pre: str
    on_post: str
    namespace: dict[str, tuple[float, str]]
    method: str | None = None  # integration of clock-driven synaptic equations (Brian2's choice when None)


class SynapseDevice(NamedTuple):
    """What the Numba engine runs for the weights of a projection held on a device (see the module docstring)."""

    write: Any  # @njit write(s, w, state, p, rng, t)
    age: Any  # @njit age(w, state, p, t), or None
    every: int  # steps between age calls
    params: tuple  # the device's typed parameter record
    state: np.ndarray  # float64[n_vars, n_syn]
    weights: np.ndarray  # the initial weights as the device holds them (programmed)


register("target", "spiking_projection")(Target(
    "the weights (and per-synapse variables) of a spiking projection, from pre/post spike traces",
    SpikingPlasticity, ("numba", "brian2")))


class SpikingRule(Rule):
    """A rule on the synapses of a spiking projection; plastic when it has a builder for some backend."""

    plugs_into: ClassVar[str] = SPIKING_PROJECTION
    needs_modulator: ClassVar[bool] = False

    @model_validator(mode="after")
    def _check_bounds(self, info: ValidationInfo) -> SpikingRule:
        bounds = self.weight_bounds()
        if bounds is not None and not bounds[0] < bounds[1]:
            dimension = (info.context or {}).get("weight_dimension", "dimensionless")  # SI without a target
            raise ValueError(f"w_min ({format_quantity(bounds[0], dimension)}) must be below w_max "
                             f"({format_quantity(bounds[1], dimension)})")
        return self

    @property
    def plastic(self) -> bool:
        """Whether the rule changes weights (it has a builder for some backend)."""
        return bool(self.backends())

    def weight_bounds(self) -> tuple[float, float] | None:
        """(w_min, w_max) the weights are clipped to (unit of the target), or None when unbounded."""
        return None

    def check_weight_dimension(self, dimension: str) -> None:
        """Raise ValueError when the rule cannot act on weights of ``dimension`` (its target's); most take any."""
