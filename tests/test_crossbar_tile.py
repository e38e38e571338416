"""Crossbar tiles against their physics: the ideal tile is the matmul, levels, programming noise, drift, faults,
IR drop (the exact nodal solve's numbers), converters, and the Numba and torch paths on one frozen state."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from biosim.physical.crossbar.analog import mvm_torch
from biosim.physical.crossbar.device import PCM, Memristor
from biosim.physical.crossbar.irdrop import attenuation, effective_conductance
from biosim.physical.crossbar.tile import Crossbar, mvm, program_matrix, steps_of

IDEAL = Crossbar(dac_bits=None, adc_bits=None, max_halvings=0, out_bound=1e12, tile_rows=64)


def torch_path(matrix, x, xi):
    args = [torch.as_tensor(a) if isinstance(a, np.ndarray) else a for a in matrix.kernel_args()]
    args[2] = list(matrix.row_edges)
    return mvm_torch(torch.as_tensor(x), *(torch.as_tensor(v) for v in xi), *args).numpy()


@pytest.fixture
def problem():
    rng = np.random.default_rng(1)
    return rng.standard_normal((150, 30)), rng.standard_normal((20, 150))


def test_ideal_tile_is_the_matmul(problem):
    W, x = problem
    rng = np.random.default_rng(0)
    for device, mapping in ((Memristor(), "layer"), (Memristor(g_min=2.5e-6), "column")):
        matrix = program_matrix(W, device, IDEAL.model_copy(update={"mapping": mapping}), rng)
        assert matrix.n_tiles == 3
        exact = x @ W
        for y in (matrix(x), torch_path(matrix, x, matrix.noise(len(x), None))):
            assert np.abs(y - exact).max() <= 1e-12 * np.abs(exact).max()


def test_level_quantisation_error_is_at_most_half_a_level(problem):
    W, _ = problem
    device = Memristor(levels=16, g_min=2.5e-6)
    matrix = program_matrix(W, device, IDEAL, np.random.default_rng(0))
    stored = (matrix.devices.g[0] - matrix.devices.g[1]) * matrix.out_scale()
    half_level = np.abs(W).max() * device.step / (2 * (1 - device.g_floor))
    error = np.abs(stored - W)
    assert error.max() <= half_level * (1 + 1e-12)
    assert error.max() > 0.9 * half_level  # the bound is reached, not loose
    read = matrix(np.eye(W.shape[0]))  # one-hot reads through the tiles give the same stored weights
    np.testing.assert_allclose(read, stored, atol=1e-12)


@pytest.mark.parametrize("kind", ["gaussian", "lognormal", "pcm"])
def test_programming_noise_statistics(kind):
    n = 200_000
    sigma = {"gaussian": 0.03, "lognormal": 0.1, "pcm": 1.0}[kind]
    device = Memristor(programming=kind, sigma_programming=sigma)
    target = np.full(n, 0.5)
    g = device.program(target, np.random.default_rng(3)).g
    if kind == "lognormal":  # mean-preserving: G_p / G_q has mean 1, log-sd sigma
        ratio = g / 0.5
        s2 = np.exp(sigma**2) - 1
        assert abs(ratio.mean() - 1) < 3 * np.sqrt(s2 / n)
        assert abs(np.log(ratio).std(ddof=1) - sigma) < 3 * sigma / np.sqrt(2 * (n - 1))
        return
    expected = 0.03 if kind == "gaussian" else (0.26348 + 1.9650 * 0.5 - 1.1731 * 0.25) / 25  # 3.81% of G_max
    assert abs((g - 0.5).mean()) < 3 * expected / np.sqrt(n)
    assert abs(g.std(ddof=1) - expected) < 3 * expected / np.sqrt(2 * (n - 1))


def test_drift_factor_after_one_day():
    devices = Memristor(nu=0.05).program(np.full(4, 0.8), np.random.default_rng(0))
    factor = devices.at(86400.0) / devices.at(0.0)
    np.testing.assert_allclose(factor, ((86400 + 20) / 20) ** -0.05)
    assert round(float(factor[0]), 3) == 0.658


def test_pcm_drift_exponents_follow_the_conductance():
    device = PCM(sigma_programming=0.0)
    nu = device.program(np.r_[np.full(50_000, 0.9), np.full(50_000, 0.1)], np.random.default_rng(0)).nu
    assert abs(nu[:50_000].mean() - 0.049) < 0.002  # mu clipped at 0.049 for g >= 0.5
    assert nu[50_000:].mean() > nu[:50_000].mean() + 0.008  # mu(0.1) = 0.060


def test_stuck_devices_are_drawn_once_and_do_not_drift():
    n = 100_000
    device = Memristor(stuck_on=0.02, stuck_off=0.05, nu=0.05, g_min=1e-6)
    devices = device.program(np.full(n, 0.5), np.random.default_rng(0))
    on, off = devices.g == 1.0, devices.g == device.g_floor
    for fraction, found in ((0.02, on.mean()), (0.05, off.mean())):
        assert abs(found - fraction) < 3 * np.sqrt(fraction * (1 - fraction) / n)
    later = devices.at(86400.0)
    assert np.array_equal(later[on | off], devices.g[on | off])
    assert np.all(later[~(on | off)] < devices.g[~(on | off)])


@pytest.mark.parametrize(("rows", "loss_percent"), [(64, 1.375), (128, 5.183)])
def test_exact_ir_drop_of_one_bit_line(rows, loss_percent):
    G = np.full((rows, 1), 10e-6)
    effective = effective_conductance(G, r_word=0.0, r_bit=1.0)
    loss = 1 - effective.sum() / G.sum()
    assert round(100 * loss, 3) == loss_percent
    first_order = 2 / 3 * attenuation(rows**2 * 1.0 * 10e-6)  # uniform line, all inputs on
    assert abs(first_order - loss) < 0.03 * loss  # the cheap model is the continuum series


def test_exact_ir_drop_matches_a_dense_kirchhoff_solve():
    """A 3 x 2 array with resistive word and bit lines, solved node by node with a dense matrix."""
    rng = np.random.default_rng(0)
    G = rng.uniform(1e-3, 1e-2, (3, 2))
    r = 7.0
    n, m = G.shape
    index = {}
    for i in range(n):
        for j in range(m):
            index["w", i, j], index["b", i, j] = len(index), len(index) + 1
    A = np.zeros((len(index), len(index)))
    B = np.zeros((len(index), n))

    def join(a, b, g):
        A[a, a] += g
        A[b, b] += g
        A[a, b] -= g
        A[b, a] -= g

    for i in range(n):
        A[index["w", i, 0], index["w", i, 0]] += 1 / r
        B[index["w", i, 0], i] += 1 / r
        for j in range(m):
            join(index["w", i, j], index["b", i, j], G[i, j])
            if j + 1 < m:
                join(index["w", i, j], index["w", i, j + 1], 1 / r)
            if i + 1 < n:
                join(index["b", i, j], index["b", i + 1, j], 1 / r)
    for j in range(m):
        A[index["b", n - 1, j], index["b", n - 1, j]] += 1 / r
    v = np.linalg.solve(A, B)
    dense = np.array([v[index["b", n - 1, j]] / r for j in range(m)]).T
    np.testing.assert_allclose(effective_conductance(G, r, r), dense, rtol=1e-12)


def test_converters_and_bound_management(problem):
    W, x = problem
    rng = np.random.default_rng(0)
    crossbar = Crossbar(tile_rows=64, dac_bits=8, adc_bits=8, out_bound=2.0)
    matrix = program_matrix(W, Memristor(), crossbar, rng)
    exact = x @ W
    y = matrix(x)
    # each sample's outputs are within the converters' rounding of its final input scale (bound management keeps
    # every tile output in range, so nothing is clipped): DAC half-steps through |W| plus an ADC half-step a tile
    alpha = np.abs(x).max(axis=1, keepdims=True)
    no_bm = program_matrix(W, Memristor(), crossbar.model_copy(update={"max_halvings": 0}), rng)
    assert np.abs(no_bm(x) - exact).max() > 5 * np.abs(y - exact).max()  # without it the outputs clip
    worst = alpha * 2**crossbar.max_halvings * (np.abs(W).sum(axis=0) / (2 * steps_of(8)) / np.abs(W).max()
                                                + 3 * 2.0 / (2 * steps_of(8))) * np.abs(W).max()
    assert np.all(np.abs(y - exact) <= worst)
    assert np.corrcoef(y.ravel(), exact.ravel())[0, 1] > 0.999


def test_numba_and_torch_paths_agree_on_one_frozen_state(problem):
    W, x = problem
    rng = np.random.default_rng(2)
    device = PCM(sigma_read=0.02, stuck_on=0.01, stuck_off=0.01, levels=32)
    for ir_drop in ("first_order", "exact"):
        crossbar = Crossbar(tile_rows=64, ir_drop=ir_drop, r_wire=2.0, sigma_out=0.04, out_bound=3.0)
        matrix = program_matrix(W, device, crossbar, rng)
        matrix.t = 3600.0
        xi = matrix.noise(len(x), rng)
        y = mvm(x, *xi, *matrix.kernel_args())
        np.testing.assert_allclose(torch_path(matrix, x, xi), y, rtol=0, atol=1e-12 * np.abs(y).max())
        assert np.abs(y - x @ W).max() > 0.01 * np.abs(x @ W).max()  # the non-idealities are really on


def test_read_noise_is_fresh_every_mvm_with_the_per_device_variance(problem):
    """Output-referred read noise equals per-device noise: var = sigma^2 sum x^2 (g+^2 + g-^2)."""
    W, x = problem
    device = Memristor(sigma_read=0.05)
    matrix = program_matrix(W, device, IDEAL, np.random.default_rng(0))
    probe = np.repeat(x[:1], 4000, axis=0)
    y = matrix(probe, np.random.default_rng(5))
    assert not np.array_equal(y[0], y[1])
    xq = x[0] / np.abs(x[0]).max()
    scale = matrix.out_scale() * np.abs(x[0]).max()
    g = matrix.devices.g
    per_device = np.zeros(W.shape[1])
    for a, b in zip(matrix.row_edges[:-1], matrix.row_edges[1:], strict=True):
        per_device += 0.05**2 * (xq[a:b] ** 2) @ (g[0, a:b] ** 2 + g[1, a:b] ** 2)
    var = y.var(axis=0, ddof=1) / scale**2
    assert np.all(np.abs(var / per_device - 1) < 3 * np.sqrt(2 / 3999) * 1.5)


def test_global_drift_compensation_undoes_a_uniform_drift(problem):
    W, x = problem
    crossbar = IDEAL
    matrix = program_matrix(W, Memristor(nu=0.05), crossbar, np.random.default_rng(0))
    matrix.t = 86400.0
    np.testing.assert_allclose(matrix(x), x @ W, rtol=1e-10, atol=1e-10)
    uncompensated = program_matrix(W, Memristor(nu=0.05), crossbar.model_copy(update={"drift_compensation": False}),
                                   np.random.default_rng(0))
    uncompensated.t = 86400.0
    np.testing.assert_allclose(uncompensated(x), 0.658 * (x @ W), rtol=1e-3)
