"""The ``torch_layers`` target: a stack of PyTorch layers trained by layer-local losses.

A rule on this target (``rules/torch_layers/``) has a ``torch`` builder, ``@register("builder",
"<rule>/torch")``, called as ``rule.implementation("torch", widths=..., n_inputs=..., n_classes=...,
image_shape=...)``; it returns a net satisfying :class:`LayerStack`, which the family trains with
``biosim.torch.trainer``. A builder refuses widths or data it cannot build with a
``biosim.torch.common.BuildError`` naming the experiment key at fault (the family's ``prepare`` reports it).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from biosim.registry import register
from biosim.targets import Target


@runtime_checkable
class LayerStack(Protocol):
    """What a built net provides to the trainer and the family (``networks/layer_local/nets.py``)."""

    task: str  # "classification" (predict) or "reconstruction" (reconstruct)

    def groups(self) -> list[list[Any]]:
        """The parameters in groups, one per local loss (a partition of the net's parameters)."""

    def group_names(self) -> list[str]:
        """A label per group, for logs and plots."""

    def local_losses(self, x: Any, y: Any) -> tuple[list[Any], dict[str, Any]]:
        """One loss per group, each reaching its own group's parameters only, and batch statistics."""

    def predict(self, x: Any) -> Any:
        """Class scores (batch x classes); reconstruction nets have ``reconstruct(x)`` instead."""

    def hidden(self, x: Any) -> list[Any]:
        """The hidden activities of every layer (inference path), for embeddings."""


TORCH_LAYERS = register("target", "torch_layers")(Target(
    "the layers of a PyTorch stack, each trained by its own local loss", LayerStack, ("torch",)))
