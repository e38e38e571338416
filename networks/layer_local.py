"""The ``layer_local`` family: train a layer stack in PyTorch with a layer-local rule (or backprop) from YAML.

Batched training with one optimiser per parameter group of the rule's LocalNet; every epoch records
each group's loss, the rule's statistics (e.g. goodness of positive and negative data per layer),
and train/test accuracy. A NaN loss or Ctrl-C stops cleanly and keeps what was recorded.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from biosim import registry
from biosim.config import ExperimentBase, Source, Spec, instantiate
from biosim.family import Family, Outcome, Results
from biosim.interrupts import Interrupts

log = logging.getLogger("biosim")


class LayerLocalExperiment(ExperimentBase):
    """Supervised training of a layer stack with a local rule (family ``layer_local``)."""

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
    training: Literal["simultaneous", "greedy"] = Field(
        "simultaneous", description="all groups on every batch, or group after group (epochs each)")
    device: Literal["cpu", "cuda"] = "cpu"
    threads: int | None = Field(None, gt=0, description="torch CPU threads (default: torch's choice)")
    plots: list[str] = ["learning_curves", "embeddings"]


def prepare(exp: LayerLocalExperiment, source: Source):
    from biosim.rules.forward import TORCH_LAYERS

    rule = instantiate(exp.rule, "rule", source, ("rule",), kind=("plugs_into", TORCH_LAYERS))
    if rule.task != exp.task:
        from biosim import registry

        allowed = [n for n in registry.names("rule") if getattr(registry.get("rule", n), "plugs_into", "") ==
                   TORCH_LAYERS and registry.get("rule", n).task == exp.task]
        raise source.error(f"rule {rule.registry_name!r} is for task {rule.task!r}, not {exp.task!r}; allowed here: "
                           f"{', '.join(allowed)}", ("rule",))
    data = instantiate(exp.data, "dataset", source, ("data",), kind=("kind", "images"))
    if exp.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise source.error("device 'cuda' was asked for but torch sees no GPU here; allowed: cpu", ("device",))
    resolved = {"rule": {"name": rule.registry_name, **rule.model_dump()},
                "data": {"name": data.registry_name, **data.model_dump(mode="json")}}
    return (rule, data), resolved


def _scale(x: np.ndarray, how: str) -> np.ndarray:
    x = x.reshape(len(x), -1)
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


def _evaluate(net, x, y, x_test, y_test) -> dict[str, float]:
    if getattr(net, "task", "classification") == "reconstruction":
        return {"train_mse": _mse(net, x), "test_mse": _mse(net, x_test)}
    return {"train_accuracy": _accuracy(net, x, y), "test_accuracy": _accuracy(net, x_test, y_test)}


def train(net, exp: LayerLocalExperiment, x, y, x_test, y_test, interrupts) -> tuple[list[dict], bool, str | None]:
    """The training loop; returns one record per epoch (per group and stage when greedy)."""
    import torch

    groups = net.groups()
    optimisers = [_optimiser(exp, group) for group in groups]
    generator = torch.Generator().manual_seed(exp.seed)
    stages = [list(range(len(groups)))] if exp.training == "simultaneous" else [[g] for g in range(len(groups))]
    history: list[dict] = []
    for stage, active in enumerate(stages):
        for epoch in range(exp.epochs):
            start = time.perf_counter()
            order = torch.randperm(len(x), generator=generator).to(x.device)
            sums = np.zeros(len(groups))
            stats: dict[str, float] = {}
            batches = 0
            for k in range(0, len(x), exp.batch_size):
                index = order[k:k + exp.batch_size]
                losses, batch_stats = net.local_losses(x[index], y[index])
                if not all(torch.isfinite(loss) for loss in losses):
                    return history, False, "diverged (NaN or inf loss)"
                for g in active:
                    optimisers[g].zero_grad(set_to_none=True)
                sum(losses[g] for g in active).backward()
                for g in active:
                    if exp.grad_clip is not None:
                        torch.nn.utils.clip_grad_norm_(groups[g], exp.grad_clip)
                    optimisers[g].step()
                sums += [loss.detach().item() for loss in losses]
                for key, value in batch_stats.items():
                    stats[key] = stats.get(key, 0.0) + value
                batches += 1
            record = {"stage": stage, "epoch": epoch, "seconds": time.perf_counter() - start,
                      "group_loss": (sums / batches).tolist(), **{k: v / batches for k, v in stats.items()},
                      **_evaluate(net, x, y, x_test, y_test)}
            record |= net.epoch_stats(x_test, y_test) if hasattr(net, "epoch_stats") else {}
            history.append(record)
            log.info("stage %d epoch %d: loss %s; %s", stage, epoch, " ".join(f"{v:.4f}" for v in record["group_loss"]),
                     ", ".join(f"{k} {record[k]:.4f}" for k in record if k.startswith(("train_", "test_"))))
            if interrupts.requested:
                return history, False, "interrupted"
    return history, True, None


def _pca(h: np.ndarray, dims: int = 2) -> np.ndarray:
    centred = h - h.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:dims].T


def execute(prepared, exp: LayerLocalExperiment, run_dir: Path) -> Outcome:
    import torch

    rule, data = prepared
    if exp.threads:
        torch.set_num_threads(exp.threads)
    torch.manual_seed(exp.seed)
    split = data.load(np.random.default_rng(exp.seed))
    device = torch.device(exp.device)
    tensors = [torch.tensor(_scale(a, exp.input_scaling), dtype=torch.float32, device=device)
               for a in (split.train_x, split.test_x)]
    x, x_test = tensors
    y, y_test = (torch.tensor(a, dtype=torch.long, device=device) for a in (split.train_y, split.test_y))
    n_classes = int(max(split.train_y.max(), split.test_y.max())) + 1
    net = rule.build(list(exp.hidden), x.shape[1], n_classes, split.train_x.shape[1:]).to(device)
    start = time.perf_counter()
    with Interrupts() as interrupts:
        history, complete, reason = train(net, exp, x, y, x_test, y_test, interrupts)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        hidden = [h.cpu().numpy() for h in net.hidden(x_test)]
    arrays = {"test_labels": split.test_y, "split_train_index": split.train_index,
              "split_test_index": split.test_index,
              **{f"pca_layer{k}": _pca(h) for k, h in enumerate(hidden) if np.isfinite(h).all()}}
    final = history[-1] if history else {}
    scores = {k: final[k] for k in ("test_accuracy", "train_accuracy", "test_mse", "train_mse") if k in final}
    metrics = {"rule": rule.registry_name, "task": exp.task, **scores, "epochs_run": len(history),
               "train_s": seconds, "epochs_per_s": len(history) / seconds if seconds else None,
               "final_epoch": final, "train_items": len(y), "test_items": len(y_test), "device": exp.device}
    results = Results(arrays, {"title": exp.description or exp.name, "history": history, "rule": rule.registry_name,
                               "groups": net.group_names()})
    results.save(run_dir)
    return Outcome(metrics, results, complete, reason)


def _summary(metrics: dict[str, Any]) -> str:
    scores = ", ".join(f"{k.replace('_', ' ')} {metrics[k]:.4f}" for k in ("test_accuracy", "train_accuracy",
                                                                         "test_mse", "train_mse") if k in metrics)
    return f"{metrics['rule']}: {scores}, {metrics['epochs_per_s'] or 0:.2f} epochs/s"


registry.register("network", "layer_local")(Family(
    schema=LayerLocalExperiment, prepare=prepare, execute=execute, load=Results.load,
    plots=("learning_curves", "embeddings"), summary=_summary))
