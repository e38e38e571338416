"""The Potjans & Diesmann (2014) microcircuit: its connector, distributions, derived parameters and the family."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from biosim.engine.build import build
from biosim.engine.connectors import FixedTotalNumber
from biosim.engine.network import Network, Normal
from biosim.engine.simulation import Simulation
from biosim.errors import ConfigError
from biosim.networks.spiking.microcircuit import (
    CONN_PROBS,
    FULL_SIZES,
    INHIBITORY,
    K_EXT,
    POPULATIONS,
    Microcircuit,
    build_microcircuit,
    psp_peak,
    total_synapses,
)
from biosim.runner import run_experiment
from biosim.streams import stream


def test_fixed_total_number_draws_independent_uniform_pairs():
    n_pre, n_post, n = 300, 200, 240_000
    indptr, indices, order = FixedTotalNumber(n=n).connect(n_pre, n_post, False, stream(1, "connect"))
    assert indptr[-1] == n and order is None and indices.dtype == np.int32
    rows = np.diff(indptr)
    assert all(np.all(np.diff(indices[indptr[i]:indptr[i + 1]]) >= 0) for i in range(n_pre))
    # out-degrees ~ Binomial(n, 1/n_pre), in-degrees ~ Binomial(n, 1/n_post): chi-square of uniform marginals
    assert stats.chisquare(rows).pvalue > 1e-3
    assert stats.chisquare(np.bincount(indices, minlength=n_post)).pvalue > 1e-3
    pre = np.repeat(np.arange(n_pre), rows)
    pairs = np.bincount(pre * n_post + indices, minlength=n_pre * n_post)  # multapses: Poisson(n / pairs) per pair
    mean = n / (n_pre * n_post)
    assert np.mean(pairs == 0) == pytest.approx(math.exp(-mean), abs=0.01)
    assert np.mean(pairs >= 2) == pytest.approx(1 - math.exp(-mean) * (1 + mean), abs=0.01)


def test_fixed_total_number_without_autapses_and_the_same_stream():
    connector = FixedTotalNumber(n=50_000, autapses=False)
    indptr, indices, _ = connector.connect(100, 100, True, stream(2, "connect"))
    assert not np.any(np.repeat(np.arange(100), np.diff(indptr)) == indices)
    again = connector.connect(100, 100, True, stream(2, "connect"))
    assert np.array_equal(indices, again[1]) and np.array_equal(indptr, again[0])
    with pytest.raises(ValueError, match="no pair"):
        FixedTotalNumber(n=1, autapses=False).check(1, 1, True)


def test_total_synapses_give_the_connection_probability():
    """K synapses drawn with replacement connect a pair with probability 1 - (1 - 1/(N_pre N_post))^K = p."""
    k = total_synapses(CONN_PROBS, FULL_SIZES, FULL_SIZES)
    pairs = np.outer(FULL_SIZES, FULL_SIZES)
    connected = -np.expm1(k * np.log1p(-1.0 / pairs))  # 1 - (1 - 1/pairs)^k without cancellation
    assert np.allclose(connected, CONN_PROBS, rtol=1e-9, atol=1e-12)
    assert Microcircuit().synapse_counts().sum() == pytest.approx(2.99e8, rel=0.01)  # the paper's "0.3 billion"


def test_truncated_normal_is_redrawn_not_clipped():
    rng = np.random.default_rng(3)
    mean, sd, low, high = 0.75e-3, 0.375e-3, 0.05e-3, np.inf
    draws = Normal(mean, sd, low, high, redraw=True).sample(rng, 200_000)
    assert draws.min() >= low
    a = (low - mean) / sd
    assert stats.kstest(draws, stats.truncnorm(a, np.inf, loc=mean, scale=sd).cdf).pvalue > 1e-3
    clipped = Normal(mean, sd, low, high).sample(rng, 200_000)
    assert np.mean(clipped == low) == pytest.approx(stats.norm.cdf(a), abs=0.002)  # what redraw avoids
    net = Network(dt=1e-4)
    assert net.value({"truncated_normal": ["1 mV", "0.1 mV", "0 mV", "inf"]}, "voltage", ("w",)).redraw
    with pytest.raises(ConfigError, match="at least 1% of its draws"):
        net.value({"truncated_normal": ["1 mV", "0.1 mV", "2 mV", "inf"]}, "voltage", ("w",))


def test_sampled_delays_round_to_at_least_one_step():
    net = Network(dt=1e-4, seed=1)
    net.add_population("a", 200, "lif_cuba")
    net.connect("a", "a", target="ge", connector={"name": "fixed_indegree", "k": 50}, weight=0.0,
                delay=Normal(0.75e-3, 0.375e-3, 0.5e-4, np.inf, redraw=True))
    delays = build(net).projections["a_to_a"].delays.astype(int)
    mean = stats.truncnorm((0.5e-4 - 0.75e-3) / 0.375e-3, np.inf, loc=0.75e-3, scale=0.375e-3).mean()
    assert delays.min() == 1 and np.mean(delays) == pytest.approx(mean / 1e-4, abs=0.1)  # 7.77 steps, not 7.5
    with pytest.raises(ConfigError, match="lower bound must be >= dt/2"):
        net.connect("a", "a", target="ge", connector={"name": "fixed_indegree", "k": 5}, weight=0.0,
                    delay={"uniform": ["0.04 ms", "1 ms"]}, name="short")


def test_psp_of_the_derived_weight_is_the_papers():
    """One synapse of the derived weight raises v by 0.15 mV at its peak (NEST's PSC of 87.81 pA into
    C_m = 250 pF, tau_m = 10 ms, tau_syn = 0.5 ms), simulated by the engine at dt = 0.01 ms."""
    model = Microcircuit()
    r = model.neuron.tau_m / model.neuron.c_m
    assert model.external_weight() / r == pytest.approx(87.81e-12, rel=1e-4)
    assert psp_peak(10e-3, 0.5e-3) == pytest.approx(0.0427, rel=1e-3)
    net = Network(dt=1e-5)
    net.add_population("src", 1, {"name": "spike_generator", "times": [1e-4], "indices": [0]})
    net.add_population("cell", 1, {"name": "lif_cuba", "tau_m": "10 ms", "tau_e": "0.5 ms", "e_l": "-65 mV",
                                   "v_reset": "-65 mV"}, {"v": "-65 mV"})
    net.connect("src", "cell", target="ge", connector="all_to_all", weight=model.external_weight())
    net.record_state("cell", ["v"], [0])
    rec = Simulation(net).run(10e-3)
    assert rec.states["cell.v"]["values"].max() + 65e-3 == pytest.approx(0.15e-3, rel=1e-3)


def test_the_scaled_network_keeps_indegrees_signs_and_mean_input():
    model = Microcircuit(scale={"neurons": 0.02, "indegrees": 0.25})
    net = build_microcircuit(model, seed=4)
    built = build(net)
    sizes = model.sizes()
    assert [net.populations[p].n for p in POPULATIONS] == list(sizes)
    counts = model.synapse_counts()
    full_k = total_synapses(CONN_PROBS, FULL_SIZES, FULL_SIZES) / FULL_SIZES[:, None]
    for t, post in enumerate(POPULATIONS):
        for s, pre in enumerate(POPULATIONS):
            if not counts[t, s]:
                assert f"{pre}_to_{post}" not in built.projections
                continue
            proj = built.projections[f"{pre}_to_{post}"]
            assert proj.n_synapses == counts[t, s]
            assert counts[t, s] / sizes[t] == pytest.approx(full_k[t, s] * 0.25, rel=0.02, abs=0.5)
            w = proj.weights
            assert (np.all(w <= 0) if INHIBITORY[s] else np.all(w >= 0))
            factor = 2 if (pre, post) == ("L4E", "L23E") else (-4 if INHIBITORY[s] else 1)
            error = 4 / math.sqrt(w.size)  # four standard errors of a mean of sd 10% (weights), 50% (delays)
            assert np.mean(w) == pytest.approx(factor * model.external_weight() / 0.5, rel=0.1 * error)  # / sqrt(k)
            delay = 0.75e-3 if INHIBITORY[s] else 1.5e-3
            mean = stats.truncnorm((0.5e-4 - delay) / (delay / 2), np.inf, loc=delay, scale=delay / 2).mean()
            assert np.mean(proj.delays) == pytest.approx(mean / 1e-4, rel=0.5 * error)
    # mean input per neuron (V): recurrent at NEST's full-scale rates + Poisson drive + DC = the full model's
    rates = np.array([0.943, 3.026, 4.368, 5.882, 7.733, 8.664, 1.096, 7.851])
    tau = model.neuron.tau_syn
    w_full = Microcircuit().weights()
    full = tau * ((full_k * w_full) @ rates + K_EXT * 8.0 * model.external_weight())
    drives = {d.population: d for d in net.drives}
    for t, post in enumerate(POPULATIONS):
        recurrent = tau * sum(counts[t, s] / sizes[t] * w_full[t, s] / 0.5 * rates[s] for s in range(8))
        drive = tau * drives[post].n * drives[post].rate * drives[post].weight
        dc = net.populations[post].current_steps[0][1]
        assert recurrent + drive + dc == pytest.approx(full[t], rel=0.02)


def test_thalamic_pulse_fires_in_its_window():
    model = Microcircuit(scale={"neurons": 0.01}, thalamus={"start": "20 ms", "duration": "10 ms"})
    net = build_microcircuit(model, seed=5)
    generator = net.populations["thalamus"].model
    times = np.array(generator.times)
    assert times.min() >= 20e-3 and times.max() < 30e-3
    assert times.size == pytest.approx(902 * 120 * 10e-3, rel=0.15)
    assert {"thalamus_to_L4E", "thalamus_to_L6I"} <= set(net.projections)
    assert "thalamus_to_L23E" not in net.projections


def test_the_experiment_runs_and_reports_the_steady_state(tmp_path):
    """The shipped YAML (variant tiny, 0.3 s): metrics after the transient come from the recorded spikes, the
    figure is drawn, every population fires irregularly (the asynchronous irregular state of the paper)."""
    run_dir = run_experiment("experiments/microcircuit.yaml", ["variant=tiny", "duration=0.3 s", "transient=0.1 s"],
                             out=tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    steady = metrics["steady_state"]
    rec = np.load(run_dir / "recording.npz")
    for pop in POPULATIONS:
        times = rec[f"spikes/{pop}/t"]
        n = int(rec[f"size/{pop}"])
        assert steady[pop]["rate_hz"] == pytest.approx(np.sum(times >= 0.1) / (n * 0.2), rel=1e-9)
        assert 0.1 < steady[pop]["rate_hz"] < 40
    assert (run_dir / "microcircuit.png").exists()
    assert sum(metrics["synapses_per_projection"].values()) == metrics["synapse_count"]
    with pytest.raises(ConfigError, match="transient"):
        run_experiment("experiments/microcircuit.yaml", ["variant=tiny", "duration=0.1 s", "transient=0.2 s"],
                       out=tmp_path)
