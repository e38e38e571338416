"""The ``graph_layers`` target: a stack of graph convolutions trained unit by unit (ForwardGNN).

A rule on this target (``rules/graph_layers.py``) has a ``torch`` builder, ``@register("builder",
"<rule>/torch")``, called as ``rule.implementation("torch", conv=..., widths=..., n_features=...,
n_classes=...)``; it returns a net satisfying :class:`GraphStack` (node classification: ``scores``; link
prediction: ``edge_probability``), which the family trains with ``biosim.torch.trainer``, full batch.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from biosim.registry import register
from biosim.targets import Target


@runtime_checkable
class GraphStack(Protocol):
    """What a built graph net provides (``networks/graph_local/nets.py``)."""

    def units(self) -> list[list[Any]]:
        """The parameters of each unit trained in turn (a layer when greedy, else the whole stack)."""

    def prepare(self, graph: Any, *pairs: Any) -> None:
        """Message-passing operators of ``graph`` (and, for links, the positive and negative training pairs)."""

    def unit_loss(self, k: int, graph: Any) -> Any:
        """Unit ``k``'s full-batch loss."""

    def freeze(self, k: int) -> None:
        """Unit ``k`` is done: its output becomes the next unit's input."""

    def hidden(self, graph: Any) -> list[Any]:
        """Every layer's node embeddings."""


@runtime_checkable
class NodeClassifier(GraphStack, Protocol):
    def scores(self, graph: Any, upto: int) -> Any:
        """Class scores of every node from layers 0..upto (nodes x classes)."""


@runtime_checkable
class LinkPredictor(GraphStack, Protocol):
    def edge_probability(self, pairs: Any, upto: int) -> Any:
        """Probability of an edge for each of the 2 x P node ``pairs``, from layers 0..upto."""


GRAPH_LAYERS = register("target", "graph_layers")(Target(
    "the convolution layers of a graph network, trained one unit after another", GraphStack, ("torch",)))
