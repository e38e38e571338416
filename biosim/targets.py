"""Learning rules and the targets they plug into: the one plug-in pattern of biosim.

A **target** is a kind of thing a rule modifies (a spiking projection, dendritic segments, a Sparsey mac, a
torch layer stack, a graph layer stack, ...). It is declared once, in the package whose engine runs it, as a
:class:`Target` registered in the ``target`` namespace: its name, what a rule on it changes, the typed
protocol that a rule's implementation satisfies there, and the backends it can run on.

A **rule** is a small, frozen, validated parameter object (:class:`Rule`): a registry name, the target it plugs
into, parameters with units and defaults, a docstring. The rule object carries no kernels; its kernels (if any)
and builders live beside it in the same file, or in the backend's package.

A **builder** turns (rule, backend) into what runs: Numba kernels and a typed parameter record, Brian2
statements, a torch module. Builders are registered as ``@register("builder", "<rule>/<backend>")`` beside the
rule or in the backend's package; engines ask :meth:`Rule.implementation`, never the rule for its kernels, so a
new backend adds builders without editing any rule. A rule subclass inherits its parent's builders.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from biosim.params import Params


@dataclass(eq=False)
class Target:
    """A kind of thing learning rules plug into, declared once by the package that runs it."""

    description: str  # what a rule on this target changes, one sentence
    implementation: type  # the Protocol (or record type) that a builder's product satisfies here
    backends: tuple[str, ...]  # backends whose engine runs rules on this target
    registry_name: str = ""


class Rule(Params):
    """Base of every learning rule: a declarative parameter object; ``plugs_into`` names its target."""

    plugs_into: ClassVar[str] = ""
    reads: ClassVar[str] = ""  # what the rule reads, for ``biosim rules``

    def implementation(self, backend: str, **context: Any) -> Any:
        """What ``backend`` runs for this rule: the registered builder ``<rule>/<backend>`` applied to the rule
        and the engine's ``context`` (e.g. ``dt``). A ConfigError names the backends that have one."""
        from biosim import registry
        from biosim.errors import ConfigError

        target = registry.get("target", self.plugs_into)
        if backend not in target.backends:
            raise ConfigError(f"target {self.plugs_into!r} runs on {', '.join(target.backends)}, not {backend!r}")
        return registry.builder(self, backend)(self, **context)

    @classmethod
    def backends(cls) -> list[str]:
        """The backends with a builder for this rule (its own or inherited)."""
        from biosim import registry

        return registry.backends_of(cls)
