"""The torch_layers and graph_layers targets: declared once with the protocol their nets satisfy, every rule
built through its registered torch builder, and widths a rule cannot build refused in prepare."""

from __future__ import annotations

from pathlib import Path

import pytest

from biosim import registry
from biosim.config import load_experiment
from biosim.errors import ConfigError

ROOT = Path(__file__).parents[1]


def rules_on(target: str) -> list:
    return [registry.get("rule", n) for n in registry.names("rule")
            if getattr(registry.get("rule", n), "plugs_into", "") == target]


def test_every_layer_rule_builds_a_layer_stack_through_its_torch_builder():
    from biosim.networks.layer_local.target import LayerStack

    target = registry.get("target", "torch_layers")
    assert target.implementation is LayerStack and target.backends == ("torch",)
    rules = rules_on("torch_layers")
    assert len(rules) >= 7
    for cls in rules:
        net = cls().implementation("torch", widths=[16, 16], n_inputs=64, n_classes=10, image_shape=(8, 8))
        assert isinstance(net, LayerStack), cls.registry_name
        assert cls.backends() == ["torch"] and not hasattr(cls, "build")


def test_every_graph_rule_builds_a_graph_stack_through_its_torch_builder():
    from biosim.networks.graph_local.target import GraphStack, LinkPredictor, NodeClassifier

    assert registry.get("target", "graph_layers").implementation is GraphStack
    for cls in rules_on("graph_layers"):
        net = cls().implementation("torch", conv="gcn", widths=[8, 8], n_features=5,
                                   n_classes=0 if cls.task == "link" else 3)
        assert isinstance(net, LinkPredictor if cls.task == "link" else NodeClassifier), cls.registry_name
        assert not hasattr(cls, "build")


def test_a_subclass_rule_inherits_its_parents_builder():
    from biosim.rules.torch_layers.forward_forward import SymBa, build_forward_forward

    assert "symba/torch" not in registry._index()["builder"]
    assert registry.builder(SymBa(), "torch") is build_forward_forward


@pytest.mark.parametrize(("name", "overrides", "key", "message"), [
    ("ff_cnn_digits", ["hidden=[8, 8, 8, 8]"], "hidden", "4 pooling blocks need height and width divisible by 16"),
    ("ccl_cnn_digits", ["hidden=[4, 4, 4, 4]"], "hidden", "divisible by 16; got 8 x 8"),
    ("sf_top2loss_karate", ["hidden=[64, 32]"], "hidden", "all widths must be equal; got [64, 32]"),
])
def test_widths_a_rule_cannot_build_are_refused_in_prepare(name, overrides, key, message):
    exp, source = load_experiment(ROOT / "experiments" / f"{name}.yaml", overrides)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")) as info:
        registry.get("family", exp.family)().prepare(exp, source)
    assert info.value.key == key and info.value.argument == overrides[0]  # set on the command line: named there


def test_conv_blocks_need_image_data():
    from biosim.rules.torch_layers.forward_forward import Backprop
    from biosim.torch.common import BuildError

    with pytest.raises(BuildError, match="backprop with conv blocks needs image data") as info:
        Backprop(architecture="cnn").implementation("torch", widths=[4], n_inputs=64, n_classes=10, image_shape=(64,))
    assert info.value.key == ("rule",)


def test_data_that_cannot_be_read_is_refused_in_prepare(tmp_path):
    exp, source = load_experiment(ROOT / "experiments" / "ccl_cifar10.yaml", [f"data.directory={tmp_path}"])
    with pytest.raises(ConfigError, match="missing CIFAR batch files") as info:
        registry.get("family", exp.family)().prepare(exp, source)
    assert info.value.key == "data"
