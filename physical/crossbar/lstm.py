"""An LSTM cell on crossbar tiles whose gate activations are NL-ADCs (the seed paper's analog LSTM).

The cell's matrix [W_ih^T; W_hh^T; b] ((inputs + hidden + 1) x 4 hidden, the bias as a row driven at full scale)
sits on one tile per column block, read with a fixed input range (no per-sample scaling: the NL-ADC's ramp is
fixed), and each of the 4 hidden columns is digitised by its own NL-ADC: sigmoid for the input, forget and output
gates, tanh for the candidate. The cell state update c' = f c + i g and h' = o tanh(c') are digital.

The NL-ADC digitises the analog column signal itself, so no digital drift compensation can act before it; its ramp
devices drift as the weights' do (the same device model), and the thresholds are those of the ramp at the time of
the read. With the crossbar's ``drift_compensation`` the ramps are instead read at V_read times d_col / d_ramp (one
factor for all of them): d_col = sum |y(t)| / sum |y(0)| of the weight columns' all-ones probe (the global
compensation's measurement), d_ramp the same ratio of the ramps' total conductance, so the thresholds shrink as the
column signals do.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from biosim.physical.crossbar.analog import AnalogMatmul
from biosim.physical.crossbar.device import Memristor
from biosim.physical.crossbar.nladc import FUNCTIONS, NLADCSpec, build_nladc
from biosim.physical.crossbar.tile import Crossbar

GATES = ("sigmoid", "sigmoid", "tanh", "sigmoid")  # torch's order: input, forget, candidate (g), output


class AnalogLSTMCell(nn.Module):
    """nn.LSTMCell with its matrix on tiles and NL-ADC gate activations of ``bits`` (None: exact functions)."""

    programs_devices = True

    def __init__(self, cell: nn.LSTMCell, device: Memristor, crossbar: Crossbar, bits: int | None,
                 input_range: float = 1.0, path: str = "torch", nladc: NLADCSpec | None = None):
        super().__init__()
        rows = cell.input_size + cell.hidden_size + 1
        if crossbar.tile_rows < rows:
            raise ValueError(f"an NL-ADC digitises a whole column: the cell's {rows} rows must fit on one tile "
                             f"(tile_rows {crossbar.tile_rows})")
        self.compensate = crossbar.drift_compensation
        crossbar = crossbar.model_copy(update=dict(noise_management="constant", input_range=input_range,
                                                   adc_bits=None, out_bound=1e12, max_halvings=0,
                                                   drift_compensation=False))
        bias = cell.bias_ih + cell.bias_hh if cell.bias else torch.zeros(4 * cell.hidden_size)
        weight = torch.cat([cell.weight_ih.T, cell.weight_hh.T, bias[None] / input_range]).detach()
        self.matmul = AnalogMatmul(weight, device, crossbar, path)
        self.hidden_size, self.bits, self.input_range = cell.hidden_size, bits, input_range
        self.nladc = nladc or NLADCSpec()  # the gates' NL-ADC (its bits and function set per column)
        self.adcs: list = []
        self._thresholds: dict[float, torch.Tensor] = {}  # time -> (4 hidden x codes - 1), columns' output units
        self.meter = None  # an energy.EnergyCount that counts the NL-ADC conversions, when set

    def program(self, rng: np.random.Generator, read_rng: np.random.Generator | None = None) -> None:
        """Write the matrix, then one NL-ADC per column (ramp devices drawn from the same device model)."""
        self.matmul.program(rng, read_rng)
        if self.bits is None:
            return
        spec = self.nladc.model_copy(update={"bits": self.bits})
        scale = self.matmul.matrix.out_scale() * self.input_range  # output units per column-signal unit
        self.adcs = [build_nladc(spec.model_copy(update={"function": GATES[j // self.hidden_size]}),
                                 self.matmul.device, rng, scale=float(scale[j])) for j in range(len(scale))]
        self._scale = scale
        self._thresholds.clear()

    @property
    def thresholds(self) -> torch.Tensor | None:
        """The NL-ADCs' thresholds at the matrix's time since programming (None before programming)."""
        if not self.adcs:
            return None
        matrix = self.matmul.matrix
        t = matrix.t
        if t not in self._thresholds:
            gain = 1.0
            if self.compensate and t > 0 and matrix.devices.nu.any():
                d_ramp = (sum(float(adc.ramp.at(t).sum()) for adc in self.adcs)
                          / sum(float(adc.ramp.g.sum()) for adc in self.adcs))
                gain = 1 / (matrix.drift_compensation() * d_ramp)
            self._thresholds.clear()
            self._thresholds[t] = torch.from_numpy(np.stack([adc.thresholds(t) * s * gain for adc, s in
                                                             zip(self.adcs, self._scale, strict=True)]))
        return self._thresholds[t]

    def gates(self, z: torch.Tensor) -> torch.Tensor:
        """Gate outputs of pre-activations z (B x 4 hidden): NL-ADC codes at their midpoints once programmed; in
        training, the exact functions rounded the same way (straight-through)."""
        exact = torch.cat([getattr(torch, name)(part) for name, part in
                           zip(GATES, z.split(self.hidden_size, dim=1), strict=True)], dim=1)
        if self.bits is None:
            return exact
        lo = torch.tensor([FUNCTIONS[name][2][0] for name in GATES]).repeat_interleave(self.hidden_size)
        lsb = torch.tensor([np.diff(FUNCTIONS[name][2])[0] for name in GATES]).repeat_interleave(self.hidden_size)
        lsb = lsb / 2**self.bits
        if self.training or self.thresholds is None:
            codes = torch.floor((exact - lo) / lsb).clamp(0, 2**self.bits - 1)
        else:
            codes = (z.detach().double()[..., None] > self.thresholds).sum(dim=-1)
            if self.meter is not None:
                self.meter.add_nladc(len(z), self.adcs, self.matmul.device, self.matmul.crossbar.v_read)
        quantised = (lo + (codes + 0.5) * lsb).to(z.dtype)
        return exact + (quantised - exact).detach()

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        if state is None:
            zeros = torch.zeros(len(x), self.hidden_size, dtype=x.dtype)
            state = (zeros, zeros)
        h, c = state
        ones = torch.full((len(x), 1), self.input_range, dtype=x.dtype)
        i, f, g, o = self.gates(self.matmul(torch.cat([x, h, ones], dim=1))).split(self.hidden_size, dim=1)
        c = f * c + i * g
        return o * torch.tanh(c), c

    def to_digital(self) -> nn.LSTMCell:
        """An nn.LSTMCell with this cell's current weights (the bias row as bias_ih, bias_hh zero)."""
        w = self.matmul.weight.detach()
        n_in = w.shape[0] - self.hidden_size - 1
        cell = nn.LSTMCell(n_in, self.hidden_size, dtype=w.dtype)
        with torch.no_grad():
            cell.weight_ih.copy_(w[:n_in].T)
            cell.weight_hh.copy_(w[n_in:-1].T)
            cell.bias_ih.copy_(w[-1] * self.input_range)
            cell.bias_hh.zero_()
        return cell
