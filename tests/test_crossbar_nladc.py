"""The in-memory nonlinear ramp ADC: ideal error bounds, V_read invariance, missing codes, calibration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from biosim.physical.crossbar.device import Memristor
from biosim.physical.crossbar.nladc import NLADCSpec, build_nladc

Z = np.linspace(-12, 12, 1_200_001)


@pytest.mark.parametrize(("function", "f", "bound"), [("sigmoid", expit, 1 / 64), ("tanh", np.tanh, 1 / 32)])
def test_ideal_5_bit_error_is_half_an_lsb(function, f, bound):
    adc = build_nladc(NLADCSpec(function=function, bits=5), Memristor(), np.random.default_rng(0))
    error = np.abs(adc(Z) - f(Z))
    assert error.max() <= bound * (1 + 1e-9)
    assert error.max() > bound * (1 - 1e-4)  # reached at the thresholds and in the tails
    assert adc.linearity()["missing_codes"] == 0
    assert adc.linearity()["max_inl_lsb"] < 1e-9


def test_scaled_input_thresholds():
    """Built for z = 4 x, the ADC's codes of x are those of f(4 x)."""
    adc = build_nladc(NLADCSpec(bits=4), Memristor(), np.random.default_rng(0), scale=4.0)
    x = np.linspace(-3, 3, 100_001)
    assert np.abs(adc(x) - expit(4 * x)).max() <= 1 / 32 * (1 + 1e-9)


def test_codes_do_not_depend_on_the_read_voltage():
    device = Memristor(programming="gaussian", sigma_programming=0.02)
    adc = build_nladc(NLADCSpec(bits=5), device, np.random.default_rng(1))
    codes = adc.codes(Z[::100])
    assert len(np.unique(codes)) == 32
    for factor in (0.75, 0.9, 1.1, 1.25):
        assert np.array_equal(adc.codes(Z[::100], v_read=factor), codes)


def test_a_stuck_off_step_device_leaves_a_reported_missing_code():
    device = Memristor(stuck_off=0.1)
    for seed in range(5):
        adc = build_nladc(NLADCSpec(bits=5), device, np.random.default_rng(seed))
        step_stuck = int(adc.ramp.stuck[1:].sum())  # device 0 starts the ramp; each later one is a code's width
        report = adc.linearity()
        assert report["missing_codes"] == step_stuck
        produced = np.unique(adc.codes(Z))
        assert 32 - len(produced) == step_stuck
        if step_stuck:
            assert report["dnl_lsb"].min() == -1


def test_bias_calibration_reduces_the_offset_error():
    device = Memristor(programming="gaussian", sigma_programming=0.02)
    errors = {True: [], False: []}
    for seed in range(20):
        for calibrate in errors:
            adc = build_nladc(NLADCSpec(bits=5, calibrate=calibrate), device, np.random.default_rng(seed))
            errors[calibrate].append(np.abs(np.mean(adc.thresholds() - adc.target)))
    assert np.mean(errors[True]) < 0.1 * np.mean(errors[False])  # ~25x smaller here


def test_noisy_ramp_matches_the_spec_figure():
    """Spec 1.3 [calc]: 5-bit sigmoid, each step device off by sigma = 1% of the largest step, offset exact:
    median max|err| 0.0235 over draws (x in [-8, 8])."""
    device = Memristor(programming="gaussian", sigma_programming=0.01)
    x = np.linspace(-8, 8, 40_001)
    worst = []
    for seed in range(200):
        adc = build_nladc(NLADCSpec(bits=5, calibrate=False), device, np.random.default_rng(seed))
        exact_offset = adc.target[0] - adc.thresholds()[0]  # the spec's recipe fixes the ramp's start exactly
        thresholds = adc.thresholds() + exact_offset
        codes = (x[:, None] > thresholds).sum(axis=1)
        worst.append(np.abs(adc.lo + (codes + 0.5) * adc.lsb - expit(x)).max())
    assert abs(np.median(worst) - 0.0235) < 0.002
