"""The nets of the continual-learning family: a body of fully connected layers (:func:`mlp`) or k x k convolutions
each followed by 2 x 2 average pooling (:func:`cnn`), no biases, whose every layer records the presynaptic
activity ``x`` its weight gradient is made of (grad W = delta^T x; a convolution: its unfolded patches), with one
shared head (domain-incremental) or one head per task (task-incremental). The neuron decides what ``x`` is
(``neurons.py``):

* ``relu`` (:class:`RateNet`): the layer's input.
* ``dsr`` (:class:`DSRNet`): the weighted firing rate of the presynaptic spikes (T = 20 steps of repeated input).
* ``lif_bptt`` (:class:`LIFNet`): the presynaptic spikes of every step (T = 6), gradients by BPTT.
* ``lif_ottt`` (:class:`LIFNet`, online): the presynaptic traces of every step, OTTT's gradients (each step's
  error only, times the trace), summed over the steps in one backward pass.

A layer records ``steps`` rows per item, step-major (row s * batch + b; s runs over time steps and, in a
convolution, output positions).
"""

from __future__ import annotations

from dataclasses import dataclass
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
        rows = self.record(x.reshape(-1, shape[-1]), None if trace is None else trace.reshape(-1, shape[-1]))
        return rows.view(*shape[:-1], -1)

    def record(self, x: torch.Tensor, trace: torch.Tensor | None) -> torch.Tensor:
        """The output rows of input rows ``x`` (weight gradient from ``trace`` where given), recording them."""
        if trace is None:
            self.x = x.detach()
            y = x @ self.weight.T
        else:
            self.x = trace.detach()
            y = _TraceLinear.apply(x, self.x, self.weight)
        if self.keep_output and y.requires_grad:
            y.retain_grad()
            self.y = y
        return y

    def plain(self, x: torch.Tensor) -> torch.Tensor:
        """The same map on ``x`` (any leading dimensions), recording nothing."""
        return nn.functional.linear(x, self.weight)


class RecordingConv2d(RecordingLinear):
    """A k x k convolution (stride 1, zero padding k // 2, no bias) on images (..., C, H, W) computed as a linear
    layer on the unfolded patches (im2col), so ``weight`` is (out x C k k) and ``x`` the patches, one row per
    output position (rows ordered position-major: row (l * items + i), ``steps`` = positions x T per item)."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3):
        super().__init__(c_in * kernel * kernel, c_out)
        self.c_in, self.kernel = c_in, kernel

    def _patches(self, x: torch.Tensor) -> torch.Tensor:
        """(items, C, H, W) -> (H W items, C k k)."""
        cols = nn.functional.unfold(x, self.kernel, padding=self.kernel // 2)  # items x Ckk x HW
        return cols.permute(2, 0, 1).reshape(-1, cols.shape[1])

    def forward(self, x: torch.Tensor, trace: torch.Tensor | None = None) -> torch.Tensor:
        lead, (C, H, W) = x.shape[:-3], x.shape[-3:]
        items = x.reshape(-1, C, H, W)
        self.steps = H * W * (lead[0] if len(lead) == 2 else 1)
        rows = self.record(self._patches(items), None if trace is None else self._patches(trace.reshape(-1, C, H, W)))
        return rows.view(H, W, len(items), -1).permute(2, 3, 0, 1).reshape(*lead, -1, H, W)

    def plain(self, x: torch.Tensor) -> torch.Tensor:
        lead, (C, H, W) = x.shape[:-3], x.shape[-3:]
        w = self.weight.view(-1, self.c_in, self.kernel, self.kernel)
        y = nn.functional.conv2d(x.reshape(-1, C, H, W), w, padding=self.kernel // 2)
        return y.view(*lead, *y.shape[1:])


class Norm(nn.BatchNorm2d):
    """Batch normalisation of maps (..., C, H, W) over every leading dimension (steps and items) and position;
    once ``frozen`` (after the first task, as the official code's fix_bn) always with its running statistics."""

    frozen = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.batch_norm(x.reshape(-1, *x.shape[-3:]), self.running_mean, self.running_var, self.weight,
                                     self.bias, self.training and not self.frozen, self.momentum, self.eps)
        return y.view_as(x)

    @property
    def batch_statistics(self) -> bool:
        """Whether it normalises by the statistics of the batch (training on the first task)."""
        return self.training and not self.frozen

    def pair(self, current: torch.Tensor, drive: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """DSR's two views of a layer's input, ``current`` (T x batch x C x H x W) and its weighted rate ``drive``
        (batch x C x H x W), normalised alike with the statistics of ``current`` (with their gradient, as batch
        normalisation of the currents of every step; the running statistics once frozen). The normalised current
        comes back without a gradient (it only drives the neurons)."""
        if self.batch_statistics:
            dims = tuple(d for d in range(current.dim()) if d != current.dim() - 3)
            var, mean = torch.var_mean(current, dim=dims, correction=0)
            with torch.no_grad():
                n = current.numel() // current.shape[-3]
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var * n / max(n - 1, 1), self.momentum)
                self.num_batches_tracked += 1
        else:
            mean, var = self.running_mean, self.running_var
        scale = (self.weight / torch.sqrt(var + self.eps))[:, None, None]
        shift = self.bias[:, None, None] - mean[:, None, None] * scale
        with torch.no_grad():
            normalised = current * scale + shift
        return normalised, drive * scale + shift


class NoNorm(nn.Identity):
    """No normalisation (the MLPs)."""

    batch_statistics = False

    def pair(self, current: torch.Tensor, drive: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return current, drive


class Pool(nn.Module):
    """2 x 2 average pooling of (..., C, H, W); with ``flatten``, then the features (..., C H W)."""

    def __init__(self, flatten: bool = False):
        super().__init__()
        self.flatten = flatten

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-3]
        y = nn.functional.avg_pool2d(x.reshape(-1, *x.shape[-3:]), 2)
        return y.reshape(*lead, -1) if self.flatten else y.view(*lead, *y.shape[1:])


@dataclass
class Body:
    """The hidden layers of a net: ``layers`` (each followed by ``norms[l]``, its neurons, then ``after[l]``), the
    ``features`` the heads read, and ``image`` (H, W, C) when the flat inputs are to be shaped as images."""

    layers: list[RecordingLinear]
    norms: list[nn.Module]
    after: list[nn.Module]
    features: int
    image: tuple[int, int, int] | None = None


def mlp(n_inputs: int, hidden: list[int]) -> Body:
    """Fully connected layers n_inputs - hidden..."""
    widths = [n_inputs, *hidden]
    return Body([RecordingLinear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True)],
                [NoNorm() for _ in hidden], [nn.Identity() for _ in hidden], widths[-1])


def cnn(image: tuple[int, int, int], channels: list[int], kernel: int = 3) -> Body:
    """k x k convolutions with ``channels`` on images (H, W, C), each followed by batch normalisation, the
    neurons and 2 x 2 average pooling (as the official CIFAR net); the last pooled maps flattened for the heads."""
    H, W, C = image
    widths = [C, *channels]
    return Body([RecordingConv2d(a, b, kernel) for a, b in zip(widths[:-1], widths[1:], strict=True)],
                [Norm(c) for c in channels],
                [Pool(flatten=l == len(channels) - 1) for l in range(len(channels))],
                channels[-1] * (H >> len(channels)) * (W >> len(channels)), image)


class Net(nn.Module):
    """A body (``mlp`` or ``cnn``) and ``heads`` output layers (1: shared); ``timesteps`` T of repeated input (1
    for rate nets). Subclasses give ``outputs`` (T x batch x classes); the scores are their mean over time, the
    loss the cross-entropy of the scores."""

    online = False  # True (OTTT): the loss is the mean over steps of each step's cross-entropy

    def __init__(self, body: Body, n_classes: int, heads: int = 1, timesteps: int = 1):
        super().__init__()
        self.body = nn.ModuleList(body.layers)
        self.norms = nn.ModuleList(body.norms)
        self.after = nn.ModuleList(body.after)
        self.heads = nn.ModuleList(RecordingLinear(body.features, n_classes) for _ in range(heads))
        self.timesteps, self.image = timesteps, body.image

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Flat inputs (batch x n) as the body reads them (images: batch x C x H x W)."""
        return x if self.image is None else x.view(len(x), *self.image).permute(0, 3, 1, 2)

    def begin_task(self, t: int) -> None:
        """Before task t trains: after the first, the normalisation keeps its running statistics (fix_bn)."""
        for norm in self.norms:
            norm.frozen = t > 0

    def stages(self):
        """Each hidden layer with its normalisation and what follows its neurons."""
        return zip(self.body, self.norms, self.after, strict=True)

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


class RateNet(Net):
    """ReLU after every hidden layer."""

    def outputs(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        x = self.inputs(x)
        for layer, norm, after in self.stages():
            x = after(torch.relu(norm(layer(x))))
        return self.readout(x[None], task)


class DSRNet(Net):
    """DSR neurons (one trainable threshold V_th per hidden layer, 0.3 at the start) driven by T steps of the
    repeated input; each layer's ``x`` is the weighted firing rate of its input (the input itself for the first)."""

    def __init__(self, body: Body, n_classes: int, heads: int = 1, timesteps: int = DEFAULT_STEPS["dsr"],
                 p: neurons.DSRParameters = DSR, v_th: float = 0.3):
        super().__init__(body, n_classes, heads, timesteps)
        self.p = p
        self.v_th = nn.Parameter(torch.full((len(body.layers),), v_th))

    def outputs(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        spikes, rate = None, self.inputs(x)
        for l, (layer, norm, after) in enumerate(self.stages()):
            drive = layer(rate)  # the weighted rate of the input current, with its gradient
            if spikes is None:  # the first layer's input is constant: its current is the drive at every step
                current, drive = norm.pair(drive[None], drive)
                current = current.expand(self.timesteps, *drive.shape)
            else:  # the currents need a gradient only for the statistics of a batch normalisation (first task)
                with torch.set_grad_enabled(torch.is_grad_enabled() and norm.batch_statistics):
                    current = layer.plain(spikes)
                current, drive = norm.pair(current, drive)
            spikes, rate = neurons.dsr(current, drive, self.v_th[l], self.p)
            spikes, rate = after(spikes), after(rate)  # pooling is linear: the pooled spikes' rate is the pooled rate
        return self.readout(rate[None], task)


class LIFNet(Net):
    """Multi-step LIF neurons driven by T steps of the repeated input, the output layer's currents averaged over
    the steps. ``online`` False: BPTT through the unrolled steps, each layer's ``x`` its input at every step;
    True: OTTT, v detached between steps, each step's loss its own, weight gradients (and ``x``) from the
    presynaptic spikes' traces (the first layer: from the image, as the official code). With batch
    normalisation (the CNN) the first task's statistics span all T steps, so OTTT is strictly online only once
    they are fixed (from the second task on)."""

    def __init__(self, body: Body, n_classes: int, heads: int = 1, timesteps: int = DEFAULT_STEPS["lif_bptt"],
                 p: neurons.LIFParameters = LIF, online: bool = False):
        super().__init__(body, n_classes, heads, timesteps)
        self.p, self.online = p, online

    def _trace(self, s: torch.Tensor) -> torch.Tensor | None:
        return neurons.traces(s, self.p.tau) if self.online else None

    def outputs(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        x = self.inputs(x)
        s = x.expand(self.timesteps, *x.shape)
        for l, (layer, norm, after) in enumerate(self.stages()):
            # the first layer's input is the image itself, no trace
            s = after(neurons.lif(norm(layer(s, self._trace(s) if l else None)), self.p, self.online))
        return self.readout(s, task, self._trace(s))


def make_net(neuron: str, body: Body, n_classes: int, heads: int, timesteps: int | None) -> Net:
    """The net of ``neuron`` (one of ``DEFAULT_STEPS``; ``timesteps`` None: the neuron's default T) on ``body``."""
    T = timesteps or DEFAULT_STEPS[neuron]
    if neuron == "relu":
        return RateNet(body, n_classes, heads)
    if neuron == "dsr":
        return DSRNet(body, n_classes, heads, T)
    return LIFNet(body, n_classes, heads, T, online=neuron == "lif_ottt")
