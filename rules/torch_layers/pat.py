"""Physics-aware training (Wright, Onodera et al., Nature 601, 549 (2022)) as a ``torch_layers`` rule: on a
physical stack (family ``physical``) every block runs forward on the real medium and backward through a
differentiable twin with a configurable reality gap; the digital maps train end to end by cross-entropy. Without
physical blocks it is backprop on the digital stack."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from biosim.registry import register
from biosim.rules.torch_layers.forward_forward import LayerRule


@register("rule", "pat")
class PhysicsAware(LayerRule):
    """Backprop through physical blocks by their digital twin's gradient (physics-aware training)."""

    reads: ClassVar[str] = "the output error, carried back through each block by its twin's vector-Jacobian product"
    coupling: float = Field(0.0, ge=0, description="the twin's relative error of the coupling (transmission or "
                                                   "oscillator) matrix")
    nonlinearity: float = Field(0.0, description="the twin's mismatch eta of the nonlinear response")


@register("builder", "pat/torch")
def build_pat(rule: PhysicsAware, *, widths: list[int], n_inputs: int, n_classes: int,
              image_shape: tuple[int, ...] | None = None, fronts=None):
    from biosim.physical.waves.pat import PhysicsAwareNet
    from biosim.physical.waves.twins import Gap, twin

    twins = None if fronts is None else [twin(f.medium, Gap(rule.coupling, rule.nonlinearity), f.twin_rng)
                                         for f in fronts]
    return PhysicsAwareNet(widths, n_inputs, n_classes, fronts, twins)
