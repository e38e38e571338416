"""Memristive synapses on the spiking engine (issue 15): an ideal device changes nothing, levels hold, nearest
rounding loses sub-half-level changes while stochastic rounding is unbiased, stuck devices never move, drift follows
the device law, and the configuration is refused where a device cannot hold the weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from biosim.config import load_experiment
from biosim.engine.network import Network
from biosim.engine.simulation import Simulation
from biosim.errors import ConfigError
from biosim.networks.spiking.family import build_spiking
from biosim.physical.crossbar.device import Memristor
from biosim.physical.crossbar.synapse import PROGRAMMED, READ, STUCK, age, synapses, write

ROOT = Path(__file__).parents[1]
W_MAX = 0.01


def song(device=None, seed: int = 3, duration: float = 2.0, a_plus: float = 0.01, stuck: list | None = None):
    """The recorded weights (snapshots x synapses) of a short Song 2000 run; ``stuck`` receives the devices'
    stuck flags."""
    net = Network(dt=1e-4, seed=seed)
    net.add_population("inputs", 1000, {"name": "poisson", "rate": 15.0})
    net.add_population("neuron", 1, {"name": "lif_coba", "tau_m": 10e-3, "tau_e": 5e-3, "v_th": -54e-3,
                                     "v_reset": -60e-3, "e_l": -74e-3, "e_e": 0.0}, {"v": -74e-3})
    net.connect("inputs", "neuron", target="ge", connector="all_to_all", weight={"uniform": [0, W_MAX]},
                rule={"name": "stdp", "a_plus": a_plus, "a_minus": 1.05 * a_plus, "w_max": W_MAX},
                name="p", device=device)
    net.record_weights("p", 0.1)
    sim = Simulation(net)
    if stuck is not None:
        stuck.append(sim.net.projections["p"].device.state[STUCK].astype(bool))
    return sim.run(duration).weights["p"]["w"]


def test_an_ideal_device_changes_nothing():
    ideal, on_device = song(), song(Memristor())
    assert np.array_equal(ideal, on_device)
    assert not np.array_equal(ideal[0], ideal[-1])  # the rule did change the weights


def test_weights_stay_on_the_levels_and_sub_half_level_changes_are_lost():
    levels = 16
    w = song(Memristor(levels=levels), a_plus=0.05)  # 5% of w_max: some updates reach half a level (3.3%)
    k = w / (W_MAX / (levels - 1))
    assert np.allclose(k, np.rint(k), atol=1e-9)
    assert not np.array_equal(w[0], w[-1])
    frozen = song(Memristor(levels=levels), a_plus=0.002)  # every change under half a level
    assert np.array_equal(frozen[0], frozen[-1])


def test_stochastic_rounding_is_unbiased_and_nearest_keeps_the_level():
    device = Memristor(levels=11, update="stochastic")
    dev = synapses(device, np.full(20000, 0.5), (0.0, 1.0), 1e-4, np.random.default_rng(0))
    w = dev.weights.copy()
    w += 0.03  # a third of a level up
    rng = np.random.default_rng(1)
    for s in range(len(w)):
        write(s, w, dev.state, dev.params, rng, 5)
    assert set(np.round(np.unique(w), 12)) == {0.5, 0.6}
    assert w.mean() == pytest.approx(0.53, abs=3 * 0.1 * np.sqrt(0.3 * 0.7 / len(w)))
    nearest = synapses(Memristor(levels=11), np.full(10, 0.5), (0.0, 1.0), 1e-4, np.random.default_rng(0))
    w = nearest.weights + 0.04
    for s in range(len(w)):
        write(s, w, nearest.state, nearest.params, rng, 5)
    assert np.array_equal(w, np.full(10, 0.5))


def test_write_noise_is_in_level_steps():
    device = Memristor(levels=101, sigma_write=0.5)
    dev = synapses(device, np.full(40000, 0.3), (0.0, 1.0), 1e-4, np.random.default_rng(0))
    w = dev.weights + 0.1  # ten levels up, then noise of half a level step (0.005)
    rng = np.random.default_rng(2)
    for s in range(len(w)):
        write(s, w, dev.state, dev.params, rng, 1)
    assert w.mean() == pytest.approx(0.4, abs=3 * 0.005 / np.sqrt(len(w)))
    assert w.std() == pytest.approx(0.005, rel=3 / np.sqrt(2 * len(w)))


def test_stuck_devices_never_move():
    flags: list = []
    w = song(Memristor(levels=64, stuck_on=0.1, stuck_off=0.1), a_plus=0.05, stuck=flags)
    stuck = flags[0]
    assert 0.15 < stuck.mean() < 0.25
    assert np.isin(w[0][stuck], [0.0, W_MAX]).all()  # at G_max or G_min from the start
    assert (w[:, stuck] == w[0, stuck]).all()
    assert (w[:, ~stuck] != w[0, ~stuck]).any(axis=0).mean() > 0.3  # the others learn


def test_drift_follows_the_device_law():
    device = Memristor(g_min=2.5e-6, nu=0.05, t0=20.0)
    dev = synapses(device, np.array([0.0, 0.5, 1.0]), (0.0, 1.0), 1e-3, np.random.default_rng(0))
    w = dev.weights.copy()
    t = 86_400_000  # one day in steps of 1 ms
    age(w, dev.state, dev.params, t)
    floor = 0.1
    g = (floor + dev.state[PROGRAMMED] * (1 - floor)) * ((86_400 + 20) / 20) ** -0.05
    assert np.allclose(w, np.clip((g - floor) / (1 - floor), 0, 1))
    assert w[2] == pytest.approx((0.658 * 1 - floor) / (1 - floor), abs=1e-3)  # the 1-day factor 0.658
    assert np.array_equal(w, dev.state[READ])


def refusal(*overrides: str) -> str:
    with pytest.raises(ConfigError) as err:
        exp, source = load_experiment(ROOT / "experiments" / "stdp_song2000_memristive.yaml", list(overrides))
        build_spiking(exp, source)
    return str(err.value)


@pytest.mark.parametrize(("overrides", "message"), [
    (["projections.inputs_neuron.rule=static"], "is not plastic"),
    (["backend=brian2"], "backend 'biosim' only"),
    (["projections.inputs_neuron.device={name: memristr}"], "did you mean 'memristor'"),
    (["projections.inputs_neuron.device.update=round"], "nearest"),
])
def test_a_device_that_cannot_hold_the_weights_is_refused(overrides, message):
    text = refusal(*overrides)
    assert message in text, text


def final_histogram(*overrides: str) -> np.ndarray:
    exp, source = load_experiment(ROOT / "experiments" / "stdp_song2000_memristive.yaml", list(overrides))
    w = Simulation(build_spiking(exp, source)).run(exp.duration).weights["inputs_neuron"]["w"][-1]
    return np.histogram(w, bins=10, range=(0, W_MAX * (1 + 1e-9)))[0]


def test_song2000_on_64_level_devices_stays_bimodal():
    """After 100 s the weights pile up at both bounds as in the ideal run: each outer tenth of the range holds more
    than twice the mean of the six central tenths (ideal run, seed 1: 238 and 185 against 61)."""
    h = final_histogram("variant=levels_64")
    assert min(h[0], h[-1]) > 2 * h[2:8].mean(), h


def test_the_brian2_backend_never_ignores_a_device():
    pytest.importorskip("brian2")
    from biosim.backends.brian2_backend import run_brian2

    net = Network(dt=1e-4, seed=0)
    net.add_population("a", 10, {"name": "poisson", "rate": 10.0})
    net.add_population("b", 1, {"name": "lif_coba"})
    net.connect("a", "b", target="ge", connector="all_to_all", weight=0.001, rule={"name": "stdp", "w_max": W_MAX},
                device=Memristor(levels=8))
    with pytest.raises(ValueError, match="backend 'biosim' only"):
        run_brian2(net, 0.01)
