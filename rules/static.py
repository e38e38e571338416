"""The rule that learns nothing: fixed weights."""

from __future__ import annotations

from biosim.rules.base import SpikingRule

from biosim.registry import register


@register("rule", "static")
class Static(SpikingRule):
    """No plasticity; weights stay as built."""

    reads = "nothing"
