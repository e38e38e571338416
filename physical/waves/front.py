"""A frozen medium as the front of a trained layer: the net hands it arrays, gets arrays back, and no autograd
graph passes through (the model-free setting of PhyLL: a layer learns from the measured output alone)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


class PhysicalFront(nn.Module):
    """y = medium(u) on NumPy float64 arrays (detached: no gradient reaches u); with ``skip``, [y, u]. ``calls``
    counts the samples sent through the medium. (The media keep their outputs of order 1, so the digital map
    needs no gain; a per-sample normalisation here would make the linear-physics control nonlinear.)"""

    def __init__(self, medium: Any, skip: bool = False, twin_rng: np.random.Generator | None = None):
        super().__init__()
        self.medium, self.skip, self.calls = medium, skip, 0
        self.twin_rng = twin_rng  # draws the reality gap of a digital twin (physics-aware training)

    def width(self, n_inputs: int) -> int:
        """The output width for ``n_inputs`` input features."""
        return self.medium.n_outputs + (n_inputs if self.skip else 0)

    def medium_output(self, u: torch.Tensor) -> torch.Tensor:
        """The medium's output for ``u`` (detached), as a tensor like ``u``."""
        u = u.detach()
        y = self.medium(u.cpu().numpy().astype(np.float64))
        self.calls += len(y)
        return torch.as_tensor(y, dtype=u.dtype, device=u.device)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        y = self.medium_output(u)
        return torch.cat([y, u.detach()], dim=1) if self.skip else y
