"""Continual-learning rules (plug into ``continual_learning``, declared in ``biosim.networks.continual.target``):
parameters only; each ``torch`` builder returns the method the family runs (``networks/continual/methods.py``),
``rule.implementation("torch", net=..., generator=...)``. One YAML line swaps them: ``rule: hlop``,
``rule: {name: ewc, lam: 30}``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, model_validator

from biosim.registry import register
from biosim.targets import Rule

CONTINUAL_LEARNING = "continual_learning"  # declared in biosim.networks.continual.target
Rows = list[Annotated[int, Field(ge=0)]]


class ContinualRule(Rule):
    """A way of training a net on a sequence of tasks."""

    plugs_into: ClassVar[str] = CONTINUAL_LEARNING


@register("rule", "fine_tuning")
class FineTuning(ContinualRule):
    """Plain SGD on each task in turn (the baseline: nothing protects the old tasks)."""

    reads: ClassVar[str] = "the loss of the current task"


@register("rule", "multitask")
class Multitask(ContinualRule):
    """Joint training: at task t, training on the union of the training items of tasks 0..t (the upper bound)."""

    reads: ClassVar[str] = "the loss of every task seen so far"


@register("rule", "ewc")
class EWC(ContinualRule):
    """Elastic weight consolidation, online: penalty lam/2 sum F (w - w*)^2, F the diagonal empirical Fisher
    accumulated over the finished tasks (F <- gamma F + F_t), w* the weights after the last task."""

    reads: ClassVar[str] = "per-sample gradients (output error x presynaptic activity) after each task"
    lam: float = Field(30.0, gt=0, description="penalty strength (dimensionless)")
    gamma: float = Field(1.0, ge=0, le=1, description="decay of the earlier tasks' Fisher information at each task")


class SubspaceRule(ContinualRule):
    """A rule that protects a subspace of each shared layer's presynaptic activity: ``k`` rows after the first
    task, ``k_per_task`` more after each later one (one entry per shared layer; or one such list per later task,
    as the official PMNIST schedule)."""

    k: Rows = Field([20, 30, 30], min_length=1, description="subspace rows per shared layer for the first task")
    k_per_task: Rows | list[Rows] = Field(
        [10, 15, 15], min_length=1, description="rows added per shared layer at each new task: one list for every "
                                                "task, or a list of such lists, one per later task (entries "
                                                "beyond the run's tasks are checked, not used)")

    def rows(self, t: int) -> list[int]:
        """Rows added per shared layer for task t (0: ``k``)."""
        if t == 0:
            return list(self.k)
        per_task = self.k_per_task
        return list(per_task[t - 1] if isinstance(per_task[0], list) else per_task)


@register("rule", "svd_projection")
class SVDProjection(SubspaceRule):
    """Exact SVD of each finished task's activities (rows x n, the residual after the old basis, through its Gram
    matrix): the top-k right singular vectors appended to an orthonormal basis; gradients projected off it (a
    GPM-like reference with HLOP's k)."""

    reads: ClassVar[str] = "the presynaptic activities of each finished task"


@register("rule", "hlop")
class HLOP(SubspaceRule):
    """Hebbian learning based orthogonal projection (Xiao et al. 2024): lateral subspace neurons learn the principal
    subspace of each layer's presynaptic activity with the Oja subspace rule (``oja_subspace``, the same rule
    object), old neurons frozen, and later weight gradients projected off their rows."""

    reads: ClassVar[str] = "the presynaptic activity x of each shared layer"
    iterations: int = Field(5, ge=1, description="Hebbian iterations per training batch")
    momentum: float = Field(0.9, ge=0, lt=1, description="momentum of the Hebbian update")
    clamp: float = Field(10.0, gt=0, description="each entry of the Hebbian update is clipped to +-clamp")
    lr: list[Annotated[float, Field(gt=0)]] | None = Field(
        None, description="Hebbian learning rate per shared layer (the official code's PMNIST rates: [0.001, 0.01, "
                          "0.01]); unset: the stable rate, the running minimum over the task's batches of "
                          "stable_factor / mean ||x||^2")
    stable_factor: float = Field(0.5, gt=0, description="eta * mean ||x||^2 of the stable rate (lr unset)")
    orthonormal_projection: bool = Field(
        True, description="project gradients off an orthonormal basis of the frozen rows' span (SVD): the projection "
                          "on its complement; false: with the rows themselves, grad (I - H^T H), as the official "
                          "code (exact only where H H^T = I; the learned rows of later tasks are not orthonormal)")
    lateral_steps: int | None = Field(
        None, gt=0, description="spiking lateral neurons: y = H x rate-coded over T_h steps, y_q = round(clip(y, +-s)"
                                " / s T_h) / T_h s (the code's default T_h is 1000; the paper finds about 40 "
                                "enough); unset: linear lateral neurons")
    lateral_scale: float | None = Field(None, gt=0, description="s, the range of y the lateral neurons' rate code "
                                                                "spans (with lateral_steps; unset: 20)")

    @model_validator(mode="after")
    def _scale_needs_steps(self) -> HLOP:
        if self.lateral_scale is not None and self.lateral_steps is None:
            raise ValueError("lateral_scale is the range of spiking lateral neurons: set lateral_steps (T_h, e.g. "
                             "40) too, or drop lateral_scale")
        return self


@register("builder", "fine_tuning/torch")
def build_fine_tuning(rule: FineTuning, *, net, generator):
    from biosim.networks.continual.methods import FineTuning as Method

    return Method(net)


@register("builder", "multitask/torch")
def build_multitask(rule: Multitask, *, net, generator):
    from biosim.networks.continual.methods import Multitask as Method

    return Method(net)


@register("builder", "ewc/torch")
def build_ewc(rule: EWC, *, net, generator):
    from biosim.networks.continual.methods import EWC as Method

    return Method(net, rule.lam, rule.gamma)


@register("builder", "svd_projection/torch")
def build_svd_projection(rule: SVDProjection, *, net, generator):
    from biosim.networks.continual.methods import SVDProjection as Method

    return Method(net, rule.rows)


@register("builder", "hlop/torch")
def build_hlop(rule: HLOP, *, net, generator):
    from biosim.networks.continual.methods import HLOP as Method
    from biosim.rules.rate_projection.oja import OjaSubspace

    delta = OjaSubspace(eta=1.0).implementation("torch").delta  # D = y^T (x - y H) / B, y = H x
    return Method(net, rule.rows, rule.iterations, rule.momentum, rule.clamp, rule.lr,
                  rule.stable_factor, delta, generator, rule.orthonormal_projection,
                  None if rule.lateral_steps is None else (rule.lateral_steps, rule.lateral_scale or 20.0))
