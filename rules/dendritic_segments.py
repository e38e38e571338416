"""Learning rules for dendritic segments (plug into ``dendritic_segments``: temporal memory, SDR neurons).

Kernel contract (module-level Numba functions; ``st`` is a ``networks.dendritic.segments.Segments`` store):

* ``learn(st, seg, prev_active, winners, n_winners, n_active_potential, p, max_synapses, scratch)``: the
  segment chosen to learn this step (it was active and its column became active, or it matched best
  in a bursting column, or it was just created with ``n_active_potential = 0``); ``prev_active`` is a
  0/1 mask of the previously active cells, ``winners[:n_winners]`` the previous winner cells (the
  cells new synapses may come from), ``scratch`` a zeroed uint8 mask the kernel leaves zeroed.
* ``punish(st, seg, prev_active, p)``: a matching segment whose cell was predicted but whose column
  stayed inactive.

``p`` is the rule's packed float64 parameters; every rule reads its own layout.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numba import njit
from pydantic import Field

from biosim.networks.dendritic.segments import adapt, grow_synapses
from biosim.registry import register
from biosim.targets import Rule

DENDRITIC_SEGMENTS = "dendritic_segments"


class SegmentRule(Rule):
    """A rule on the permanences of dendritic segments."""

    plugs_into: ClassVar[str] = DENDRITIC_SEGMENTS
    learn: ClassVar[Any]
    punish: ClassVar[Any]

    max_new_synapses: int = Field(20, ge=0, description="synapses a learning segment grows up to, per step")

    def pack(self) -> np.ndarray:
        raise NotImplementedError

    def max_growth(self) -> int:
        """The most synapses one segment can gain in one step (the store keeps room for them)."""
        return self.max_new_synapses


# -- htm.core's permanence rule ----------------------------------------------------------------------
@njit(cache=True)
def permanence_learn(st, seg, prev_active, winners, n_winners, n_active_potential, p, max_synapses, scratch):
    initial, increment, decrement, max_new = p[0], p[1], p[2], int(p[4])
    adapt(st, seg, prev_active, increment, decrement, 0.0)
    if max_new > n_active_potential:
        grow_synapses(st, seg, winners, n_winners, max_new - n_active_potential, initial, max_synapses, scratch)


@njit(cache=True)
def permanence_punish(st, seg, prev_active, p):
    if p[3] > 0.0:
        adapt(st, seg, prev_active, -p[3], 0.0, 0.0)


@register("rule", "htm_permanence")
class HTMPermanence(SegmentRule):
    """htm.core's temporal-memory learning: reinforce, punish, prune, grow.

    Synapses from previously active cells gain, the others lose, those at zero are pruned; new synapses
    grow towards previous winner cells; segments that predicted wrongly decay."""

    reads: ClassVar[str] = "previously active and winner cells"
    initial_permanence: float = Field(0.21, ge=0, le=1, description="permanence of a new synapse")
    increment: float = Field(0.10, ge=0, le=1, description="gain of a synapse from an active cell")
    decrement: float = Field(0.10, ge=0, le=1, description="loss of a synapse from an inactive cell")
    predicted_segment_decrement: float = Field(0.0, ge=0, le=1, description="loss on wrongly predicting segments")

    learn = permanence_learn
    punish = permanence_punish

    def pack(self) -> np.ndarray:
        return np.array([self.initial_permanence, self.increment, self.decrement, self.predicted_segment_decrement,
                         self.max_new_synapses], np.float64)


# -- one-shot growth -------------------------------------------------------------------------------------
@njit(cache=True)
def one_shot_learn(st, seg, prev_active, winners, n_winners, n_active_potential, p, max_synapses, scratch):
    max_new = int(p[1])
    if max_new > n_active_potential:
        grow_synapses(st, seg, winners, n_winners, max_new - n_active_potential, p[0], max_synapses, scratch)


@njit(cache=True)
def one_shot_punish(st, seg, prev_active, p):
    pass


@register("rule", "one_shot_segments")
class OneShotSegments(SegmentRule):
    """Single-trial segment learning: synapses are born connected and never change.

    New synapses start at ``permanence`` (connected by default); a transition is stored after one
    presentation and never forgotten."""

    reads: ClassVar[str] = "previous winner cells"
    permanence: float = Field(1.0, ge=0, le=1, description="permanence of a new synapse")

    learn = one_shot_learn
    punish = one_shot_punish

    def pack(self) -> np.ndarray:
        return np.array([self.permanence, self.max_new_synapses], np.float64)
