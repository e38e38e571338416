"""The ``continual_learning`` target: the layers of a net trained on a sequence of tasks, and what a rule does
between and inside the tasks to keep the old ones.

A rule on this target (``rules/continual.py``) has a ``torch`` builder, ``@register("builder", "<rule>/torch")``,
called as ``rule.implementation("torch", net=..., generator=...)``; it returns a :class:`ContinualMethod`, whose
calls the family makes around ``biosim.torch.trainer.train`` (one training per task). A method reads the net only
through :class:`PresynapticLayer`: each layer's weight and its presynaptic activity ``x`` of the last forward pass
(a rate layer: its input; a spiking layer: its weighted firing rate, spikes or traces; a convolution: its
unfolded patches), so spiking layers plug in without changing any rule.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from biosim.registry import register
from biosim.targets import Target


@runtime_checkable
class PresynapticLayer(Protocol):
    """A layer whose weight gradient is delta^T x: ``weight`` (out x n) and ``x`` (rows x n, detached), the
    presynaptic activity of its last forward pass, ``steps`` rows per item (step-major: row s * batch + b, s
    over time steps and a convolution's output positions; 1 for a rate layer); with ``keep_output`` set it also
    keeps its output ``y`` (rows x out) with its gradient retained (per-sample gradients for the Fisher
    information)."""

    weight: Any
    x: Any
    y: Any
    steps: int
    keep_output: bool


@runtime_checkable
class ContinualNet(Protocol):
    """What the family trains (``networks/continual/nets.py``)."""

    def __call__(self, x: Any, task: Any) -> Any:
        """Class scores (batch x classes) of inputs ``x`` for their tasks ``task`` (long, batch)."""

    def loss(self, x: Any, task: Any, y: Any, reduction: str = "mean") -> Any:
        """The training loss of items ``x`` of tasks ``task`` with labels ``y`` ("mean" or "sum" over items)."""

    def begin_task(self, t: int) -> None:
        """Before task t trains (e.g. after the first task, normalisation statistics stay fixed)."""

    def layers(self) -> list[PresynapticLayer]:
        """Every weight layer, heads included."""

    def shared_layers(self) -> list[PresynapticLayer]:
        """The layers every task uses (a projection rule protects these; multi-head nets leave the heads out)."""


@runtime_checkable
class ContinualMethod(Protocol):
    """What a rule runs: hooks the family calls at each task boundary and the trainer at each step."""

    def training_tasks(self, t: int) -> list[int]:
        """The tasks whose training items train task t (fine-tuning: [t]; joint training: 0..t)."""

    def begin_task(self, t: int) -> None:
        """Before task t trains."""

    def penalty(self) -> Any:
        """A loss term added to every batch's loss (a scalar tensor), or None."""

    def transform_gradients(self) -> None:
        """Change the shared layers' weight gradients in place before each optimiser step."""

    def after_step(self) -> None:
        """After each optimiser step, outside autograd (reads each layer's ``x`` of the step's batch)."""

    def end_task(self, t: int, x: Any, y: Any, task: Any, batch_size: int) -> None:
        """After task t trained on inputs ``x``, labels ``y`` and task indices ``task``."""

    def subspaces(self) -> list[Any]:
        """Per shared layer, the rows (k x n) of its protected subspace (0 rows where there is none)."""


CONTINUAL_LEARNING = register("target", "continual_learning")(Target(
    "the weights of a net trained on a sequence of tasks: what changes them inside a task and what each task keeps",
    ContinualMethod, ("torch",)))
