"""The crossbar family (issue 15): refusals before compute, the shipped experiments' acceptance (digits MLP under
programming noise and stuck faults, the NL-ADC's ideal errors, the 8-bit analog LSTM against float), the energy
count against a direct sum, and weights surviving the trip to the tiles and back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from biosim import registry
from biosim.config import load_experiment
from biosim.errors import ConfigError
from biosim.physical.crossbar.analog import program, to_digital
from biosim.physical.crossbar.device import Memristor
from biosim.physical.crossbar.energy import EnergyCount, EnergyFigures
from biosim.physical.crossbar.nets import RowLSTM, mlp, to_analog
from biosim.physical.crossbar.tile import Crossbar, program_matrix
from biosim.runner import run_experiment

ROOT = Path(__file__).parents[1]
DIGITS = ROOT / "experiments" / "crossbar_digits.yaml"
LSTM = ROOT / "experiments" / "analog_lstm.yaml"
NLADC = ROOT / "experiments" / "nladc_functions.yaml"


def refusal(path: Path, *overrides: str) -> str:
    with pytest.raises(ConfigError) as err:
        exp, source = load_experiment(path, list(overrides))
        registry.get("family", exp.family)().prepare(exp, source)
    return str(err.value)


@pytest.mark.parametrize(("path", "overrides", "message"), [
    (DIGITS, ["sweeps=[{name: a, vary: device.sigma_progamming, values: [0.1]}]"],
     "did you mean 'device.sigma_programming'"),
    (DIGITS, ["sweeps=[{name: a, vary: device.stuck_on, values: [0.1, -0.1]}]"], "sweeps.0.values.1"),
    (DIGITS, ["sweeps=[{name: a, vary: time, values: [1 parsec]}]"], "sweeps.0.values.0"),
    (DIGITS, ["sweeps=[{name: a, vary: time, values: [1 s]}, {name: a, vary: time, values: [2 s]}]"], "used twice"),
    (DIGITS, ["bits=4"], "gate bits are for task lstm"),
    (DIGITS, ["sweeps=[{name: a, vary: crossbar.ir_drop, values: [none, exact]}]"], "one sweep per value"),
    (DIGITS, ["crossbar={ir_drop: first_order, r_wire: 20 ohm}"], "r_wire G_max rows^2"),
    (DIGITS, ["hidden=[64, 0]"], "hidden.1"),
    (DIGITS, ["device={name: pcn}"], "did you mean 'pcm'"),
    (LSTM, ["device.g_min=2.5 uS"], "spanning 44.6:1"),
    (LSTM, ["crossbar.tile_rows=32"], "tile_rows >= 41"),
    (NLADC, ["nladc.function=sigmoidd"], "did you mean 'sigmoid'"),
])
def test_bad_settings_are_refused_before_compute(path, overrides, message):
    text = refusal(path, *overrides)
    assert message in text, text


def metrics_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def test_digits_mlp_on_tiles_loses_what_the_issue_says(tmp_path):
    """The shipped file: 5% programming noise costs 0.5-3 points; 1% stuck ON costs far more than 1% stuck OFF;
    every inference reports its energy."""
    run_dir = run_experiment(DIGITS, [], out=tmp_path)
    metrics = metrics_of(run_dir)
    assert metrics["complete"] and (run_dir / "robustness.png").exists()
    sweeps = metrics["sweeps"]
    noise = dict(zip(sweeps["programming noise"]["values"], sweeps["programming noise"]["accuracy_mean"],
                     strict=True))
    cost = noise[0] - noise[0.05]
    assert 0.005 <= cost <= 0.03, noise
    on = dict(zip(sweeps["stuck ON"]["values"], sweeps["stuck ON"]["accuracy_mean"], strict=True))
    off = dict(zip(sweeps["stuck OFF"]["values"], sweeps["stuck OFF"]["accuracy_mean"], strict=True))
    assert on[0] - on[0.01] > 4 * max(off[0] - off[0.01], 0.002), (on, off)
    assert metrics["energy_j"] > metrics["energy_array_j"] > 0


def test_global_drift_compensation_recovers_most_of_a_one_day_loss(tmp_path):
    """Uniform drift (nu = 0.1) of the sigmoid MLP: a day costs accuracy, the global compensation wins most of it
    back (the ReLU MLP is nearly invariant to the global scale: there is little to lose)."""
    drift = "{{name: {name}, vary: time, values: [1 day], set: {{device.nu: 0.1, crossbar.drift_compensation: {on}}}}}"
    sweeps = f"sweeps=[{drift.format(name='uncompensated', on='false')}, {drift.format(name='compensated', on='true')}]"
    metrics = metrics_of(run_experiment(DIGITS, ["variant=sigmoid", "repeats=1", sweeps], out=tmp_path))
    fresh = metrics["test_accuracy"]
    lost = fresh - metrics["sweeps"]["uncompensated"]["accuracy_mean"][0]
    kept = fresh - metrics["sweeps"]["compensated"]["accuracy_mean"][0]
    assert lost >= 0.005 and kept <= 0.5 * lost, (fresh, lost, kept)


def test_same_seed_gives_the_same_sweeps(tmp_path):
    overrides = ["epochs=2", "repeats=2", "hidden=[16]",
                 "sweeps=[{name: n, vary: device.sigma_programming, values: [0.05, 0.1], "
                 "set: {device.programming: gaussian, device.sigma_read: 0.02}}]"]
    first = metrics_of(run_experiment(DIGITS, overrides, out=tmp_path / "a"))
    second = metrics_of(run_experiment(DIGITS, overrides, out=tmp_path / "b"))
    assert first["sweeps"] == second["sweeps"] and first["test_accuracy"] == second["test_accuracy"]
    other = metrics_of(run_experiment(DIGITS, [*overrides, "seed=1"], out=tmp_path / "c"))
    assert other["sweeps"] != first["sweeps"]


def test_nladc_experiment_ideal_errors_are_half_an_lsb(tmp_path):
    metrics = metrics_of(run_experiment(NLADC, ["repeats=3"], out=tmp_path))
    sweeps = metrics["sweeps"]
    for function, full_range in (("sigmoid", 1.0), ("tanh", 2.0)):
        ideal = sweeps[f"{function} ideal"]
        expected = [full_range / 2 ** (b + 1) for b in ideal["values"]]
        assert np.allclose(ideal["max_abs_error_mean"], expected, rtol=1e-3), (function, ideal)
        assert ideal["missing_codes_mean"] == [0.0] * len(expected)
        noisy = sweeps[f"{function} 2% noise"]["max_abs_error_median"]
        uncalibrated = sweeps[f"{function} 2% noise uncalibrated"]["max_abs_error_median"]
        assert all(n > e for n, e in zip(noisy, expected, strict=True))
        assert uncalibrated[2] > noisy[2]  # at 5 bits, calibration helps


def test_analog_lstm_with_8_bit_gates_is_within_a_point_of_float(tmp_path):
    metrics = metrics_of(run_experiment(LSTM, ["epochs=15", "repeats=1", "sweeps=[]"], out=tmp_path))
    assert metrics["complete"]
    assert abs(metrics["test_accuracy"] - metrics["test_accuracy_float"]) <= 0.01, metrics
    assert metrics["energy_nladc_j"] > 0 and metrics["energy_j_with_digital_activation"] > metrics["energy_j"]


def test_hardware_aware_training_runs_through_the_tiles(tmp_path):
    metrics = metrics_of(run_experiment(DIGITS, ["variant=hardware_aware", "epochs=3", "repeats=1", "sweeps=[]"],
                                        out=tmp_path))
    assert metrics["complete"] and metrics["test_accuracy_float"] > 0.8 and metrics["test_accuracy"] > 0.8


@pytest.mark.parametrize("net", [mlp(64, [16], 10), RowLSTM(8, 12, 10)])
def test_weights_survive_the_trip_to_tiles_and_back(net):
    net = net.double()
    analog = to_analog(net, Memristor(), Crossbar(), bits=5)
    back = to_digital(analog)
    x = torch.rand(7, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(back(x), net(x), atol=1e-12)


def test_energy_count_is_the_sum_over_devices():
    rng = np.random.default_rng(0)
    device, crossbar = Memristor(g_max=40e-6, g_min=4e-6), Crossbar(tile_rows=3, adc_bits=8)
    matrix = program_matrix(rng.normal(size=(5, 4)), device, crossbar, rng)
    x = rng.normal(size=(2, 5))
    count = EnergyCount(inferences=2)
    count.add_mvm(x, matrix)
    gp, gm = matrix.devices.g  # the programmed devices (no drift)
    expected = 0.0
    for b in range(2):
        xt = np.round(x[b] / np.abs(x[b]).max() * 63) / 63  # a 7-bit signed DAC: 63 steps per polarity
        for i in range(5):
            for j in range(4):
                expected += xt[i] ** 2 * (gp[i, j] + gm[i, j]) * 40e-6 * crossbar.v_read**2 * 10e-9
    figures = EnergyFigures()
    report = count.report(figures)
    assert report["energy_array_j"] == pytest.approx(expected / 2, rel=1e-12)
    assert count.adc == {8: 2 * 2 * 4} and count.dac == 10 and count.adds == 2 * 4
    assert report["energy_adc_j"] == pytest.approx(16 * figures.adc_fom * 2**8 / 2)


def test_programming_uses_one_generator_in_module_order():
    net = mlp(6, [5], 3).double()
    a, b = (to_analog(net, Memristor(programming="gaussian", sigma_programming=0.05), Crossbar()) for _ in range(2))
    program(a, np.random.default_rng(3))
    program(b, np.random.default_rng(3))
    assert all(np.array_equal(p.matrix.devices.g, q.matrix.devices.g) for p, q in
               zip((m for m in a.modules() if hasattr(m, "matrix")), (m for m in b.modules() if hasattr(m, "matrix")),
                   strict=True))
