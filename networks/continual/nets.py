"""The nets of the continual-learning family: MLPs (no bias) whose every linear layer records the presynaptic
activity ``x`` its weight gradient is made of (grad W = delta^T x), with one shared head (domain-incremental) or
one head per task (task-incremental). The neuron decides what ``x`` is (``neurons.py``):

* ``relu`` (:class:`RateMLP`): the layer's input.
* ``dsr`` (:class:`DSRMLP`): the weighted firing rate of the presynaptic spikes (T = 20 steps of repeated input).
* ``lif_bptt`` (:class:`LIFMLP`): the presynaptic spikes of every step (T = 6), gradients by BPTT.
* ``lif_ottt`` (:class:`LIFMLP`, online): the presynaptic traces of every step, OTTT's gradients (each step's
  error only, times the trace), summed over the steps in one backward pass.

A sequence layer records ``steps`` rows per item, time-major (row t * batch + b).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from biosim.networks.continual import neurons

DSR, LIF = neurons.DSRParameters(), neurons.LIFParameters()  # the official code's parameters
DEFAULT_STEPS = {"relu": 1, "dsr": 20, "lif_bptt": 6, "lif_ottt": 6}


class _TraceLinear(torch.autograd.Function):
    """y = s W^T whose weight gradient is grad^T a (a: the presynaptic traces), the input gradient grad W."""

    @staticmethod
    def forward(ctx, s: torch.Tensor, a: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(a, weight)
        return s @ weight.T

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, None, torch.Tensor | None]:
        a, weight = ctx.saved_tensors
        return (grad @ weight if ctx.needs_input_grad[0] else None, None,
                grad.T @ a if ctx.needs_input_grad[2] else None)


class RecordingLinear(nn.Linear):
    """y = x W^T (no bias) on items (batch x n) or sequences (T x batch x n), keeping ``x`` (rows x n, detached:
    the presynaptic activity the rules read; with ``trace``, the trace instead, which then also makes the weight
    gradient), ``steps`` (rows per item) and, with ``keep_output``, ``y`` (rows x out) with its gradient retained."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__(n_in, n_out, bias=False)
        self.x: torch.Tensor | None = None
        self.y: torch.Tensor | None = None
        self.steps = 1
        self.keep_output = False

    def forward(self, x: torch.Tensor, trace: torch.Tensor | None = None) -> torch.Tensor:
        shape = x.shape
        self.steps = shape[0] if x.dim() == 3 else 1
        x = x.reshape(-1, shape[-1])
        if trace is None:
            self.x = x.detach()
            y = super().forward(x)
        else:
            self.x = trace.reshape(-1, shape[-1]).detach()
            y = _TraceLinear.apply(x, self.x, self.weight)
        if self.keep_output and y.requires_grad:
            y.retain_grad()
            self.y = y
        return y.view(*shape[:-1], -1)


class MLP(nn.Module):
    """n_inputs - hidden... - n_classes with ``heads`` output layers (1: shared); ``timesteps`` T of repeated
    input (1 for rate nets). Subclasses give ``outputs`` (T x batch x classes); the scores are their mean over
    time, the loss the cross-entropy of the scores."""

    online = False  # True (OTTT): the loss is the mean over steps of each step's cross-entropy

    def __init__(self, n_inputs: int, hidden: list[int], n_classes: int, heads: int = 1, timesteps: int = 1):
        super().__init__()
        widths = [n_inputs, *hidden]
        self.body = nn.ModuleList(RecordingLinear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.heads = nn.ModuleList(RecordingLinear(widths[-1], n_classes) for _ in range(heads))
        self.timesteps = timesteps

    def outputs(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        return self.outputs(x, task).mean(0)

    def loss(self, x: torch.Tensor, task: torch.Tensor, y: torch.Tensor,
             reduction: Literal["mean", "sum"] = "mean") -> torch.Tensor:
        """Cross-entropy of the items' scores (``online``: of every step's outputs, averaged over steps)."""
        out = self.outputs(x, task)
        if not self.online:
            return nn.functional.cross_entropy(out.mean(0), y, reduction=reduction)
        T = len(out)
        loss = nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.repeat(T), reduction=reduction)
        return loss / T if reduction == "sum" else loss

    def readout(self, h: torch.Tensor, task: torch.Tensor, trace: torch.Tensor | None = None) -> torch.Tensor:
        """Class scores of the last hidden activity ``h`` (T x batch x n) by each item's head."""
        if len(self.heads) == 1:
            return self.heads[0](h, trace)
        scores = torch.stack([head(h, trace) for head in self.heads], dim=2)  # T x batch x heads x classes
        return scores[:, torch.arange(h.shape[1], device=h.device), task]

    def layers(self) -> list[RecordingLinear]:
        return [*self.body, *self.heads]

    def shared_layers(self) -> list[RecordingLinear]:
        return [*self.body, *self.heads] if len(self.heads) == 1 else list(self.body)


class RateMLP(MLP):
    """ReLU between layers."""

    def outputs(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        for layer in self.body:
            x = torch.relu(layer(x))
        return self.readout(x[None], task)


class DSRMLP(MLP):
    """DSR neurons (one trainable threshold V_th per hidden layer, 0.3 at the start) driven by T steps of the
    repeated input; each layer's ``x`` is the weighted firing rate of its input (the input itself for the first)."""

    def __init__(self, n_inputs: int, hidden: list[int], n_classes: int, heads: int = 1,
                 timesteps: int = DEFAULT_STEPS["dsr"], p: neurons.DSRParameters = DSR, v_th: float = 0.3):
        super().__init__(n_inputs, hidden, n_classes, heads, timesteps)
        self.p = p
        self.v_th = nn.Parameter(torch.full((len(hidden),), v_th))

    def outputs(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        spikes, rate = None, x
        for l, layer in enumerate(self.body):
            drive = layer(rate)  # the weighted rate of the input current, with its gradient
            with torch.no_grad():  # the first layer's input is constant: its current is the drive at every step
                current = (drive.detach().expand(self.timesteps, *drive.shape) if spikes is None
                           else nn.functional.linear(spikes, layer.weight))
            spikes, rate = neurons.dsr(current, drive, self.v_th[l], self.p)
        return self.readout(rate[None], task)


class LIFMLP(MLP):
    """Multi-step LIF neurons driven by T steps of the repeated input, the output layer's currents averaged over
    the steps. ``online`` False: BPTT through the unrolled steps, each layer's ``x`` its input at every step;
    True: OTTT, v detached between steps, each step's loss its own, weight gradients (and ``x``) from the
    presynaptic spikes' traces (the first layer: from the image, as the official code)."""

    def __init__(self, n_inputs: int, hidden: list[int], n_classes: int, heads: int = 1,
                 timesteps: int = DEFAULT_STEPS["lif_bptt"], p: neurons.LIFParameters = LIF, online: bool = False):
        super().__init__(n_inputs, hidden, n_classes, heads, timesteps)
        self.p, self.online = p, online

    def _trace(self, s: torch.Tensor) -> torch.Tensor | None:
        return neurons.traces(s, self.p.tau) if self.online else None

    def outputs(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        s = x.expand(self.timesteps, *x.shape)
        for l, layer in enumerate(self.body):  # the first layer's input is the image itself, no trace
            s = neurons.lif(layer(s, self._trace(s) if l else None), self.p, self.online)
        return self.readout(s, task, self._trace(s))


def make_net(neuron: str, n_inputs: int, hidden: list[int], n_classes: int, heads: int,
             timesteps: int | None) -> MLP:
    """The MLP of ``neuron`` (one of ``DEFAULT_STEPS``; ``timesteps`` None: the neuron's default T)."""
    T = timesteps or DEFAULT_STEPS[neuron]
    if neuron == "relu":
        return RateMLP(n_inputs, hidden, n_classes, heads)
    if neuron == "dsr":
        return DSRMLP(n_inputs, hidden, n_classes, heads, T)
    return LIFMLP(n_inputs, hidden, n_classes, heads, T, online=neuron == "lif_ottt")
