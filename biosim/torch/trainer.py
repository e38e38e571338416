"""The one PyTorch trainer of the layer-local and graph-local families.

Parameters come in groups (one per local loss, or one per greedy unit); a :class:`Schedule` says which
groups train together in each stage (all at once: ``simultaneous``; one after another: ``greedy``), for how
many epochs, in which batches (``batch_size=None``: the full batch, as graph training does), with how many
optimiser steps per batch, how often to validate, and which named score (larger is better: accuracy,
ROC-AUC, or minus the MSE) picks the best state (early stopping with ``patience``, restore with
``restore_best``). :class:`Hooks` reach into every step: a transform of the gradients before each optimiser
step (e.g. HLOP's projection onto the orthogonal complement of stored subspaces), updates outside autograd
after each step (e.g. Hebbian subspace learning), and the end of a stage (e.g. a graph layer is frozen).
A NaN or inf loss, or a stop request (Ctrl-C), ends training cleanly with every record kept.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from biosim.family import DIVERGED, INTERRUPTED, number
from biosim.torch.common import torch_generator
from biosim.torch.results import SCORES, SMALLER_IS_BETTER, score_name

# losses(batch index or None for all items, active groups) -> (one loss per group, None where not computed;
# named batch statistics, summed over the epoch)
Losses = Callable[[torch.Tensor | None, Sequence[int]], tuple[Sequence[torch.Tensor | None], dict[str, Any]]]
Evaluate = Callable[[int, int], dict[str, float]]  # (stage, epoch) -> named scores (train_/val_/test_<score>, ...)


def simultaneous(n_groups: int) -> list[list[int]]:
    """One stage training every group on every batch."""
    return [list(range(n_groups))]


def greedy(n_groups: int) -> list[list[int]]:
    """One stage per group, in order."""
    return [[g] for g in range(n_groups)]


@dataclass(frozen=True)
class Schedule:
    """What the trainer does: stages of groups, epochs per stage, batches, validation and early stopping."""

    stages: list[list[int]]  # the groups trained in each stage
    epochs: int  # per stage
    items: int = 0  # training items to batch (unused with the full batch)
    batch_size: int | None = None  # None: one full batch per epoch, no shuffling
    steps_per_batch: int = 1  # optimiser steps on each batch (its losses recomputed before each)
    grad_clip: float | None = None  # clip each active group's gradient norm
    validate_every: int = 1  # epochs between records (the last epoch of a stage is always recorded)
    score: str = "accuracy"  # the validation score, a key of SCORES (records carry val_<score>)
    patience: int | None = None  # end a stage after this many validations without improvement
    restore_best: bool = False  # end each stage on its best-validation state
    seed: int = 0  # the run's seed: the batch order is its "batches" stream

    def __post_init__(self) -> None:
        if self.score not in SCORES:
            raise ValueError(f"unknown score {self.score!r}; allowed: {', '.join(SCORES)}")

    def validation(self, record: dict[str, Any]) -> float:
        """The record's validation score, larger is better (NaN where there is none)."""
        value = record.get(f"val_{self.score}", math.nan)
        return -value if self.score in SMALLER_IS_BETTER else value


@dataclass
class Hooks:
    """Calls into every step; each gets the group index and the group's parameters."""

    transform_gradients: Callable[[int, list[nn.Parameter]], None] | None = None  # after backward, before clip
    after_step: Callable[[int, list[nn.Parameter]], None] | None = None  # after the optimiser step, no autograd
    end_stage: Callable[[int], None] | None = None  # after a stage's best state is restored


@dataclass
class Training:
    """What training produced: one record per recorded epoch, the epochs run to their end (all stages), and
    whether training ran to the end."""

    history: list[dict[str, Any]] = field(default_factory=list)
    epochs_run: int = 0
    complete: bool = True
    stop_reason: str | None = None


def train(module: nn.Module, groups: list[list[nn.Parameter]], losses: Losses, evaluate: Evaluate,
          schedule: Schedule, optimiser: Callable[[list[nn.Parameter]], torch.optim.Optimizer],
          hooks: Hooks | None = None, stop: Callable[[], bool] = lambda: False,
          log: logging.Logger | None = None, device: torch.device | str = "cpu") -> Training:
    """Train ``groups`` (parameters of ``module``, whose state is what the best-validation restore saves) on
    ``losses`` by ``schedule``; records are the epoch's mean group losses (``group_loss``, NaN for a group
    not computed), its batch statistics, training ``seconds`` and ``evaluate(stage, epoch)``. ``stop()`` is asked
    after every epoch."""
    hooks = hooks or Hooks()
    optimisers = [optimiser(group) for group in groups]
    generator = torch_generator(schedule.seed, "batches")
    out = Training()
    tracking = schedule.restore_best or schedule.patience is not None
    for stage, active in enumerate(schedule.stages):
        best: tuple[float, int, dict | None] | None = None
        waited = 0
        for epoch in range(schedule.epochs):
            start = time.perf_counter()
            if schedule.batch_size is None:
                batches: list[torch.Tensor | None] = [None]
            else:
                order = torch.randperm(schedule.items, generator=generator).to(device)
                batches = [order[k:k + schedule.batch_size] for k in range(0, schedule.items, schedule.batch_size)]
            sums = torch.zeros(len(groups), device=device)  # summed on the device: no sync per batch
            stats: dict[str, Any] = {}
            steps, seen = 0, set()  # groups whose loss was computed this epoch
            for index in batches:
                for _ in range(schedule.steps_per_batch):
                    step_losses, step_stats = losses(index, active)
                    computed = [g for g, loss in enumerate(step_losses) if loss is not None]
                    seen.update(computed)
                    detached = torch.stack([step_losses[g].detach() for g in computed])
                    if not bool(torch.isfinite(detached).all()):
                        _restore(module, best, out.history)  # back to the best state seen, if any
                        out.complete, out.stop_reason = False, f"{DIVERGED} in the loss"
                        return out
                    for g in active:
                        optimisers[g].zero_grad(set_to_none=True)
                    sum(step_losses[g] for g in active).backward()
                    for g in active:
                        if hooks.transform_gradients is not None:
                            hooks.transform_gradients(g, groups[g])
                        if schedule.grad_clip is not None:
                            torch.nn.utils.clip_grad_norm_(groups[g], schedule.grad_clip)
                        optimisers[g].step()
                        if hooks.after_step is not None:
                            with torch.no_grad():
                                hooks.after_step(g, groups[g])
                    if len(computed) == len(groups):
                        sums += detached
                    else:
                        sums[computed] += detached
                    for key, value in step_stats.items():
                        stats[key] = stats.get(key, 0.0) + value
                    steps += 1
            seconds = time.perf_counter() - start
            out.epochs_run += 1
            if epoch % schedule.validate_every == 0 or epoch == schedule.epochs - 1:
                mean = [v if g in seen else math.nan for g, v in enumerate((sums / steps).tolist())]
                record = {"stage": stage, "epoch": epoch, "seconds": seconds, "group_loss": mean,
                          **{k: float(v) / steps for k, v in stats.items()}, **evaluate(stage, epoch)}
                out.history.append(record)
                if log is not None:
                    log.info("stage %d epoch %d: loss %s; %s", stage, epoch,
                             " ".join(number(v) for v in record["group_loss"]),
                             ", ".join(f"{score_name(k)} {number(record[k])}" for k in record
                                       if k.startswith(("train_", "val_", "test_"))))
                score = schedule.validation(record)
                if tracking and (best is None and not math.isnan(score) or best is not None and score > best[0]):
                    state = copy.deepcopy(module.state_dict()) if schedule.restore_best else None
                    best, waited = (score, epoch, state), 0
                elif schedule.patience is not None:
                    waited += 1
                    if waited >= schedule.patience:
                        break
            if stop():
                _restore(module, best, out.history)
                out.complete, out.stop_reason = False, INTERRUPTED
                return out
        _restore(module, best, out.history)
        if hooks.end_stage is not None:
            hooks.end_stage(stage)
    return out


def _restore(module: nn.Module, best: tuple[float, int, dict | None] | None, history: list[dict]) -> None:
    """Load the stage's best-validation state and note its epoch in the stage's last record."""
    if best is not None and best[2] is not None:
        module.load_state_dict(best[2])
        history[-1]["best_epoch"] = best[1]
