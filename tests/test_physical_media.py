"""Physical layers (issue 14): the scattering medium, the wave equation on 1-D and 2-D grids and the coupled
oscillators as frozen black boxes, against physics they must obey: power conservation, the CFL refusal,
superposition without nonlinearities (and its failure with them), the pulse speed, the absorbing layer's
reflection, and the oscillators against scipy's integrator."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from pydantic import ValidationError
from scipy.integrate import solve_ivp

from biosim import registry
from biosim.physical.waves import fdtd
from biosim.physical.waves.oscillators import Oscillators
from biosim.physical.waves.scattering import Scattering
from biosim.physical.waves.wave import Wave1D, Wave2D


def test_the_media_are_registered_by_name():
    assert {"scattering", "wave_1d", "wave_2d", "oscillators"} <= set(registry.names("physics"))
    assert registry.get("physics", "wave_2d") is Wave2D


def test_a_haar_unitary_medium_conserves_power_and_a_gaussian_one_has_the_right_statistics():
    rng = np.random.default_rng(0)
    medium = Scattering(outputs=80, matrix="unitary", normalise=False).build(50, rng)
    x = rng.standard_normal((7, 50))
    assert np.abs(medium(x).sum(axis=1) / (x ** 2).sum(axis=1) - 1).max() < 1e-10
    T = Scattering(outputs=400, matrix="gaussian").build(300, rng).T
    assert np.mean(np.abs(T) ** 2) * 300 == pytest.approx(1.0, rel=0.02)  # CN(0, 1/n)
    assert abs(np.mean(T)) < 0.01
    with pytest.raises(ValueError, match="outputs >= inputs"):
        Scattering(outputs=10, matrix="unitary").build(20, rng)


def test_scattering_encodings_and_detectors():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (5, 6))
    medium = Scattering(outputs=9).build(6, rng)
    E = medium.field_out(x)
    assert np.allclose(medium(x), np.abs(E) ** 2)
    assert np.allclose(np.mean(np.abs(medium.field_in(x)) ** 2, axis=1), 1.0)  # unit mean power per mode
    field = replace(medium, detector="field")
    assert np.allclose(field(x), E.real)
    saturating = replace(medium, i_sat=0.5)
    assert np.allclose(saturating(x), np.abs(E) ** 2 / (1 + np.abs(E) ** 2 / 0.5))
    phase = replace(medium, encoding="phase", normalise=False)
    assert np.allclose(phase.field_in(x), np.exp(1j * np.pi * x))
    with pytest.raises(ValidationError, match="i_sat saturates an intensity detector"):
        Scattering(outputs=3, detector="field", i_sat=1.0)


def test_a_perturbed_medium_changes_by_the_amount_asked_and_a_unitary_one_stays_unitary():
    rng = np.random.default_rng(2)
    medium = Scattering(outputs=60).build(40, rng)
    changed = medium.perturbed(0.1, rng)
    assert np.linalg.norm(changed.T - medium.T) / np.linalg.norm(medium.T) == pytest.approx(0.1, rel=0.1)
    unitary = Scattering(outputs=40, matrix="unitary").build(40, rng).perturbed(0.1, rng)
    assert np.abs(unitary.T.conj().T @ unitary.T - np.eye(40)).max() < 1e-10


@pytest.mark.parametrize("layer", [Wave1D, Wave2D])
def test_a_cfl_violation_is_refused_before_anything_runs(layer):
    with pytest.raises(ValidationError, match="violates the CFL condition"):
        layer(size=40, steps=10, outputs=2, absorber=5, courant=1.2)


def pulse(medium, width: float = 12.0, start: float = 40.0, carrier: bool = True) -> np.ndarray:
    """One source's signal (1 x steps x 1): a carrier burst with a Gaussian envelope, or (``carrier`` False) the
    time derivative of a Gaussian, whose 1-D wave is a Gaussian pulse of about ``width`` cells (little grid
    dispersion)."""
    t = np.arange(medium.steps) * medium.dt
    envelope = np.exp(-((t - start) / width) ** 2)
    signal = np.sin(medium.omega * t) * envelope if carrier else -(t - start) * envelope
    return signal[None, :, None]


def test_a_1d_pulse_travels_at_the_configured_speed_and_the_absorber_reflects_under_one_percent():
    for c0 in (1.0, 0.6):
        medium = Wave1D(size=700, steps=1600, outputs=1, blob=0, c0=c0, c1=c0).build(1, np.random.default_rng(0))
        medium = replace(medium, sources=np.array([[150, 0]]), probes=np.array([[300, 0], [450, 0]]))
        traces = medium.run(pulse(medium, width=8.0, carrier=False), keep_traces=True)[1][0]
        t = np.arange(medium.steps) * medium.dt
        peaks = [t[np.argmax(traces[:, p] ** 2)] for p in range(2)]
        speed = 150 / (peaks[1] - peaks[0])
        assert speed == pytest.approx(c0, rel=0.01)
    medium = replace(medium, probes=np.array([[600, 0]]))  # 80 cells before the right absorber (N = 20)
    u = medium.run(pulse(medium), keep_traces=True)[1][0, :, 0]
    t = np.arange(medium.steps) * medium.dt
    passed = t[np.argmax(u ** 2)] + 60 / medium.c0[600, 0]  # the incident burst is past the probe by then
    incident, reflected = (u[t < passed] ** 2).sum(), (u[t >= passed] ** 2).sum()
    assert reflected < 0.01 * incident and incident > 0
    unabsorbed = replace(medium, damping=np.zeros_like(medium.damping))  # the bare wall reflects it all back
    u = unabsorbed.run(pulse(unabsorbed), keep_traces=True)[1][0, :, 0]
    assert (u[t >= passed] ** 2).sum() > 0.5 * incident


@pytest.mark.parametrize("layer", [Wave1D, Wave2D])
def test_superposition_holds_without_nonlinearity_and_fails_with_it(layer):
    rng = np.random.default_rng(3)
    size, steps = (120, 400) if layer is Wave1D else (48, 200)
    x1, x2 = rng.uniform(0, 1, (1, 4)), rng.uniform(0, 1, (1, 4))
    linear = layer(size=size, steps=steps, outputs=3, absorber=10).build(4, np.random.default_rng(0))
    both, one, two = (linear.field_traces(x) for x in (x1 + x2, x1, x2))
    assert np.abs(both - one - two).max() <= 1e-6 * np.abs(both).max()
    scale = 1.0 / np.abs(both).max()  # field amplitudes of order 1 at the probes, where the nonlinearities act
    for nonlinear in ({"kerr": 2.0}, {"absorption": 1.0, "u_th": 0.3}):
        medium = layer(size=size, steps=steps, outputs=3, absorber=10, **nonlinear).build(4, np.random.default_rng(0))
        both, one, two = (medium.field_traces(x * scale) for x in (x1 + x2, x1, x2))
        assert np.abs(both - one - two).max() >= 1e-2 * np.abs(both).max(), nonlinear


def test_the_wave_layer_maps_inputs_to_normalised_probe_intensities():
    rng = np.random.default_rng(4)
    for encoding in ("parallel", "sequence"):
        medium = Wave2D(size=40, steps=150, outputs=5, absorber=8, encoding=encoding, hold=10).build(6, rng)
        y = medium(rng.uniform(0, 1, (3, 6)))
        assert y.shape == (3, 5) and np.allclose(y.mean(axis=1), 1.0) and (y > 0).all()
    assert fdtd.cfl_speed(0.5, 2) == pytest.approx(1 / (0.5 * np.sqrt(2)))


def test_the_oscillators_match_scipy_and_perturbation_changes_the_couplings():
    rng = np.random.default_rng(5)
    net = Oscillators(extra=3, steps=200).build(4, rng)
    x = rng.uniform(-1, 1, (2, 4))
    out = net(x)

    def rhs(_, z):
        q, v = z[:7], z[7:]
        s = np.sin(q)
        return np.concatenate([v, -s + net.J @ s - net.J.sum(axis=1) * s + net.drive])

    for b in range(2):
        ref = solve_ivp(rhs, (0, net.t_end), np.concatenate([x[b], np.zeros(3), np.zeros(7)]), rtol=1e-11,
                        atol=1e-12).y[:7, -1]
        assert np.abs(out[b] - ref).max() < 1e-9
    assert np.allclose(net.J, net.J.T)
    changed = net.perturbed(0.1, rng)
    assert np.linalg.norm(changed.J - net.J) / np.linalg.norm(net.J) == pytest.approx(0.1)


def test_time_windows_split_the_integrated_intensity():
    rng = np.random.default_rng(6)
    x = rng.uniform(0, 1, (2, 5))
    spec = {"size": 100, "steps": 300, "outputs": 3, "absorber": 10, "encoding": "sequence", "normalise": False}
    whole = Wave1D(**spec).build(5, np.random.default_rng(0))(x)
    windowed = Wave1D(**spec, windows=6).build(5, np.random.default_rng(0))(x)
    assert windowed.shape == (2, 18)
    assert np.allclose(windowed.reshape(2, 3, 6).sum(axis=2), whole)
    assert (windowed.reshape(2, 3, 6).std(axis=2) > 0).all()  # the windows see different parts of the wave


def test_the_wine_table_is_standardised_and_non_negative():
    from biosim.physical.waves.data import Wine

    split = Wine(test_fraction=0.2, stratify=True).load(np.random.default_rng(0))
    x = np.concatenate([split.train_x, split.test_x])
    assert x.shape == (178, 13) and x.min() == 0.0 and np.allclose(x.std(axis=0), 1.0)
    assert len(split.test_y) == 36 and set(np.unique(split.train_y)) == {0, 1, 2}
