"""The rule that learns nothing: fixed weights (no builder: the engine stores no plasticity state)."""

from __future__ import annotations

from biosim.engine.plasticity import SpikingRule
from biosim.registry import register


@register("rule", "static")
class Static(SpikingRule):
    """No plasticity; weights stay as built."""

    reads = "nothing"
