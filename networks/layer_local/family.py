"""The ``layer_local`` family: train a layer stack in PyTorch with a layer-local rule (or backprop) from YAML.

Batched training (``biosim.torch.trainer``) with one optimiser per parameter group of the rule's LocalNet;
every epoch records each group's loss, the rule's statistics (e.g. goodness of positive and negative data
per layer), and train/(validation)/test accuracy (or reconstruction MSE). With ``validation_fraction`` > 0 a
seeded, stratified part of the training set is held out and each stage ends on its best-validation
checkpoint (as the official CCL code does); the test set never selects anything. A NaN loss or Ctrl-C stops
cleanly and keeps what was recorded. The data split, the hold-out, the initial parameters, the batch order
and the negatives each draw from their own stream of the run's seed (``biosim.torch.common``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import numpy as np
from pydantic import Field

from biosim import registry
from biosim.config import ExperimentBase, Source, Spec
from biosim.family import Outcome, Run, number
from biosim.streams import stream
from biosim.torch.common import (
    TorchFamily,
    Width,
    build_net,
    check_build,
    embeddings,
    load_data,
    prepare_rule_and_data,
    torch_generator,
)
from biosim.torch.results import TrainingResults, score_name


class LayerLocalExperiment(ExperimentBase):
    """Supervised training of a layer stack with a local rule (family ``layer_local``)."""

    family: str = "layer_local"
    task: Literal["classification", "reconstruction"] = "classification"
    rule: Spec = "forward_forward"
    hidden: list[Width] = Field([256, 256], min_length=1, description="hidden layer widths")
    data: Spec = {"name": "digits", "test_fraction": 0.25, "stratify": True}
    input_scaling: Literal["rms", "unit", "none"] = Field(
        "rms", description="rescale every input vector to RMS 1 or to unit L2 norm")
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = Field(3e-3, gt=0)
    momentum: float = Field(0.0, ge=0, lt=1, description="SGD momentum")
    grad_clip: float | None = Field(None, gt=0, description="clip each group's gradient norm")
    batch_size: int = Field(64, gt=0)
    steps_per_batch: int = Field(1, ge=1, description="optimiser steps on each batch")
    epochs: int = Field(30, ge=1)
    validate_every: int = Field(
        1, ge=1, description="epochs between scored records (the last epoch is always scored): evaluating every "
                             "label on every set can cost more than an epoch of training")
    validation_fraction: float = Field(
        0.0, ge=0, lt=1, description="training items held out to pick each stage's best epoch (0: the last)")
    training: Literal["simultaneous", "greedy"] = Field(
        "simultaneous", description="all groups on every batch, or group after group (epochs each)")
    device: Literal["cpu", "cuda"] = "cpu"
    threads: int | None = Field(None, gt=0, description="torch CPU threads (default: torch's choice)")
    plots: list[str] = ["learning_curves", "embeddings"]


@dataclass
class Prepared:
    """The rule, the loaded data split, and the training items kept for fitting and held out for validation
    (indices into the training set)."""

    rule: Any
    split: Any
    fit: np.ndarray
    val: np.ndarray
    context: dict[str, Any] = field(default_factory=dict)  # more for the rule's builder (e.g. physical fronts)


def load(exp: LayerLocalExperiment, source: Source) -> Prepared:
    """The rule, the loaded data split and the validation hold-out (a hold-out too small to stratify is
    refused here)."""
    from biosim.networks.layer_local.target import TORCH_LAYERS

    rule, data = prepare_rule_and_data(exp, source, TORCH_LAYERS.registry_name, "images")
    split = load_data(data, exp.seed, source)
    try:
        fit, val = _hold_out(split.train_y, exp.validation_fraction, stream(exp.seed, "validation"))
    except ValueError as err:  # scikit-learn: too few items of a class, or fewer held out than classes
        raise source.error(f"cannot hold out a stratified validation set: {err}", ("validation_fraction",)) from None
    return Prepared(rule, split, fit, val)


def prepare(exp: LayerLocalExperiment, source: Source) -> Prepared:
    """``load``, then refuse widths the rule cannot build on this data."""
    prepared = load(exp, source)
    check_build(prepared.rule, source, **net_context(exp, prepared))
    return prepared


def net_context(exp: LayerLocalExperiment, prepared: Prepared) -> dict[str, Any]:
    """What the rule's torch builder gets: widths, flat input size, classes, the shape of one input, and the
    prepared extras."""
    split = prepared.split
    return {"widths": list(exp.hidden), "n_inputs": int(np.prod(split.train_x.shape[1:])),
            "n_classes": int(max(split.train_y.max(), split.test_y.max())) + 1,
            "image_shape": split.train_x.shape[1:], **prepared.context}


def _scale(x: np.ndarray, how: str) -> np.ndarray:
    x = x.reshape(len(x), int(np.prod(x.shape[1:])))
    if how == "rms":
        return x / np.maximum(np.sqrt(np.mean(x**2, axis=1, keepdims=True)), 1e-12)
    if how == "unit":
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x


def _optimiser(exp: LayerLocalExperiment, params):
    import torch

    if exp.optimizer == "adam":
        return torch.optim.Adam(params, lr=exp.lr)
    return torch.optim.SGD(params, lr=exp.lr, momentum=exp.momentum)


def _accuracy(net, x, y, batch: int = 1024) -> float:
    import torch

    with torch.no_grad():
        predicted = torch.cat([net.predict(x[k:k + batch]).argmax(dim=1) for k in range(0, len(x), batch)])
    return float((predicted == y).float().mean())


def _mse(net, x, batch: int = 1024) -> float:
    """Reconstruction error: mean squared error of the output against the input."""
    import torch

    with torch.no_grad():
        total = sum(float(((net.reconstruct(x[k:k + batch]) - x[k:k + batch]) ** 2).sum())
                    for k in range(0, len(x), batch))
    return total / x.numel()


@dataclass
class Sets:
    """Tensors of the training, validation (possibly empty) and test items."""

    x: Any
    y: Any
    x_val: Any
    y_val: Any
    x_test: Any
    y_test: Any

    def named(self):
        pairs = {"train": (self.x, self.y), "val": (self.x_val, self.y_val), "test": (self.x_test, self.y_test)}
        return [(name, x, y) for name, (x, y) in pairs.items() if len(y)]


def _evaluate(net, sets: Sets) -> dict[str, float]:
    """train/val/test accuracy (or MSE), then the net's own per-layer test scores."""
    if net.task == "reconstruction":
        scores = {f"{name}_mse": _mse(net, x) for name, x, _ in sets.named()}
    else:
        scores = {f"{name}_accuracy": _accuracy(net, x, y) for name, x, y in sets.named()}
    return scores | (net.epoch_stats(sets.x_test, sets.y_test) if hasattr(net, "epoch_stats") else {})


def _hold_out(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices (into the training set) kept for fitting and held out for validation: stratified, drawn from
    ``rng``."""
    index = np.arange(len(labels))
    if fraction == 0:
        return index, index[:0]
    from sklearn.model_selection import train_test_split

    fit, val = train_test_split(index, test_size=fraction, stratify=labels,
                                random_state=int(rng.integers(2**32)))
    return np.sort(fit), np.sort(val)


def execute(prepared, exp: LayerLocalExperiment, run: Run, after_epoch=None, after_training=None) -> Outcome:
    """Train and score; ``after_epoch(epoch, score)`` (epoch 0-based), where given, runs after each scored
    epoch's evaluation (every ``validate_every`` epochs) and returns more entries for that epoch's record (e.g.
    a change of the physics, and ``score()``, the scores evaluated again after it); ``after_training(net,
    x_test, y_test)`` returns more named arrays for the results (e.g. a picture of the physics for one test
    item)."""
    import torch

    from biosim.torch.trainer import Schedule, greedy, simultaneous, train

    rule, split, fit, val = prepared.rule, prepared.split, prepared.fit, prepared.val
    device = torch.device(exp.device)

    def inputs(a):
        return torch.tensor(_scale(a, exp.input_scaling), dtype=torch.float32, device=device)

    def labels(a):
        return torch.tensor(a, dtype=torch.long, device=device)

    sets = Sets(inputs(split.train_x[fit]), labels(split.train_y[fit]), inputs(split.train_x[val]),
                labels(split.train_y[val]), inputs(split.test_x), labels(split.test_y))
    net = build_net(rule, exp.seed, device, **net_context(exp, prepared))
    net.generator = torch_generator(exp.seed, "negatives", device)
    groups = net.groups()
    schedule = Schedule(stages=(greedy if exp.training == "greedy" else simultaneous)(len(groups)),
                        epochs=exp.epochs, items=len(sets.y), batch_size=exp.batch_size,
                        steps_per_batch=exp.steps_per_batch, grad_clip=exp.grad_clip,
                        validate_every=exp.validate_every,
                        score="mse" if net.task == "reconstruction" else "accuracy",
                        restore_best=len(val) > 0, seed=exp.seed)
    start = time.perf_counter()

    def evaluate(stage, epoch):
        scores = _evaluate(net, sets)
        return scores | (after_epoch(epoch, lambda: _evaluate(net, sets)) if after_epoch else {})

    training = train(net, groups, lambda index, active: net.local_losses(sets.x[index], sets.y[index]),
                     evaluate, schedule, partial(_optimiser, exp), net.hooks(),
                     stop=lambda: run.stop_requested, log=run.log, device=device)
    seconds = time.perf_counter() - start
    history = training.history
    with torch.no_grad():
        hidden = net.hidden(sets.x_test)
    final = history[-1] if history else {}
    best = {"best_epochs": [r["best_epoch"] for r in history if "best_epoch" in r]} if len(val) else {}
    metrics = {"rule": rule.registry_name, "task": exp.task, "score": schedule.score, **_evaluate(net, sets), **best,
               "epochs_run": training.epochs_run, "train_s": seconds,
               "epochs_per_s": training.epochs_run / seconds if seconds else None, "final_epoch": final,
               "train_items": len(fit), "validation_items": len(val), "test_items": len(split.test_y),
               "device": exp.device}
    results = TrainingResults(
        exp.description or exp.name, rule.registry_name, schedule.score, net.group_names(), history, split.test_y,
        embeddings(hidden), {"split_train_index": split.train_index[fit], "split_validation_index":
                             split.train_index[val], "split_test_index": split.test_index,
                             **(after_training(net, sets.x_test, sets.y_test) if after_training else {})})
    return Outcome(metrics, results, training.complete, training.stop_reason)


@registry.register("family", "layer_local")
class LayerLocal(TorchFamily):
    """A layer stack trained in PyTorch with a layer-local rule (or backprop)."""

    schema = LayerLocalExperiment
    prepare = staticmethod(prepare)
    train = staticmethod(execute)

    def summary(self, metrics: dict[str, Any]) -> str:
        scores = ", ".join(f"{score_name(k)} {number(metrics[k])}"
                           for k in ("test_accuracy", "train_accuracy", "test_mse", "train_mse") if k in metrics)
        return f"{metrics['rule']}: {scores}, {number(metrics['epochs_per_s'], 3)} epochs/s"
