"""Layer-local objectives for PyTorch layer stacks (plug into ``torch_layers``).

A rule is a declarative parameter object (no torch import); its ``torch`` builder, registered below as
``"<rule>/torch"``, makes the torch ``LocalNet`` (``networks/layer_local/nets.py``) for a given stack of
hidden widths: ``rule.implementation("torch", widths=..., n_inputs=..., n_classes=..., image_shape=...)``.
A LocalNet splits its parameters into groups, one per local loss, and ``local_losses(x, y)`` returns one
loss per group that depends on that group's parameters only: every layer's input is detached, so no
gradient crosses a layer. The trainer (``biosim.torch.trainer``) keeps one optimiser per group; summing the
losses and calling ``backward()`` once therefore trains all groups simultaneously and still locally.

* ``forward_forward`` (Hinton 2022): goodness (mean or sum of squares) of each ReLU layer, pushed above
  theta for positive data (input + true label) and below for negative data (input + a wrong label);
  length normalisation between layers; prediction by accumulated goodness over labels, or a softmax
  readout on the activities for a neutral label.
* ``symba`` (Lee & Song 2023): forward-forward with the balanced loss softplus(-alpha (G+ - G-)).
* ``forward_forward_unsupervised``: hybrid-image negatives (Hinton 2022) and a linear softmax readout.
* ``backprop``: the same stack trained end to end with cross-entropy (the baseline).
* ``counter_current`` (Kao & Hariharan 2024): see ``rules/torch_layers/ccl.py``.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from biosim.registry import register
from biosim.targets import Rule

TORCH_LAYERS = "torch_layers"  # declared in biosim.networks.layer_local.target
Activation = Literal["relu", "elu", "tanh"]
Architecture = Literal["mlp", "cnn"]


class LayerRule(Rule):
    """A local objective for a stack of layers, trained with PyTorch."""

    plugs_into: ClassVar[str] = TORCH_LAYERS
    task: ClassVar[str] = "classification"  # or "reconstruction" (autoencoders)
    embeds_label: ClassVar[bool] = False  # the label joins the input before the first layer (forward-forward)


# -- forward-forward and SymBa ---------------------------------------------------------------------------
@register("rule", "forward_forward")
class ForwardForward(LayerRule):
    """Forward-forward: per layer, goodness above theta for positive data, below for negative data."""

    reads: ClassVar[str] = "the layer's own activities on positive and negative data"
    loss: ClassVar[str] = "ff"
    activation: ClassVar[str] = "relu"
    embeds_label: ClassVar[bool] = True
    label_scale: ClassVar[str] = "one"  # the one-hot label's value: 1, or max |x| of the item ("max")
    goodness: Literal["mean", "sum"] = Field("mean", description="goodness: mean or sum of squared activities")
    theta: float = Field(2.0, description="goodness threshold")
    negatives: Literal["random", "hard", "same_label"] = Field(
        "random", description="wrong label: uniform, in proportion to the net's own scores, or the true label "
                              "(a negative control that cannot learn)")
    prediction: Literal["goodness", "softmax"] = Field(
        "goodness", description="argmax of accumulated goodness over labels, or a softmax readout")
    skip_first_layers: int = Field(0, ge=0, description="layers left out of the accumulated goodness")
    architecture: Architecture = Field(
        "mlp", description="dense layers, or conv 3x3 + max-pool blocks (hidden = channels; needs images)")


@register("rule", "symba")
class SymBa(ForwardForward):
    """SymBa: forward-forward with the balanced loss softplus(-alpha (G_pos - G_neg))."""

    loss: ClassVar[str] = "symba"
    alpha: float = Field(4.0, gt=0, description="sharpness of the balanced loss")


@register("rule", "phyll")
class PhyLL(SymBa):
    """Physical local learning (Momeni et al., Science 2023): per layer (a frozen physical block, then a trained
    linear map), the cosine similarity of |W u + b| to a fixed random unit vector is the goodness, with SymBa's
    balanced loss; the label enters before the first block as one-hot times max |x|. On a digital stack (no
    physical blocks) it is the same objective on plain linear layers."""

    reads: ClassVar[str] = "the layer's own output on positive and negative data, and nothing of the physics"
    activation: ClassVar[str] = "abs"
    label_scale: ClassVar[str] = "max"
    goodness: Literal["cosine"] = Field("cosine", description="cosine similarity of |W u + b| to a fixed random "
                                                              "unit vector per layer")
    prediction: Literal["goodness"] = Field("goodness", description="argmax of the summed goodness over labels")


@register("rule", "forward_forward_unsupervised")
class ForwardForwardUnsupervised(LayerRule):
    """Unsupervised forward-forward: real images are positive, hybrids of two images under a blurred random
    mask are negative; a linear softmax readout learns from the normalised activities of the last layers."""

    reads: ClassVar[str] = "the layer's own activities on real and hybrid images"
    goodness: Literal["mean", "sum"] = Field("mean", description="goodness: mean or sum of squared activities")
    theta: float = Field(2.0, description="goodness threshold")
    blur_passes: int = Field(6, ge=0, description="passes of the [1/4, 1/2, 1/4] blur over the random mask")
    readout_layers: int = Field(3, ge=1, description="the readout sees this many last layers")
    train_layers: bool = Field(True, description="false: the layers stay random, only the readout learns (control)")


# -- backprop baseline -------------------------------------------------------------------------------------
@register("rule", "backprop")
class Backprop(LayerRule):
    """End-to-end backpropagation of cross-entropy through the whole stack (the non-local baseline)."""

    reads: ClassVar[str] = "the output error, propagated through every layer"
    architecture: Architecture = Field(
        "mlp", description="dense layers, or conv 3x3 + max-pool blocks (hidden = channels; needs images)")
    activation: Activation = Field("relu", description="activation of the hidden layers")


# -- torch builders: (rule, widths, n_inputs, n_classes, image_shape) -> LocalNet ---------------------------
@register("builder", "forward_forward/torch")
def build_forward_forward(rule: ForwardForward, *, widths: list[int], n_inputs: int, n_classes: int,
                          image_shape: tuple[int, ...] | None = None, fronts=None):
    """FF (and SymBa and PhyLL, which inherit this builder): an MLP, or conv blocks on image-shaped inputs;
    ``fronts`` (one frozen module per layer, e.g. physical blocks) go before each dense layer."""
    from biosim.networks.layer_local.nets import ForwardForwardCNNNet, ForwardForwardNet
    from biosim.torch.common import BuildError

    if rule.architecture == "mlp":
        return ForwardForwardNet(rule, widths, n_inputs, n_classes, fronts)
    if fronts is not None:
        raise BuildError(f"{rule.registry_name} puts physical blocks before dense layers: use architecture: mlp",
                         ("rule", "architecture"))
    return ForwardForwardCNNNet(rule, widths, image(rule, image_shape), n_classes)


@register("builder", "forward_forward_unsupervised/torch")
def build_forward_forward_unsupervised(rule: ForwardForwardUnsupervised, *, widths: list[int], n_inputs: int,
                                       n_classes: int, image_shape: tuple[int, ...] | None = None):
    from biosim.networks.layer_local.nets import UnsupervisedFFNet

    return UnsupervisedFFNet(rule, widths, n_inputs, n_classes, image_shape)


@register("builder", "backprop/torch")
def build_backprop(rule: Backprop, *, widths: list[int], n_inputs: int, n_classes: int,
                   image_shape: tuple[int, ...] | None = None):
    from biosim.networks.layer_local.nets import BackpropCNNNet, BackpropNet

    if rule.architecture == "mlp":
        return BackpropNet(widths, n_inputs, n_classes, rule.activation)
    return BackpropCNNNet(widths, image(rule, image_shape), n_classes, rule.activation)


def image(rule: LayerRule, image_shape: tuple[int, ...] | None) -> tuple[int, ...]:
    """The input's image shape, for conv blocks; a BuildError for data that has none."""
    from biosim.torch.common import BuildError

    if image_shape is None or len(image_shape) < 2:
        raise BuildError(f"{rule.registry_name} with conv blocks needs image data (height x width [x channels])",
                         ("rule",))
    return tuple(image_shape)
