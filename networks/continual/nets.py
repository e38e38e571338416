"""The nets of the continual-learning family: a rate (ReLU, no bias) MLP whose every linear layer records its
presynaptic activity ``x`` on the forward pass, with one shared head (domain-incremental) or one head per task
(task-incremental)."""

from __future__ import annotations

import torch
from torch import nn


class RecordingLinear(nn.Linear):
    """y = x W^T (no bias), keeping ``x`` (detached: the presynaptic activity the rules read) and, with
    ``keep_output``, ``y`` with its gradient retained."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__(n_in, n_out, bias=False)
        self.x: torch.Tensor | None = None
        self.y: torch.Tensor | None = None
        self.keep_output = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.x = x.detach()
        y = super().forward(x)
        if self.keep_output and y.requires_grad:
            y.retain_grad()
            self.y = y
        return y


class RateMLP(nn.Module):
    """n_inputs - hidden... - n_classes, ReLU between layers; ``heads`` output layers (1: shared)."""

    def __init__(self, n_inputs: int, hidden: list[int], n_classes: int, heads: int = 1):
        super().__init__()
        widths = [n_inputs, *hidden]
        self.body = nn.ModuleList(RecordingLinear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.heads = nn.ModuleList(RecordingLinear(widths[-1], n_classes) for _ in range(heads))

    def forward(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        for layer in self.body:
            x = torch.relu(layer(x))
        if len(self.heads) == 1:
            return self.heads[0](x)
        scores = torch.stack([head(x) for head in self.heads], dim=1)  # batch x heads x classes
        return scores[torch.arange(len(x), device=x.device), task]

    def layers(self) -> list[RecordingLinear]:
        return [*self.body, *self.heads]

    def shared_layers(self) -> list[RecordingLinear]:
        return [*self.body, *self.heads] if len(self.heads) == 1 else list(self.body)
