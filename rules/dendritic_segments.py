"""Learning rules for dendritic segments (plug into ``dendritic_segments``: temporal memory, SDR neurons).

The rules are declarative parameter objects; what the Numba engine runs for each is made by its builder
(``@register("builder", "<rule>/numba")``): a ``SegmentRuleKernels`` record (declared with the target in
``biosim.networks.dendritic.target``, which states the kernel contract) holding the rule's kernels, which live
with the segment store they edit (``biosim.networks.dendritic.learning``), and its typed parameter record below.
Builders import that engine code when called, so a rule imports no network code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, NamedTuple

from pydantic import Field

from biosim.registry import register
from biosim.targets import Rule

if TYPE_CHECKING:
    from biosim.networks.dendritic.target import SegmentRuleKernels

DENDRITIC_SEGMENTS = "dendritic_segments"


class SegmentRule(Rule):
    """A rule on the permanences of dendritic segments."""

    plugs_into: ClassVar[str] = DENDRITIC_SEGMENTS

    max_new_synapses: int = Field(20, ge=0, description="synapses a learning segment grows up to, per step")

    def max_growth(self) -> int:
        """The most synapses one segment can gain in one step (the store keeps room for them)."""
        return self.max_new_synapses


# -- htm.core's permanence rule ----------------------------------------------------------------------
class PermanenceParams(NamedTuple):
    """``htm_permanence`` as its kernels read it (permanences in [0, 1])."""

    initial: float
    increment: float
    decrement: float
    predicted_decrement: float
    max_new: int


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


@register("builder", "htm_permanence/numba")
def htm_permanence_numba(rule: HTMPermanence) -> SegmentRuleKernels:
    """Adapt (reinforce, punish, prune at 0) then grow; wrongly predicting segments lose their decrement."""
    from biosim.networks.dendritic import learning
    from biosim.networks.dendritic.target import SegmentRuleKernels

    params = PermanenceParams(float(rule.initial_permanence), float(rule.increment), float(rule.decrement),
                              float(rule.predicted_segment_decrement), int(rule.max_new_synapses))
    return SegmentRuleKernels(learning.permanence_learn, learning.permanence_punish, params)


# -- one-shot growth -------------------------------------------------------------------------------------
class OneShotParams(NamedTuple):
    """``one_shot_segments`` as its kernels read it."""

    permanence: float
    max_new: int


@register("rule", "one_shot_segments")
class OneShotSegments(SegmentRule):
    """Single-trial segment learning: synapses are born connected and never change.

    New synapses start at ``permanence`` (connected by default); a transition is stored after one
    presentation and never forgotten."""

    reads: ClassVar[str] = "previous winner cells"
    permanence: float = Field(1.0, ge=0, le=1, description="permanence of a new synapse")


@register("builder", "one_shot_segments/numba")
def one_shot_segments_numba(rule: OneShotSegments) -> SegmentRuleKernels:
    """Grow only; nothing is punished."""
    from biosim.networks.dendritic import learning
    from biosim.networks.dendritic.target import SegmentRuleKernels

    params = OneShotParams(float(rule.permanence), int(rule.max_new_synapses))
    return SegmentRuleKernels(learning.one_shot_learn, learning.no_punish, params)
