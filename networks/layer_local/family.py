"""The ``layer_local`` family: train a layer stack in PyTorch with a layer-local rule (or backprop) from YAML.

Batched training with one optimiser per parameter group of the rule's LocalNet; every epoch records
each group's loss, the rule's statistics (e.g. goodness of positive and negative data per layer),
and train/(validation)/test accuracy. With ``validation_fraction`` > 0 a seeded, stratified part of the
training set is held out and each stage ends on its best-validation checkpoint (as the official CCL
code does); the test set never selects anything. A NaN loss or Ctrl-C stops cleanly and keeps what was
recorded.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field

from biosim import registry
from biosim.config import ExperimentBase, Source, Spec
from biosim.family import Family, Outcome, Results, Run
from biosim.torch.common import pca, prepare_rule_and_data, torch_settings

log = logging.getLogger("biosim")


class LayerLocalExperiment(ExperimentBase):
    """Supervised training of a layer stack with a local rule (family ``layer_local``)."""

    family: str = "layer_local"
    task: Literal["classification", "reconstruction"] = "classification"
    rule: Spec = "forward_forward"
    hidden: list[int] = Field([256, 256], min_length=1, description="hidden layer widths")
    data: Spec = {"name": "digits", "test_fraction": 0.25, "stratify": True}
    input_scaling: Literal["rms", "unit", "none"] = Field(
        "rms", description="rescale every input vector to RMS 1 or to unit L2 norm")
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = Field(3e-3, gt=0)
    momentum: float = Field(0.0, ge=0, lt=1, description="SGD momentum")
    grad_clip: float | None = Field(None, gt=0, description="clip each group's gradient norm")
    batch_size: int = Field(64, gt=0)
    epochs: int = Field(30, ge=1)
    validation_fraction: float = Field(
        0.0, ge=0, lt=1, description="training items held out to pick each stage's best epoch (0: the last)")
    training: Literal["simultaneous", "greedy"] = Field(
        "simultaneous", description="all groups on every batch, or group after group (epochs each)")
    device: Literal["cpu", "cuda"] = "cpu"
    threads: int | None = Field(None, gt=0, description="torch CPU threads (default: torch's choice)")
    plots: list[str] = ["learning_curves", "embeddings"]


def prepare(exp: LayerLocalExperiment, source: Source):
    from biosim.rules.torch_layers.forward_forward import TORCH_LAYERS

    return prepare_rule_and_data(exp, source, TORCH_LAYERS, "images")


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
    if getattr(net, "task", "classification") == "reconstruction":
        return {f"{name}_mse": _mse(net, x) for name, x, _ in sets.named()}
    return {f"{name}_accuracy": _accuracy(net, x, y) for name, x, y in sets.named()}


def _validation_score(record: dict[str, float]) -> float:
    return record["val_accuracy"] if "val_accuracy" in record else -record["val_mse"]


def train(net, exp: LayerLocalExperiment, sets: Sets, interrupts) -> tuple[list[dict], bool, str | None]:
    """The training loop; returns one record per epoch (per group and stage when greedy). With validation
    items, each stage ends restored to its best-validation epoch (recorded as ``best_epoch``)."""
    import torch

    x, y = sets.x, sets.y
    groups = net.groups()
    optimisers = [_optimiser(exp, group) for group in groups]
    generator = torch.Generator().manual_seed(exp.seed)
    stages = [list(range(len(groups)))] if exp.training == "simultaneous" else [[g] for g in range(len(groups))]
    history: list[dict] = []
    for stage, active in enumerate(stages):
        best: tuple[float, int, dict] | None = None
        for epoch in range(exp.epochs):
            start = time.perf_counter()
            order = torch.randperm(len(x), generator=generator).to(x.device)
            sums = torch.zeros(len(groups), device=x.device)  # summed on the device: no sync per batch
            stats: dict[str, Any] = {}
            batches = 0
            for k in range(0, len(x), exp.batch_size):
                index = order[k:k + exp.batch_size]
                losses, batch_stats = net.local_losses(x[index], y[index])
                batch_losses = torch.stack([loss.detach() for loss in losses])
                if not bool(torch.isfinite(batch_losses).all()):
                    return history, False, "diverged (NaN or inf loss)"
                for g in active:
                    optimisers[g].zero_grad(set_to_none=True)
                sum(losses[g] for g in active).backward()
                for g in active:
                    if exp.grad_clip is not None:
                        torch.nn.utils.clip_grad_norm_(groups[g], exp.grad_clip)
                    optimisers[g].step()
                sums += batch_losses
                for key, value in batch_stats.items():
                    stats[key] = stats.get(key, 0.0) + value
                batches += 1
            record = {"stage": stage, "epoch": epoch, "seconds": time.perf_counter() - start,
                      "group_loss": (sums / batches).tolist(), **{k: float(v) / batches for k, v in stats.items()},
                      **_evaluate(net, sets)}
            record |= net.epoch_stats(sets.x_test, sets.y_test) if hasattr(net, "epoch_stats") else {}
            history.append(record)
            log.info("stage %d epoch %d: loss %s; %s", stage, epoch, " ".join(f"{v:.4f}" for v in record["group_loss"]),
                     ", ".join(f"{k} {record[k]:.4f}" for k in record if k.startswith(("train_", "val_", "test_"))))
            if len(sets.y_val) and (best is None or _validation_score(record) > best[0]):
                best = (_validation_score(record), epoch, copy.deepcopy(net.state_dict()))
            if interrupts.requested:
                _restore(net, best, history)
                return history, False, "interrupted"
        _restore(net, best, history)
    return history, True, None


def _restore(net, best: tuple[float, int, dict] | None, history: list[dict]) -> None:
    """Load the stage's best-validation state and note its epoch in the stage's last record."""
    if best is not None:
        net.load_state_dict(best[2])
        history[-1]["best_epoch"] = best[1]


def _hold_out(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (into the training set) kept for fitting and held out for validation: seeded, stratified."""
    index = np.arange(len(labels))
    if fraction == 0:
        return index, index[:0]
    from sklearn.model_selection import train_test_split

    fit, val = train_test_split(index, test_size=fraction, stratify=labels, random_state=seed)
    return np.sort(fit), np.sort(val)


def execute(prepared, exp: LayerLocalExperiment, run: Run) -> Outcome:
    import torch

    rule, data = prepared
    split = data.load(np.random.default_rng(exp.seed))
    device = torch.device(exp.device)
    fit, val = _hold_out(split.train_y, exp.validation_fraction, exp.seed)

    def inputs(a):
        return torch.tensor(_scale(a, exp.input_scaling), dtype=torch.float32, device=device)

    def labels(a):
        return torch.tensor(a, dtype=torch.long, device=device)

    sets = Sets(inputs(split.train_x[fit]), labels(split.train_y[fit]), inputs(split.train_x[val]),
                labels(split.train_y[val]), inputs(split.test_x), labels(split.test_y))
    n_classes = int(max(split.train_y.max(), split.test_y.max())) + 1
    net = rule.build(list(exp.hidden), sets.x.shape[1], n_classes, split.train_x.shape[1:]).to(device)
    start = time.perf_counter()
    history, complete, reason = train(net, exp, sets, run.interrupts)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        hidden = [h.cpu().numpy() for h in net.hidden(sets.x_test)]
    arrays = {"test_labels": split.test_y, "split_train_index": split.train_index[fit],
              "split_validation_index": split.train_index[val], "split_test_index": split.test_index,
              **{f"pca_layer{k}": pca(h) for k, h in enumerate(hidden) if np.isfinite(h).all()}}
    final = history[-1] if history else {}
    scores = _evaluate(net, sets) | (net.epoch_stats(sets.x_test, sets.y_test) if hasattr(net, "epoch_stats") else {})
    best = {"best_epochs": [r["best_epoch"] for r in history if "best_epoch" in r]} if len(val) else {}
    metrics = {"rule": rule.registry_name, "task": exp.task, **scores, **best, "epochs_run": len(history),
               "train_s": seconds, "epochs_per_s": len(history) / seconds if seconds else None,
               "final_epoch": final, "train_items": len(fit), "validation_items": len(val),
               "test_items": len(split.test_y), "device": exp.device}
    results = Results(arrays, {"title": exp.description or exp.name, "history": history, "rule": rule.registry_name,
                               "groups": net.group_names()})
    return Outcome(metrics, results, complete, reason)


@registry.register("family", "layer_local")
class LayerLocal(Family):
    """A layer stack trained in PyTorch with a layer-local rule (or backprop)."""

    schema = LayerLocalExperiment
    plots = ("learning_curves", "embeddings")
    prepare = staticmethod(prepare)

    def execute(self, prepared, exp: LayerLocalExperiment, run: Run) -> Outcome:
        with torch_settings(exp.seed, exp.threads, exp.device):
            return execute(prepared, exp, run)

    def summary(self, metrics: dict[str, Any]) -> str:
        scores = ", ".join(f"{k.replace('_', ' ')} {metrics[k]:.4f}"
                           for k in ("test_accuracy", "train_accuracy", "test_mse", "train_mse") if k in metrics)
        return f"{metrics['rule']}: {scores}, {metrics['epochs_per_s'] or 0:.2f} epochs/s"
