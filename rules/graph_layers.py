"""Layer-local objectives for graph neural networks (plug into ``graph_layers``; ForwardGNN, Park et al.
ICLR 2024). Declarative rules; each one's ``torch`` builder (registered below as ``"<rule>/torch"``) makes the
torch network (``networks/graph_local/nets.py``): ``rule.implementation("torch", conv=..., widths=...,
n_features=..., n_classes=...)``.

* ``single_forward`` (SF): C virtual class nodes with fixed random features join the graph, each training
  node linked to its class node; layer l is trained alone (greedy, its input detached) with the
  cross-entropy of the dot products between node and class-node embeddings; prediction sums the
  layers' softmax probabilities.
* ``backprop_gnn``: the same convolution stack plus a linear readout trained end to end (the baseline).
* link prediction: ``forward_forward_link`` (BCE on the goodness of z_u * z_v minus theta),
  ``single_forward_link`` (BCE on z_u . z_v), each greedy per layer and scored by the mean over layers of
  the sigmoids; ``backprop_link`` the end-to-end baseline.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from biosim.registry import register
from biosim.targets import Rule

GRAPH_LAYERS = "graph_layers"  # declared in biosim.networks.graph_local.target


class GraphRule(Rule):
    plugs_into: ClassVar[str] = GRAPH_LAYERS
    task: ClassVar[str] = "node"  # node classification or link prediction
    greedy: ClassVar[bool] = True  # layers trained one after the other (else all at once)


@register("rule", "single_forward")
class SingleForward(GraphRule):
    """ForwardGNN's single-forward rule: per layer, class-node dot-product cross-entropy, no negatives."""

    reads: ClassVar[str] = "the layer's own node and virtual class-node embeddings"


@register("rule", "backprop_gnn")
class BackpropGNN(GraphRule):
    """End-to-end backpropagation through the convolution stack and a linear readout (the baseline)."""

    reads: ClassVar[str] = "the output error, propagated through every layer"
    greedy: ClassVar[bool] = False


# -- link prediction -------------------------------------------------------------------------------------
class LinkRule(GraphRule):
    """A rule for link prediction: node embeddings z, edge features o = z_u * z_v, positive edges and
    sampled non-edges."""

    task: ClassVar[str] = "link"


@register("rule", "forward_forward_link")
class ForwardForwardLink(LinkRule):
    """ForwardGNN FF link prediction: per layer, BCE on ||z_u * z_v||^2 - theta (goodness of the edge)."""

    reads: ClassVar[str] = "the layer's own embeddings of edge endpoints"
    score: ClassVar[str] = "goodness"
    theta: float = Field(2.0, description="goodness threshold")


@register("rule", "single_forward_link")
class SingleForwardLink(LinkRule):
    """ForwardGNN SF ("FL") link prediction: per layer, BCE on the dot product z_u . z_v."""

    reads: ClassVar[str] = "the layer's own embeddings of edge endpoints"
    score: ClassVar[str] = "dot"


@register("rule", "backprop_link")
class BackpropLink(LinkRule):
    """End-to-end backprop of the dot-product BCE through every layer (the baseline)."""

    reads: ClassVar[str] = "the output error, propagated through every layer"
    score: ClassVar[str] = "dot"
    greedy: ClassVar[bool] = False


@register("rule", "forward_forward_label_appending")
class ForwardForwardLabelAppending(GraphRule):
    """ForwardGNN FF + LA: node features joined with a label vector (true label on training nodes for
    positives, each wrong label for negatives, uniform 1/C elsewhere); per layer BCE on the goodness
    sum(h^2) - theta of the training nodes; prediction tries every label on the evaluated nodes."""

    reads: ClassVar[str] = "the layer's own embeddings under positive and negative label appending"
    theta: float = Field(2.0, description="goodness threshold")


@register("rule", "forward_forward_virtual_nodes")
class ForwardForwardVirtualNodes(GraphRule):
    """ForwardGNN FF + VN: C virtual class nodes (fixed random features); positives join each training node
    to its class node, negatives to every wrong one; goodness BCE per layer as in label appending."""

    reads: ClassVar[str] = "the layer's own embeddings under positive and negative class-node wiring"
    theta: float = Field(2.0, description="goodness threshold")


@register("rule", "single_forward_top2loss")
class SingleForwardTop2Loss(GraphRule):
    """ForwardGNN SF-TopDown, Top2Loss form: layer j's loss uses the mean of its output and the previous
    step's detached outputs of the layers above.

    All layers train together; prediction runs ``test_steps`` steps and sums the class probabilities of
    steps 2 .. test_steps - 1."""

    reads: ClassVar[str] = "the layer's own embeddings and the previous states of the layers above"
    greedy: ClassVar[bool] = False
    test_steps: int = Field(10, ge=3, description="recurrent steps at prediction")


@register("rule", "single_forward_top2input")
class SingleForwardTop2Input(GraphRule):
    """ForwardGNN SF-TopDown, Top2Input form: each layer also reads the state of the layer above.

    The state above the top layer is the label (one-hot on training and class nodes, uniform elsewhere);
    even and odd layers update alternately; prediction sums steps 2 .. test_steps - 1."""

    reads: ClassVar[str] = "the layer's own embeddings; the states of its neighbours below and above"
    greedy: ClassVar[bool] = False
    test_steps: int = Field(10, ge=3, description="recurrent steps at prediction")


@register("rule", "top_down_link")
class TopDownLink(LinkRule):
    """ForwardGNN TopDown link prediction: Top2Input layers (no label state), dot-product BCE per layer."""

    reads: ClassVar[str] = "the layer's own embeddings; the states of its neighbours below and above"
    score: ClassVar[str] = "dot"
    greedy: ClassVar[bool] = False
    test_steps: int = Field(10, ge=3, description="recurrent steps at prediction")


# -- torch builders: (rule, conv, widths, n_features, n_classes) -> graph net --------------------------------
@register("builder", "single_forward/torch")
def build_single_forward(rule: SingleForward, *, conv: str, widths: list[int], n_features: int, n_classes: int):
    from biosim.networks.graph_local.nets import SingleForwardNet

    return SingleForwardNet(conv, widths, n_features, n_classes)


@register("builder", "backprop_gnn/torch")
def build_backprop_gnn(rule: BackpropGNN, *, conv: str, widths: list[int], n_features: int, n_classes: int):
    from biosim.networks.graph_local.nets import BackpropGraphNet

    return BackpropGraphNet(conv, widths, n_features, n_classes)


@register("builder", "forward_forward_link/torch")
@register("builder", "single_forward_link/torch")
@register("builder", "backprop_link/torch")
def build_link(rule: LinkRule, *, conv: str, widths: list[int], n_features: int, n_classes: int):
    """Link prediction from edge features z_u * z_v, per layer (greedy) or end to end."""
    from biosim.networks.graph_local.nets import LinkNet

    return LinkNet(rule, conv, widths, n_features)


@register("builder", "forward_forward_label_appending/torch")
def build_label_appending(rule: ForwardForwardLabelAppending, *, conv: str, widths: list[int], n_features: int,
                          n_classes: int):
    from biosim.networks.graph_local.nets import LabelAppendingNet

    return LabelAppendingNet(rule, conv, widths, n_features, n_classes)


@register("builder", "forward_forward_virtual_nodes/torch")
def build_virtual_nodes(rule: ForwardForwardVirtualNodes, *, conv: str, widths: list[int], n_features: int,
                        n_classes: int):
    from biosim.networks.graph_local.nets import VirtualNodeNet

    return VirtualNodeNet(rule, conv, widths, n_features, n_classes)


@register("builder", "single_forward_top2loss/torch")
def build_top2loss(rule: SingleForwardTop2Loss, *, conv: str, widths: list[int], n_features: int, n_classes: int):
    """Top2Loss averages the outputs of layers, so their widths must be equal."""
    from biosim.networks.graph_local.nets import Top2LossNet
    from biosim.torch.common import BuildError

    if len(set(widths)) != 1:
        raise BuildError(f"single_forward_top2loss averages layers, so all widths must be equal; got {widths}",
                         ("hidden",))
    return Top2LossNet(rule, conv, widths, n_features, n_classes)


@register("builder", "single_forward_top2input/torch")
def build_top2input(rule: SingleForwardTop2Input, *, conv: str, widths: list[int], n_features: int, n_classes: int):
    from biosim.networks.graph_local.nets import Top2InputNet

    return Top2InputNet(rule, conv, widths, n_features, n_classes)


@register("builder", "top_down_link/torch")
def build_top_down_link(rule: TopDownLink, *, conv: str, widths: list[int], n_features: int, n_classes: int):
    from biosim.networks.graph_local.nets import LinkTop2InputNet

    return LinkTop2InputNet(rule, conv, widths, n_features)
