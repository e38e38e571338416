"""The rule contract for spiking projections.

A rule is a validated parameter object that declares what it plugs into (``plugs_into``), the
traces it needs per presynaptic and per postsynaptic neuron, extra per-synapse variables, and
module-level Numba kernels with fixed signatures. The engine never asks which rule it runs: it
decays and bumps the declared traces and calls the kernels.

Kernel signatures (``w``: float64 weights in CSR order, ``syn``: float64[n_vars, n_syn],
``pre_tr``/``post_tr``: float64[n_traces, n_neurons], ``p``: the rule's packed parameters):

* ``on_pre(i, lo, hi, post_idx, w, syn, pre_tr, post_tr, p)`` for a spike of pre neuron ``i``;
  its synapses are ``lo:hi`` with targets ``post_idx[lo:hi]``;
* ``on_post(j, lo, hi, col_syn, col_pre, w, syn, pre_tr, post_tr, p)`` for a spike of post neuron
  ``j``; its synapses are ``col_syn[lo:hi]`` from pre neurons ``col_pre[lo:hi]``;
* ``on_step(w, syn, p, modulator)`` once per step (rules with per-step dynamics only).

Schedule within a step: all ``on_pre`` calls, then pre traces are bumped, then all ``on_post``
calls, then post traces are bumped (so a simultaneous pre/post pair counts as pre-before-post,
as in Brian2), then ``on_step``. Traces see spikes at somatic spike times: a synaptic delay
postpones the postsynaptic effect of a spike, not the plasticity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from biosim.targets import Rule

SPIKING_PROJECTION = "spiking_projection"


@dataclass(frozen=True)
class Trace:
    """A spike trace: decays with ``tau`` (s); a spike adds 1, or resets it to 1 when ``nearest``."""

    tau: float
    nearest: bool = False


Pairing = Literal["all_to_all", "nearest"]


class SpikingRule(Rule):
    """A rule on the synapses of a spiking projection."""

    plugs_into: ClassVar[str] = SPIKING_PROJECTION
    on_pre: ClassVar[Any] = None
    on_post: ClassVar[Any] = None
    on_step: ClassVar[Any] = None
    synapse_vars: ClassVar[tuple[str, ...]] = ()
    needs_modulator: ClassVar[bool] = False

    @property
    def plastic(self) -> bool:
        return self.on_pre is not None or self.on_post is not None or self.on_step is not None

    def pre_traces(self) -> list[Trace]:
        return []

    def post_traces(self) -> list[Trace]:
        return []

    def modulator_tau(self) -> float:
        """Decay time constant (s) of the modulator level fed to ``on_step``."""
        return 1.0

    def modulator_jump(self) -> float:
        """Increase of the modulator level per spike of the modulator population."""
        return 1.0

    def pack(self, dt: float) -> np.ndarray:
        return np.zeros(1)

    def weight_bounds(self) -> tuple[float, float] | None:
        return None
