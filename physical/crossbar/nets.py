"""The float networks of the crossbar family (trained in software, then written onto tiles) and their analog
versions: an MLP on flattened images, and an LSTM reading an image row by row."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from biosim.physical.crossbar.analog import convert
from biosim.physical.crossbar.device import Memristor
from biosim.physical.crossbar.lstm import AnalogLSTMCell
from biosim.physical.crossbar.nladc import NLADCSpec
from biosim.physical.crossbar.tile import Crossbar

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


def mlp(n_inputs: int, hidden: list[int], n_classes: int, activation: str = "relu") -> nn.Sequential:
    """Flatten, then Linear + ``activation`` per hidden width, then a linear readout."""
    widths = [n_inputs, *hidden]
    layers: list[nn.Module] = [nn.Flatten()]
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(a, b), ACTIVATIONS[activation]()]
    return nn.Sequential(*layers, nn.Linear(widths[-1], n_classes))


class RowLSTM(nn.Module):
    """An LSTM over the rows of an image (one row of pixels per step), classified from the last hidden state."""

    def __init__(self, n_features: int, hidden: int, n_classes: int):
        super().__init__()
        self.cell = nn.LSTMCell(n_features, hidden)
        self.readout = nn.Linear(hidden, n_classes)

    def initialise_from(self, generator: torch.Generator) -> None:
        """torch's LSTM default, U(-1/sqrt(hidden), 1/sqrt(hidden)), from the run's generator."""
        bound = 1 / math.sqrt(self.cell.hidden_size)
        with torch.no_grad():
            for p in self.cell.parameters():
                p.uniform_(-bound, bound, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        state = None
        for t in range(x.shape[1]):
            state = self.cell(x[:, t], state)
        return self.readout(state[0])


def to_analog(net: nn.Module, device: Memristor, crossbar: Crossbar, bits: int | None = None,
              path: str = "torch", nladc: NLADCSpec | None = None) -> nn.Module:
    """A copy of ``net`` on tiles (MVMs on the torch or the Numba ``path``): every linear layer analog; an LSTM's
    cell with ``bits``-bit gates on NL-ADCs of ``nladc`` (its calibration and bias devices)."""
    net = copy.deepcopy(net)
    if isinstance(net, RowLSTM):
        net.cell = AnalogLSTMCell(net.cell, device, crossbar, bits, path=path, nladc=nladc)
    return convert(net, device, crossbar, path)
