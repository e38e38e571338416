"""Physics-aware training (Wright, Onodera et al., Nature 2022) on a physical stack: every layer's forward pass
runs the real (black-box) medium, its backward pass the vector-Jacobian product of a differentiable digital twin
(``twins.py``) at the same input; the digital maps (the controllable parameters here) train end to end on the
cross-entropy of a linear readout."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from biosim.networks.layer_local.nets import LocalNet


class _PhysicsAware(torch.autograd.Function):
    """y = real(u) forward; the gradient of the twin at u backward."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, real: Any, twin: Any) -> torch.Tensor:
        ctx.save_for_backward(u)
        ctx.twin = twin
        return real(u)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (u,) = ctx.saved_tensors
        with torch.enable_grad():  # the twin runs on the CPU in float64, as the media do
            v = u.detach().cpu().double().requires_grad_()
            (g,) = torch.autograd.grad(ctx.twin(v), v, grad.detach().cpu().double())
        return g.to(device=grad.device, dtype=grad.dtype), None, None


def normalise(h: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """Each sample divided by its RMS, smooth at zero (the gradient flows through it here, and a layer whose
    units are all silent for a sample must not make it NaN)."""
    return h / torch.sqrt(h.pow(2).mean(dim=1, keepdim=True) + eps ** 2)


class PhysicsAwareNet(LocalNet):
    """Layers of (physical front -> linear -> ReLU), RMS-normalised between layers, then a linear readout; one
    group trained by cross-entropy. ``fronts`` None: plain backprop through linear layers (no physics)."""

    def __init__(self, widths: list[int], n_inputs: int, n_classes: int, fronts: list[Any] | None = None,
                 twins: list[Any] | None = None):
        super().__init__()
        sizes = [n_inputs, *widths]
        self.fronts = nn.ModuleList(fronts) if fronts is not None else None
        self.twins = twins
        ins = [f.width(n) for f, n in zip(fronts, sizes[:-1], strict=True)] if fronts is not None else sizes[:-1]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(ins, sizes[1:], strict=True))
        self.readout = nn.Linear(sizes[-1], n_classes)

    def groups(self):
        return [list(self.parameters())]

    def group_names(self):
        return ["all layers"]

    def physical(self, k: int, u: torch.Tensor) -> torch.Tensor:
        """Layer k's physical block on u: real forward, twin backward (and the skip path, differentiable)."""
        front = self.fronts[k]
        y = _PhysicsAware.apply(u, front.medium_output, self.twins[k])
        return torch.cat([y, u], dim=1) if front.skip else y

    def hidden(self, x):
        out = []
        for k, layer in enumerate(self.layers):
            u = normalise(out[-1]) if out else x
            out.append(F.relu(layer(self.physical(k, u) if self.fronts is not None else u)))
        return out

    def predict(self, x):
        return self.readout(self.hidden(x)[-1])

    def local_losses(self, x, y):
        return [F.cross_entropy(self.predict(x), y)], {}
