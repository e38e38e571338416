"""Layer-local training in PyTorch: strict locality, learning on small settings, controls, validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from biosim.config import load_experiment
from biosim.errors import ConfigError
from biosim.rules.torch_layers.ccl import CounterCurrent
from biosim.rules.torch_layers.forward_forward import Backprop, ForwardForward, SymBa
from biosim.runner import run_experiment

ROOT = Path(__file__).parents[1]


def batch(n=32, d=64, classes=10, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=generator), torch.randint(0, classes, (n,), generator=generator)


def build(rule, widths, image_shape=None, n_inputs=64, n_classes=10):
    return rule.implementation("torch", widths=widths, n_inputs=n_inputs, n_classes=n_classes, image_shape=image_shape)


def snapshot(net):
    return {name: p.detach().clone() for name, p in net.named_parameters()}


@pytest.mark.parametrize("rule", [ForwardForward(), SymBa(), ForwardForward(prediction="softmax"),
                                  ForwardForward(architecture="cnn"), SymBa(architecture="cnn", prediction="softmax"),
                                  CounterCurrent()], ids=["ff", "symba", "ff-softmax", "ff-cnn", "symba-cnn", "ccl"])
def test_a_step_of_one_local_loss_leaves_every_other_group_bitwise_unchanged(rule):
    torch.manual_seed(0)
    net = build(rule, [32, 16, 8], (8, 8))
    x, y = batch()
    groups = net.groups()
    ids = [{id(p) for p in group} for group in groups]
    assert len(groups) >= 3 and sum(len(g) for g in ids) == len(list(net.parameters()))  # a partition
    for g, group in enumerate(groups):
        before = snapshot(net)
        optimiser = torch.optim.SGD(group, lr=0.5)
        losses, _ = net.local_losses(x, y)
        optimiser.zero_grad()
        losses[g].backward()
        optimiser.step()
        for name, p in net.named_parameters():
            if id(p) in ids[g]:
                assert not torch.equal(p, before[name]), (g, name)
            else:
                assert torch.equal(p, before[name]), (g, name)
        net.zero_grad(set_to_none=True)


def test_ccl_pair_losses_touch_exactly_their_forward_and_feedback_layers():
    net = build(CounterCurrent(), [32, 16])
    x, y = batch()
    losses, _ = net.local_losses(x, y)
    L = len(net.forward_layers)
    expected = [{"feedback_layers.0.weight"}] + [{f"forward_layers.{l - 1}.weight", f"feedback_layers.{l}.weight"}
                                                  for l in range(1, L + 1)] + [{"readout.weight"}]
    for loss, names in zip(losses, expected, strict=True):
        grads = torch.autograd.grad(loss, list(net.parameters()), allow_unused=True)
        touched = {name for (name, _), grad in zip(net.named_parameters(), grads, strict=True)
                   if grad is not None and grad.abs().sum() > 0}
        assert touched == names


def test_ccl_inference_is_identical_without_the_feedback_network():
    net = build(CounterCurrent(), [32, 16])
    x, _ = batch()
    before = net.predict(x)
    net.feedback_layers = None
    assert torch.equal(net.predict(x), before)


def test_backprop_is_one_group():
    net = build(Backprop(), [32, 16])
    assert len(net.groups()) == 1 and len(net.groups()[0]) == len(list(net.parameters()))


def run(tmp_path, name, *overrides):
    run_dir = run_experiment(ROOT / "experiments" / f"{name}.yaml", list(overrides), out=tmp_path)
    return json.loads((run_dir / "metrics.json").read_text()), run_dir


def test_forward_forward_symba_backprop_and_negative_control_learn_as_expected(tmp_path):
    """Short runs (10 epochs, seed 1): every rule learns except the control whose negatives carry the true
    label (nothing to contrast: chance); SymBa's balanced loss learns faster than FF's."""
    accuracy = {}
    for variant in ("default", "symba", "backprop", "negative_control"):
        overrides = ["epochs=10"] + ([f"variant={variant}"] if variant != "default" else [])
        metrics, run_dir = run(tmp_path, "ff_digits", *overrides)
        accuracy[variant] = metrics["test_accuracy"]
        assert metrics["complete"] and metrics["epochs_run"] == 10
    assert accuracy["default"] > 0.6 and accuracy["symba"] > accuracy["default"] + 0.05
    assert accuracy["backprop"] > 0.95
    assert accuracy["negative_control"] < 0.25
    assert (run_dir / "learning_curves.png").exists() and (run_dir / "embeddings.png").exists()


def test_ccl_beats_its_control_and_learns_prototypes(tmp_path):
    metrics, _ = run(tmp_path, "ccl_digits", "epochs=10")
    control, _ = run(tmp_path, "ccl_digits", "epochs=10", "variant=control")
    assert metrics["test_accuracy"] > control["test_accuracy"] + 0.05
    for layer in (0, 1):
        assert metrics[f"layer{layer}_prototype_accuracy"] > 0.75
        assert control[f"layer{layer}_prototype_accuracy"] < 0.25


def test_same_seed_same_training_and_the_split_is_saved(tmp_path):
    from sklearn.datasets import load_digits

    from biosim.torch.results import TrainingResults

    first, run_dir = run(tmp_path, "ccl_digits", "epochs=4")
    second, _ = run(tmp_path, "ccl_digits", "epochs=4")
    assert first["final_epoch"]["group_loss"] == second["final_epoch"]["group_loss"]
    results = TrainingResults.load(run_dir)
    arrays, target = results.arrays, load_digits().target
    assert results.score == "accuracy" and results.groups[0] == "pair 0 (G1)"
    assert np.array_equal(target[arrays["split_test_index"]], results.labels)
    parts = [set(arrays[f"split_{k}_index"]) for k in ("train", "validation", "test")]
    assert sum(map(len, parts)) == len(set.union(*parts)) == len(target)
    assert first["validation_items"] == len(parts[1]) == 135  # 10% of 1347, stratified
    # the run ends on its best-validation epoch, whose scores the metrics report
    history = results.history
    best = max(range(len(history)), key=lambda e: history[e]["val_accuracy"])
    assert first["best_epochs"] == [best] and first["test_accuracy"] == history[best]["test_accuracy"]


def test_divergence_stops_cleanly(tmp_path):
    metrics, run_dir = run(tmp_path, "ff_digits", "variant=backprop", "optimizer=sgd", "lr=1e30", "epochs=3")
    assert metrics["complete"] is False and "diverged" in metrics["stop_reason"]
    assert (run_dir / "results.npz").exists()


@pytest.mark.parametrize(("overrides", "expected"), [
    (["rule.name=stdp"], "rule 'stdp' plugs into 'spiking_projection', not 'torch_layers'"),
    (["rule.name=forward_forwrd"], "did you mean 'forward_forward'"),
    (["rule.goodness=max"], "use 'mean' or 'sum'"),
    (["optimizer=lbfgs"], "use 'adam' or 'sgd'"),
])
def test_bad_input_is_refused_before_compute(overrides, expected):
    from biosim import registry

    with pytest.raises(ConfigError) as info:
        exp, source = load_experiment(ROOT / "experiments" / "ff_digits.yaml", overrides)
        registry.get("family", exp.family)().prepare(exp, source)
    assert expected in str(info.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without a GPU")
def test_cuda_without_a_gpu_is_refused():
    from biosim import registry

    exp, source = load_experiment(ROOT / "experiments" / "ff_digits.yaml", ["device=cuda"])
    with pytest.raises(ConfigError, match="device 'cuda' was asked for but torch sees no GPU"):
        registry.get("family", exp.family)().prepare(exp, source)


def test_stratified_split_keeps_class_proportions():
    from biosim.data.images import Digits

    split = Digits(test_fraction=0.25, stratify=True).load(np.random.default_rng(0))
    counts = np.bincount(split.test_y) / np.bincount(np.concatenate([split.train_y, split.test_y]))
    assert np.allclose(counts, 0.25, atol=0.01)


def test_hybrid_masks_are_blobs_of_both_values():
    from biosim.networks.layer_local.nets import hybrid_mask

    masks = hybrid_mask((8, 8), 200, 6, generator=torch.Generator().manual_seed(0))
    assert set(masks.unique().tolist()) == {0.0, 1.0} and 0.3 < masks.mean() < 0.7
    same_as_right = (masks[:, :, 1:] == masks[:, :, :-1]).float().mean()
    assert same_as_right > 0.8  # blurred noise: neighbouring pixels mostly agree


def test_unsupervised_forward_forward_and_its_frozen_control():
    from biosim.rules.torch_layers.forward_forward import ForwardForwardUnsupervised

    x, y = batch(n=16)
    for train_layers in (True, False):
        net = build(ForwardForwardUnsupervised(train_layers=train_layers), [32, 32], (8, 8))
        before = snapshot(net)
        optimisers = [torch.optim.Adam(g, lr=1e-2) for g in net.groups()]
        losses, stats = net.local_losses(x, y)
        sum(losses).backward()
        for o in optimisers:
            o.step()
        moved = {name for name, p in net.named_parameters() if not torch.equal(p, before[name])}
        layers_moved = any(name.startswith("layers.") for name in moved)
        assert layers_moved == train_layers and any(name.startswith("readout.") for name in moved)
        assert {"layer0_goodness_pos", "layer1_goodness_neg"} <= set(stats)


def test_ccl_autoencoder_locality_and_learning(tmp_path):
    from biosim.rules.torch_layers.ccl import CounterCurrentAutoencoder

    torch.manual_seed(0)
    net = build(CounterCurrentAutoencoder(), [16, 8, 16])
    x, _ = batch()
    losses, _ = net.local_losses(x, torch.zeros(32, dtype=torch.long))
    names = dict(net.named_parameters())
    for g, (loss, group) in enumerate(zip(losses, net.groups(), strict=True)):
        grads = torch.autograd.grad(loss, list(names.values()), allow_unused=True, retain_graph=True)
        touched = {id(p) for p, grad in zip(names.values(), grads, strict=True) if grad is not None}
        assert touched <= {id(p) for p in group}, g
    ccl, _ = run(tmp_path, "ccl_autoencoder_digits", "epochs=30")
    control, _ = run(tmp_path, "ccl_autoencoder_digits", "epochs=30", "variant=control")
    assert ccl["test_mse"] < min(control["test_mse"], 0.0739)  # 0.0739: predicting the mean training image


def test_ccl_cnn_pairs_touch_exactly_their_blocks_and_inference_needs_no_g():
    from biosim.rules.torch_layers.ccl import CounterCurrentCNN

    net = build(CounterCurrentCNN(), [4, 8], (8, 8))
    x, y = batch()
    losses, _ = net.local_losses(x, y)
    expected = [{"feedback_blocks.0"}, {"forward_blocks.0", "feedback_blocks.1"},
                {"forward_blocks.1", "feedback_top"}, {"readout"}]
    for loss, blocks in zip(losses, expected, strict=True):
        grads = torch.autograd.grad(loss, list(net.parameters()), allow_unused=True, retain_graph=True)
        touched = {name.rsplit(".", 1)[0] for (name, _), g in zip(net.named_parameters(), grads, strict=True)
                   if g is not None and g.abs().sum() > 0}
        assert touched == blocks
    before = net.predict(x)
    net.feedback_blocks = net.feedback_top = None
    assert torch.equal(net.predict(x), before)


def test_ccl_cnn_learns_prototypes(tmp_path):
    metrics, _ = run(tmp_path, "ccl_cnn_digits", "epochs=5")
    assert metrics["test_accuracy"] > 0.9
    assert min(metrics["final_epoch"][f"layer{k}_prototype_accuracy"] for k in (0, 1)) > 0.75


def test_greedy_training_runs_one_stage_per_group(tmp_path):
    from biosim.torch.results import TrainingResults

    metrics, run_dir = run(tmp_path, "ff_digits", "training=greedy", "epochs=3")
    history = TrainingResults.load(run_dir).history
    assert [(r["stage"], r["epoch"]) for r in history] == [(s, e) for s in (0, 1) for e in range(3)]
    assert metrics["complete"] and metrics["epochs_run"] == 6


def test_validate_every_scores_every_few_epochs_and_the_last(tmp_path):
    from biosim.torch.results import TrainingResults

    metrics, run_dir = run(tmp_path, "ff_digits", "validate_every=2", "epochs=5")
    assert [r["epoch"] for r in TrainingResults.load(run_dir).history] == [0, 2, 4]
    assert metrics["epochs_run"] == 5


def test_same_seed_bit_identical_other_seed_not_and_torch_global_generator_untouched(tmp_path):
    """Every draw of a run (split, hold-out, init, batches, negatives) comes from the run's own streams:
    torch's global generator is neither drawn from nor reseeded."""
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    overrides = ["epochs=2", "hidden=[16, 16]", "validation_fraction=0.1"]
    first, _ = run(tmp_path, "ff_digits", *overrides)
    assert torch.equal(torch.random.get_rng_state(), state)
    second, _ = run(tmp_path, "ff_digits", *overrides)
    other, _ = run(tmp_path, "ff_digits", *overrides, "seed=2")
    assert comparable(first) == comparable(second)
    assert first["final_epoch"]["group_loss"] != other["final_epoch"]["group_loss"]


def concurrent(tmp_path, runs: dict[str, tuple[str, list[str]]]) -> tuple[dict, dict]:
    """Each run alone, then all at once in one thread each: the metrics of each (name -> metrics)."""
    import threading

    def metrics_of(name, out):
        file, overrides = runs[name]
        return json.loads((run_experiment(ROOT / "experiments" / f"{file}.yaml", overrides, out=out)
                           / "metrics.json").read_text())

    alone = {name: metrics_of(name, tmp_path / "alone") for name in runs}
    together, start = {}, threading.Barrier(len(runs))

    def work(name):
        start.wait()
        together[name] = metrics_of(name, tmp_path / name)

    threads = [threading.Thread(target=work, args=(name,)) for name in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return alone, together


def comparable(metrics: dict) -> dict:
    """Metrics without wall times (``*_s``, ``seconds``, at any depth)."""
    return {k: comparable(v) if isinstance(v, dict) else v for k, v in metrics.items()
            if not k.endswith("_s") and k != "seconds"}


def test_two_runs_in_two_threads_each_equal_the_run_alone(tmp_path):
    """Two different configs trained at the same time in two threads (random negative labels; hybrid-image
    negatives) give bit for bit what each gives alone."""
    alone, together = concurrent(tmp_path, {
        "ff": ("ff_digits", ["epochs=3", "hidden=[32, 32]"]),
        "unsupervised": ("ff_unsupervised_digits", ["epochs=2", "hidden=[32, 32, 32]"])})
    for name in alone:
        assert comparable(together[name]) == comparable(alone[name]), name


def test_the_family_takes_the_trainer_hooks_from_the_net(tmp_path, monkeypatch):
    from biosim.networks.layer_local.nets import ForwardForwardNet
    from biosim.torch.trainer import Hooks

    steps = []
    monkeypatch.setattr(ForwardForwardNet, "hooks", lambda self: Hooks(after_step=lambda g, params: steps.append(g)))
    metrics, _ = run(tmp_path, "ff_digits", "epochs=1", "hidden=[16, 16]", "batch_size=512")
    assert steps == [0, 1] * 3 and metrics["train_items"] == 1347  # 3 batches of 512 items, 2 groups


def test_every_net_is_initialised_from_the_run_stream_alone():
    """build_net draws every parameter and buffer from the "init" stream (none left unwritten: they start as
    NaN), the same for the same seed, and the draws match torch's default initialisation."""
    from biosim import registry
    from biosim.torch.common import build_net, torch_generator

    state = torch.random.get_rng_state()
    for name in registry.names("rule"):
        cls = registry.get("rule", name)
        if getattr(cls, "plugs_into", "") != "torch_layers":
            continue
        context = {"widths": [16, 16], "n_inputs": 64, "n_classes": 10, "image_shape": (8, 8)}
        first, second = build_net(cls(), 1, **context).state_dict(), build_net(cls(), 1, **context).state_dict()
        other = build_net(cls(), 2, **context).state_dict()
        assert all(torch.equal(first[k], second[k]) for k in first), name
        assert any(not torch.equal(first[k], other[k]) for k in first if first[k].is_floating_point()), name
    assert torch.equal(torch.random.get_rng_state(), state)
    net = build_net(Backprop(), 5, widths=[16], n_inputs=64, n_classes=10)
    generator = torch_generator(5, "init")
    torch.set_rng_state(generator.get_state())
    reference = torch.nn.Linear(64, 16)  # torch's default initialisation from the same generator state
    assert torch.equal(net.layers[0].weight, reference.weight) and torch.equal(net.layers[0].bias, reference.bias)
    torch.set_rng_state(state)


def degenerate_results():
    """Training results a plot must still draw: one epoch, NaN curves, one class, two items, many classes."""
    from biosim.torch.results import TrainingResults

    record = {"stage": 0, "epoch": 0, "seconds": 0.1, "group_loss": [0.5, 0.2], "train_accuracy": 0.5,
              "test_accuracy": 0.4, "layer0_goodness_pos": 1.0, "layer0_test_accuracy": 0.3}
    nan = {"stage": 0, "epoch": 0, "seconds": 0.1, "group_loss": [float("nan")] * 2, "val_mse": float("nan"),
           "layer0_goodness_neg": float("nan")}
    points = np.random.default_rng(0).normal(size=(40, 2))
    return {
        "one epoch": TrainingResults("t", "forward_forward", "accuracy", ["layer 1", "layer 2"], [record],
                                     np.zeros(40, int), {0: points, 1: points}),
        "NaN curves": TrainingResults("t", "counter_current_autoencoder", "mse", [], [nan, {**nan, "epoch": 1}],
                                      np.arange(40) % 3, {0: points}),
        "two items, two stages": TrainingResults("t", "sf", "roc_auc", [], [
            {**record, "group_loss": [0.0, float("inf")]}, {**record, "stage": 1}], np.array([0, 1]),
            {0: points[:2]}),
        "many classes": TrainingResults("t", "backprop", "accuracy", [], [record] * 5, np.arange(40),
                                        {0: points, 1: points, 2: points}),
    }


@pytest.mark.parametrize("case", list(degenerate_results()))
def test_every_torch_plot_draws_degenerate_results_without_a_warning(tmp_path, case):
    import warnings

    from biosim import registry
    from biosim.networks.layer_local.family import LayerLocal

    results = degenerate_results()[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "no positive values" or "no artists" is a failure too
        for name in LayerLocal.plots:
            files = registry.get("plot", name)(results, tmp_path)
            assert files and all(f.stat().st_size > 0 for f in files), name
