"""Counter-current learning (Kao & Hariharan, NeurIPS 2024), as in the official code for MLPs.

A forward network F (x -> a_1 .. a_L -> logits) and a separate feedback network G fed with the C class
one-hots (I_C -> c_L .. c_1 -> c_0) are trained in anti-parallel pairs (a_l, c_l): the pair-l loss
s * 256 / d_l * mean((a_l c_l^T - onehot(y))^2) updates exactly F_l and G_{l+1} (every block detaches
its input; the pair (x, c_0) trains G_1 alone), and a cross-entropy readout learns on the detached a_L.
Inference runs through F alone. The backprop baselines are ``backprop`` (MLP or CNN) and
``backprop_autoencoder``.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from biosim.registry import register
from biosim.rules.torch_layers.forward_forward import Activation, LayerRule, image


@register("rule", "counter_current")
class CounterCurrent(LayerRule):
    """Counter-current learning: forward and feedback networks trained in anti-parallel layer pairs."""

    reads: ClassVar[str] = "the layer's activity and its feedback-network partner's"
    loss_scale: float = Field(0.5, ge=0, description="s; 0 turns the pair losses off (only the readout learns)")
    activation: Activation = Field("elu", description="activation of both networks")


@register("rule", "counter_current_autoencoder")
class CounterCurrentAutoencoder(LayerRule):
    """Counter-current learning of an autoencoder: F reconstructs x, G runs the mirror stack from the target."""

    reads: ClassVar[str] = "the layer's activity and its feedback-network partner's"
    task: ClassVar[str] = "reconstruction"
    init_scale: float = Field(1e-3, gt=0, description="scale of the decoder-forward and encoder-feedback init")
    pair_losses: bool = Field(True, description="false: only the output layer learns (control)")


@register("rule", "backprop_autoencoder")
class BackpropAutoencoder(LayerRule):
    """The same autoencoder trained end to end on the reconstruction error (the baseline)."""

    reads: ClassVar[str] = "the output error, propagated through every layer"
    task: ClassVar[str] = "reconstruction"


@register("rule", "counter_current_cnn")
class CounterCurrentCNN(LayerRule):
    """Counter-current learning of a CNN: conv blocks in F, upsampling conv blocks in G, correlation loss."""

    reads: ClassVar[str] = "the layer's feature maps and its feedback-network partner's"
    loss_scale: float = Field(1.0, ge=0, description="s_C: weight of the class-correlation term (0: readout only)")
    decorrelation: float = Field(0.5, ge=0, description="s_ssl: weight of the within-batch decorrelation terms")
    activation: Activation = Field("elu", description="activation of both networks")


# -- torch builders ---------------------------------------------------------------------------------------
@register("builder", "counter_current/torch")
def build_counter_current(rule: CounterCurrent, *, widths: list[int], n_inputs: int, n_classes: int,
                          image_shape: tuple[int, ...] | None = None):
    from biosim.networks.layer_local.nets import CounterCurrentNet

    return CounterCurrentNet(rule, widths, n_inputs, n_classes)


@register("builder", "counter_current_autoencoder/torch")
def build_counter_current_autoencoder(rule: CounterCurrentAutoencoder, *, widths: list[int], n_inputs: int,
                                      n_classes: int, image_shape: tuple[int, ...] | None = None):
    from biosim.networks.layer_local.nets import CounterCurrentAutoencoderNet

    return CounterCurrentAutoencoderNet(rule, widths, n_inputs)


@register("builder", "backprop_autoencoder/torch")
def build_backprop_autoencoder(rule: BackpropAutoencoder, *, widths: list[int], n_inputs: int, n_classes: int,
                               image_shape: tuple[int, ...] | None = None):
    from biosim.networks.layer_local.nets import BackpropAutoencoderNet

    return BackpropAutoencoderNet(widths, n_inputs)


@register("builder", "counter_current_cnn/torch")
def build_counter_current_cnn(rule: CounterCurrentCNN, *, widths: list[int], n_inputs: int, n_classes: int,
                              image_shape: tuple[int, ...] | None = None):
    from biosim.networks.layer_local.nets import CounterCurrentCNNNet

    return CounterCurrentCNNNet(rule, widths, image(rule, image_shape), n_classes)
