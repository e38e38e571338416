"""Analog torch layers: the layer factory keeps a float net's function on ideal tiles, trains through the
converters, runs the same frozen devices on both paths; the analog LSTM cell with NL-ADC gates."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from biosim.physical.crossbar.analog import AnalogConv2d, AnalogLinear, convert, program, set_time
from biosim.physical.crossbar.device import PCM, Memristor
from biosim.physical.crossbar.lstm import AnalogLSTMCell
from biosim.physical.crossbar.tile import Crossbar

IDEAL = Crossbar(dac_bits=None, adc_bits=None, max_halvings=0, out_bound=1e12, tile_rows=100)


@pytest.fixture
def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 10)).double()


def test_factory_on_ideal_tiles_keeps_the_function(net):
    x = torch.randn(6, 1, 8, 8, dtype=torch.float64)
    analog = convert(copy.deepcopy(net), Memristor(), IDEAL).eval()
    assert isinstance(analog[0], AnalogConv2d) and isinstance(analog[3], AnalogLinear)
    assert analog[3].matmul.matrix is None
    program(analog, np.random.default_rng(0))
    assert analog[0].matmul.matrix.n_tiles == 1 and analog[3].matmul.matrix.n_tiles == 3
    torch.testing.assert_close(analog(x), net(x), rtol=0, atol=1e-12)


def test_frozen_devices_give_the_same_output_on_both_paths(net):
    x = torch.randn(6, 1, 8, 8, dtype=torch.float64)
    device, crossbar = PCM(sigma_read=0.02, stuck_off=0.01), Crossbar(tile_rows=64, ir_drop="first_order")
    outputs = []
    for path in ("torch", "numba"):
        analog = convert(copy.deepcopy(net), device, crossbar, path).eval()
        program(analog, np.random.default_rng(4), np.random.default_rng(5))
        set_time(analog, 3600.0)
        outputs.append(analog(x))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=1e-12)
    assert (outputs[0] - net(x)).abs().max() > 1e-3


def test_hardware_aware_training_draws_fresh_noise_and_passes_gradients(net):
    x = torch.randn(6, 1, 8, 8, dtype=torch.float64)
    analog = convert(copy.deepcopy(net), Memristor(programming="gaussian", sigma_programming=0.05, levels=16),
                     Crossbar()).train()
    first, second = analog(x), analog(x)
    assert not torch.equal(first, second)
    first.square().sum().backward()
    for layer in (analog[0], analog[3]):
        assert layer.matmul.weight.grad.abs().sum() > 0


def test_lstm_cell_without_nladc_is_the_float_cell():
    torch.manual_seed(0)
    cell = nn.LSTMCell(8, 16).double()
    x, state = torch.rand(5, 8, dtype=torch.float64), (torch.rand(5, 16).double() - 0.5, torch.rand(5, 16).double())
    analog = AnalogLSTMCell(cell, Memristor(), IDEAL, bits=None).eval()
    analog.program(np.random.default_rng(0))
    for got, want in zip(analog(x, state), cell(x, state), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("bits", [3, 5, 8])
def test_lstm_nladc_gates_are_the_rounded_functions(bits):
    """Ideal devices: the programmed NL-ADCs give exactly the midpoint-rounded sigmoid/tanh that training uses,
    and the error of the gates is at most half an LSB."""
    torch.manual_seed(1)
    cell = nn.LSTMCell(8, 16).double()
    x = torch.rand(7, 8, dtype=torch.float64)
    analog = AnalogLSTMCell(cell, Memristor(), IDEAL, bits=bits)
    analog.program(np.random.default_rng(0))
    z = torch.randn(7, 64, dtype=torch.float64) * 3
    analog.eval()
    programmed = analog.gates(z)
    analog.train()
    torch.testing.assert_close(programmed, analog.gates(z), rtol=0, atol=1e-12)
    exact = AnalogLSTMCell(cell, Memristor(), IDEAL, bits=None).gates(z)
    lsb = torch.tensor([1, 1, 2, 1], dtype=torch.float64).repeat_interleave(16) / 2**bits
    assert torch.all((programmed - exact).abs() <= lsb / 2 + 1e-12)
    h, _ = analog.eval()(x)
    assert (h - cell(x)[0]).abs().max() < 4 * 2.0**-bits


def test_lstm_refuses_a_cell_larger_than_a_tile():
    with pytest.raises(ValueError, match="must fit on one tile"):
        AnalogLSTMCell(nn.LSTMCell(8, 16), Memristor(), Crossbar(tile_rows=16), bits=5)
