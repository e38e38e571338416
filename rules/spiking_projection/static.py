"""The rule that learns nothing: fixed weights."""

from __future__ import annotations

from biosim.registry import register
from biosim.rules.base import SpikingRule


@register("rule", "static")
class Static(SpikingRule):
    """No plasticity; weights stay as built."""

    reads = "nothing"
