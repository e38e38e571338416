"""Dense Hebbian (P-body) networks: kernels against slow references, the issue's acceptance settings, the family's
errors, experiments and results."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from biosim.errors import ConfigError
from biosim.networks.dense_hebbian import montecarlo as mc
from biosim.networks.dense_hebbian import patterns, theory
from biosim.networks.dense_hebbian.family import DenseHebbianResults
from biosim.rules.dense_hebbian import Supervised, Unsupervised
from biosim.runner import check_experiment, run_experiment
from biosim.streams import stream

ROOT = Path(__file__).parents[1]
EXPERIMENTS = ROOT / "experiments"


def network(N, K, M, r, P, rule=None, seed=1):
    rule = rule or Supervised()
    data = patterns.draw(N, K, M, r, stream(seed, "archetypes"), stream(seed, "examples"))
    return data, rule.implementation("numba", examples=list(data.eta), P=P, R=patterns.example_norm(M, r))


def chains(data, stored, P, beta, sweeps, starts, seed=1, dynamics="glauber", order="random", record_every=1):
    rngs = [stream(seed, f"chain {c}") for c in range(len(starts))]
    return mc.run_chains(stored, P, data.xi, starts, mc.beta_schedule(beta, sweeps), rngs, dynamics, order,
                         record_every)


def explicit_energy(stored, sigma, P):
    """H = -c N sum_nu (eta_nu . sigma / N)^P from the float patterns, recomputed from scratch."""
    N = sigma.size
    x = (stored.S / stored.scale[:, None]) @ sigma / N
    return -stored.coefficient * N * np.sum(x ** P)


def terms(A, inv, P):
    out = np.empty(A.size)
    mc.pattern_terms(A, inv, P, out)
    return out


# -- theory -----------------------------------------------------------------------------------------------
def test_majority_vote_is_the_exact_binomial_sum():
    """m = P(S > 0) - P(S < 0) with S a sum of M chi; the issue's value 0.969 at r = 0.3, M = 50."""
    def by_hand(M, r):
        p = (1 + r) / 2
        terms = [math.comb(M, b) * p ** b * (1 - p) ** (M - b) * np.sign(2 * b - M) for b in range(M + 1)]
        return sum(terms)

    for M, r in ((50, 0.3), (1, 0.4), (2, 0.5), (7, 0.1), (100, 0.05)):
        assert theory.majority_magnetization(M, r) == pytest.approx(by_hand(M, r), abs=1e-12)
    assert theory.majority_magnetization(50, 0.3) == pytest.approx(0.969, abs=5e-4)
    assert theory.majority_magnetization(1, 1.0) == 1.0 and theory.majority_magnetization(10, 0.0) == 0.0


def test_mean_field_solves_its_self_consistency_and_vanishes_below_beta_one():
    values, probs = theory.example_average_law(50, 0.3)
    R = patterns.example_norm(50, 0.3)
    assert np.sum(probs * values ** 2) == pytest.approx(R)  # R = E[eta_bar^2]
    m, n = theory.mean_field(1.5, 50, 0.3)
    assert n > 0.1 and n == pytest.approx(np.sum(probs * values * np.tanh(1.5 * values * n / R)), abs=1e-10)
    assert m == pytest.approx(np.sum(probs * np.tanh(1.5 * values * n / R)), abs=1e-10)
    assert abs(theory.mean_field(0.9, 50, 0.3)[0]) < 1e-6
    assert theory.mean_field(math.inf, 50, 0.3)[0] == pytest.approx(theory.majority_magnetization(50, 0.3))


# -- kernels against slow references ----------------------------------------------------------------------
@pytest.mark.parametrize(("P", "rule"), [(2, Supervised()), (4, Supervised()), (6, Unsupervised()),
                                         (4, Unsupervised())])
def test_energy_difference_equals_the_explicit_energy_difference(P, rule):
    data, stored = network(60, 4, 5, 0.4, P, rule)
    rng = np.random.default_rng(0)
    N = 60
    ST = np.ascontiguousarray(stored.S.T)
    inv = 1.0 / (N * stored.scale)
    for _ in range(20):
        sigma = np.where(rng.random(N) < 0.5, 1, -1).astype(np.int8)
        A = stored.S.astype(np.int64) @ sigma
        i = int(rng.integers(N))
        flipped = sigma.copy()
        flipped[i] *= -1
        expected = explicit_energy(stored, flipped, P) - explicit_energy(stored, sigma, P)
        got = mc.delta_energy(ST, A, terms(A, inv, P), inv, stored.coefficient * N, P, i, sigma[i])
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)
        assert mc.energy(A, inv, stored.coefficient * N, P) == pytest.approx(explicit_energy(stored, sigma, P))


def test_p2_energy_is_the_hopfield_energy_of_the_explicit_coupling_matrix():
    """P = 2 supervised: H = -(1/2) sigma^T J sigma with J = sum_mu eta_bar eta_bar^T / (N R) (diagonal included)."""
    M, r, N = 5, 0.4, 30
    data, stored = network(N, 3, M, r, 2)
    R = patterns.example_norm(M, r)
    eta_bar = data.eta.mean(axis=1)
    J = eta_bar.T @ eta_bar / (N * R)
    ST, inv = np.ascontiguousarray(stored.S.T), 1.0 / (N * stored.scale)
    rng = np.random.default_rng(1)
    for _ in range(10):
        sigma = np.where(rng.random(N) < 0.5, 1, -1).astype(np.int8)
        A = stored.S.astype(np.int64) @ sigma
        assert mc.energy(A, inv, stored.coefficient * N, 2) == pytest.approx(-0.5 * sigma @ J @ sigma)
        i = int(rng.integers(N))
        flipped = sigma.copy()
        flipped[i] *= -1
        assert mc.delta_energy(ST, A, terms(A, inv, 2), inv, stored.coefficient * N, 2, i, sigma[i]) == pytest.approx(
            -0.5 * flipped @ J @ flipped + 0.5 * sigma @ J @ sigma)


@pytest.mark.parametrize(("dynamics", "order", "rule"), [("glauber", "random", Supervised()),
                                                         ("metropolis", "sequential", Unsupervised())])
def test_incremental_overlaps_and_records_equal_recomputed_ones_after_many_sweeps(dynamics, order, rule):
    data, stored = network(200, 6, 4, 0.3, 4, rule)
    traces = chains(data, stored, 4, 1.0, 50, np.repeat(data.xi[:1], 2, axis=0), dynamics=dynamics, order=order)
    assert traces.accepted.min() > 200  # the state moved
    for c in range(2):
        sigma = traces.final[c].astype(np.int64)
        assert np.array_equal(traces.overlaps[c], stored.S.astype(np.int64) @ sigma)
        assert np.allclose(traces.m[c, -1], data.xi @ sigma / 200)
        assert np.allclose(traces.n[c, -1], data.eta.mean(axis=1) @ sigma / 200)
        assert traces.energy[c, -1] == pytest.approx(explicit_energy(stored, sigma, 4) / 200)


@pytest.mark.parametrize("dynamics", ["glauber", "metropolis"])
def test_finite_temperature_chains_sample_the_boltzmann_distribution(dynamics):
    """N = 5 spins, P = 4: the state frequencies of a long chain match exp(-beta H) / Z (all 32 states)."""
    N, P, beta = 5, 4, 0.7
    data, stored = network(N, 2, 3, 0.5, P)
    states = np.array([[1 - 2 * ((k >> j) & 1) for j in range(N)] for k in range(2 ** N)], np.int8)
    weights = np.exp(-beta * np.array([explicit_energy(stored, s.astype(float), P) for s in states]))
    sweeps = 40_000
    traces = mc.run_chains(stored, P, states, states[:1], np.full(sweeps, beta), [stream(3, "chain")], dynamics,
                           "random", record_every=1)
    # m[:, k] = states[k] . sigma / N equals 1 only in state k: the recorded Mattis vector identifies the state
    visited = np.argmax(traces.m[0, 1:], axis=1)
    frequency = np.bincount(visited, minlength=2 ** N) / sweeps
    expected = weights / weights.sum()
    assert np.max(np.abs(frequency - expected)) < 0.012, np.max(np.abs(frequency - expected))


def test_ties_at_zero_temperature_follow_each_rule_s_limit():
    """With nothing stored every dE is 0: at T = 0 Glauber flips half its attempts, Metropolis all of them."""
    N = 1000
    xi = np.ones((1, N), np.int8)
    zero = Supervised().implementation("numba", examples=[np.ones((1, N), np.int8), -np.ones((1, N), np.int8)],
                                       P=2, R=1.0)
    zero = zero._replace(S=np.zeros_like(zero.S))
    for dynamics, rate in (("glauber", 0.5), ("metropolis", 1.0)):
        traces = mc.run_chains(zero, 2, xi, xi, np.full(20, np.inf), [stream(1, "c")], dynamics)
        assert traces.accepted[0] / (20 * N) == pytest.approx(rate, abs=0.01)


def test_a_sequential_sweep_visits_every_spin_once_a_random_one_draws_spins_with_replacement():
    """Nothing stored, T = 0 Metropolis: every attempt flips, so one sequential sweep flips every spin exactly once."""
    N = 500
    xi = np.ones((1, N), np.int8)
    zero = Supervised().implementation("numba", examples=[xi], P=2, R=1.0)._replace(S=np.zeros((1, N), np.int32))
    for order in ("sequential", "random"):
        traces = mc.run_chains(zero, 2, xi, xi, np.full(1, np.inf), [stream(1, "c")], "metropolis", order)
        assert traces.accepted[0] == N
        assert np.all(traces.final[0] == -1) == (order == "sequential"), order


def test_a_chain_does_not_depend_on_how_many_chains_run_and_the_seed_fixes_it():
    data, stored = network(300, 5, 10, 0.4, 2)
    three = chains(data, stored, 2, 2.0, 10, data.eta[0, :3])
    alone = mc.run_chains(stored, 2, data.xi, data.eta[0, 2:3], np.full(10, 2.0), [stream(1, "chain 2")])
    again = chains(data, stored, 2, 2.0, 10, data.eta[0, :3])
    assert np.array_equal(alone.m[0], three.m[2]) and np.array_equal(alone.final[0], three.final[2])
    assert np.array_equal(three.m, again.m) and np.array_equal(three.energy, again.energy)
    other = chains(data, stored, 2, 2.0, 10, data.eta[0, :3], seed=2)
    assert not np.array_equal(three.final[0], other.final[0])


def test_annealing_schedules_run_from_beta0_to_beta():
    assert np.allclose(mc.beta_schedule(2.0, 5, 0.5), [0.5, 0.875, 1.25, 1.625, 2.0])
    assert np.allclose(mc.beta_schedule(4.0, 3, 1.0, "geometric"), [1.0, 2.0, 4.0])
    assert np.all(mc.beta_schedule(np.inf, 4) == np.inf)


# -- the acceptance -----------------------------------------------------------------------------
def test_zero_temperature_low_load_matches_the_majority_vote_from_any_starting_example():
    """N = 1000, K = 5, M = 50, r = 0.3, P = 2, supervised, T = 0: every one of 8 chains (8 starting examples)
    within 0.03 of 0.969."""
    data, stored = network(1000, 5, 50, 0.3, 2)
    traces = chains(data, stored, 2, np.inf, 20, data.eta[0, [0, 7, 13, 21, 28, 35, 42, 49]])
    assert np.all(np.abs(traces.m[:, -1, 0] - theory.majority_magnetization(50, 0.3)) < 0.03), traces.m[:, -1, 0]


def test_p4_retrieves_a_hundred_patterns_at_n400_where_p2_fails():
    """K = 100, N = 400, M = 20, r = 0.3 (rho = 0.51), T = 0, from an example: P = 4 reaches the majority vote
    (0.825), P = 2 stays below 0.5."""
    m = {}
    for P in (2, 4):
        data, stored = network(400, 100, 20, 0.3, P)
        m[P] = chains(data, stored, P, np.inf, 30, data.eta[0, :4]).m[:, -1, 0]
    assert np.mean(m[2]) < 0.5 and np.all(m[2] < 0.5), m[2]
    assert np.all(np.abs(m[4] - theory.majority_magnetization(20, 0.3)) < 0.03), m[4]


def test_p2_supervised_is_paramagnetic_below_beta_one_and_retrieves_above():
    """N = 2000, K = 5, M = 50, r = 0.5: |m| < 0.1 at beta = 0.8; at beta = 1.5 and 2 the time-averaged m is
    within 0.03 of the mean-field m."""
    data, stored = network(2000, 5, 50, 0.5, 2)
    cold = chains(data, stored, 2, 0.8, 100, data.eta[0, :2])
    assert np.all(np.abs(cold.m[:, -1, 0]) < 0.1) and np.all(np.abs(cold.m[:, 50:, 0]).mean(axis=1) < 0.05)
    for beta in (1.5, 2.0):
        warm = chains(data, stored, 2, beta, 100, data.eta[0, :2])
        assert np.abs(warm.m[:, 50:, 0].mean() - theory.mean_field(beta, 50, 0.5)[0]) < 0.03


# -- the family -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("overrides", "expected"), [
    (["P=3"], "P: P = 3: the P-body energy needs an even P"),
    (["P=0"], "P: must be greater than or equal to 2"),
    (["r=1.5"], "r: must be less than or equal to 1"),
    (["K=0"], "K: must be greater than or equal to 1"),
    (["M=0"], "M: must be greater than or equal to 1"),
    (["N=1"], "N: must be greater than or equal to 2"),
    (["beta=-1"], "beta: must be greater than or equal to 0"),
    (["storage=stdp"], "rule 'stdp' plugs into 'spiking_projection', not 'dense_hebbian'; allowed here: supervised, "
                       "unsupervised"),
    (["storage=oja_subspace"], "allowed here: supervised, unsupervised"),
    (["storage=supervisd"], "did you mean 'supervised'?"),
    (["sweep={Mm: [1, 2]}"], "'Mm' is not a parameter that can be swept with synthetic data (did you mean 'M'?)"),
    (["sweep={P: [2, 3]}"], "sweep.P: P = 3: the P-body energy needs an even P"),
    (["sweep={r: [0.5, 2]}"], "sweep.r: r = 2"),
    (["N=1000000", "K=100000"], "GB available"),
    (["anneal={beta0: 0.1}"], "annealing ends at beta; give a finite beta"),
])
def test_bad_parameters_are_one_line_errors_before_compute(overrides, expected):
    with pytest.raises(ConfigError) as err:
        check_experiment(EXPERIMENTS / "dense_hebbian_retrieval.yaml", overrides)
    assert expected in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_image_runs_refuse_sweeps_of_synthetic_parameters():
    with pytest.raises(ConfigError, match="'M' is not a parameter that can be swept with image data; allowed: P, beta"):
        check_experiment(EXPERIMENTS / "dense_hebbian_digits.yaml", ["sweep={M: [1, 2]}"])


def test_retrieval_experiment_runs_from_yaml_with_its_figure_and_reloads(tmp_path):
    run_dir = run_experiment(EXPERIMENTS / "dense_hebbian_retrieval.yaml", ["sweeps=5", "chains=3", "beta=1.5",
                                                                            "storage=unsupervised"], out=tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["complete"] and (run_dir / "dense_hebbian_traces.png").exists()
    assert metrics["theory_magnetization"] is None  # the majority vote predicts T = 0 only
    assert metrics["mean_field_magnetization"] is None  # the P = 2 mean field is the supervised energy's
    results = DenseHebbianResults.load(run_dir)
    assert results.m.shape == (1, 3, 6) and results.settings[0]["storage"] == "unsupervised"
    assert results.final_m[0] == pytest.approx(metrics["mattis_magnetization"])


@pytest.mark.parametrize(("name", "overrides", "figure"), [
    ("dense_hebbian_phase_m_r.yaml", ["N=200", "sweeps=3", "sweep.r=[0.2, 0.6]", "sweep.M=[1, 10, 30]"],
     "dense_hebbian_phase.png"),
    ("dense_hebbian_phase_load.yaml", ["N=100", "sweeps=3", "sweep.beta=[0.5, 2.0]", "sweep.alpha=[0.05, 0.15]"],
     "dense_hebbian_phase.png"),
    ("dense_hebbian_retrieval.yaml", ["sweeps=3", "sweep={beta: [0.5, 2.0]}", "anneal={beta0: 0.2}", "beta=2",
                                      "plots=[dense_hebbian_phase]"], "dense_hebbian_phase.png"),
])
def test_phase_diagram_experiments_run_and_draw_their_heat_maps(tmp_path, name, overrides, figure):
    run_dir = run_experiment(EXPERIMENTS / name, overrides, out=tmp_path)
    assert (run_dir / figure).exists()
    results = DenseHebbianResults.load(run_dir)
    assert np.all(np.isfinite(results.final_m))


def test_digits_accuracy_grows_with_p(tmp_path):
    """Spec hebbian.md 3.3, all 10 classes: about 0.33 at P = 8 and 0.75 at P = 16; P = 2 collapses."""
    run_dir = run_experiment(EXPERIMENTS / "dense_hebbian_digits.yaml", ["sweep.P=[2, 8, 16]"], out=tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    accuracy = [metrics["test_accuracy"][f"P={P}"] for P in (2, 8, 16)]
    assert accuracy[0] < accuracy[1] < accuracy[2], accuracy
    assert accuracy[1] == pytest.approx(0.33, abs=0.08) and accuracy[2] == pytest.approx(0.75, abs=0.08), accuracy
    assert metrics["nearest_mean_accuracy"] > 0.8
    assert (run_dir / "dense_hebbian_accuracy.png").exists() and (run_dir / "dense_hebbian_traces.png").exists()


def test_idx_images_given_by_path_are_classified_the_same_way(tmp_path):
    """The digits written as IDX files (uint8, 0..255) through the existing ``idx_images`` dataset."""
    from sklearn.datasets import load_digits

    from biosim.data.images import write_idx

    digits = load_digits()
    write_idx(tmp_path / "images.idx", (digits.images[:400] * 16).clip(0, 255).astype(np.uint8))
    write_idx(tmp_path / "labels.idx", digits.target[:400].astype(np.uint8))
    images, labels = tmp_path / "images.idx", tmp_path / "labels.idx"
    data = f"data={{name: idx_images, train_images: {images}, train_labels: {labels}}}"
    run_dir = run_experiment(EXPERIMENTS / "dense_hebbian_digits.yaml", [data, "sweep.P=[2, 16]"], out=tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test_accuracy"]["P=2"] < metrics["test_accuracy"]["P=16"]
    assert DenseHebbianResults.load(run_dir).settings[0]["N"] == 64
    with pytest.raises(ConfigError, match=r"classes \[9\] have no training image"):
        write_idx(tmp_path / "labels.idx", np.where(digits.target[:400] == 9, 10, digits.target[:400]).astype(np.uint8))
        check_experiment(EXPERIMENTS / "dense_hebbian_digits.yaml", [data])


def test_a_stopped_run_keeps_the_points_done_marked_incomplete(tmp_path, monkeypatch):
    from biosim.family import Run

    monkeypatch.setattr(Run, "stop_requested", property(lambda self: True))
    run_dir = run_experiment(EXPERIMENTS / "dense_hebbian_phase_m_r.yaml", ["N=100", "sweeps=2"], out=tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert not metrics["complete"] and metrics["stop_reason"].startswith("interrupted")
    results = DenseHebbianResults.load(run_dir)
    assert np.all(np.isnan(results.final_m[1:])) and (run_dir / "dense_hebbian_phase.png").exists()


@pytest.mark.slow
def test_shipped_experiments_at_full_settings(tmp_path):
    """The four shipped files as they are (about 20 s): T = 0 retrieval at the majority vote, the (M, r) diagram on
    the theory, the Hopfield load diagram retrieving at low load and cold, paramagnetic at beta = 0.5, and the
    digits accuracy rising with P."""
    def run(name):
        run_dir = run_experiment(EXPERIMENTS / name, out=tmp_path)
        return DenseHebbianResults.load(run_dir), json.loads((run_dir / "metrics.json").read_text())

    retrieval, _ = run("dense_hebbian_retrieval.yaml")
    assert np.all(np.abs(retrieval.m[0, :, -1] - 0.9693) < 0.03)
    m_r, _ = run("dense_hebbian_phase_m_r.yaml")
    assert np.mean(np.abs(m_r.final_m - m_r.theory_m)) < 0.05
    load, _ = run("dense_hebbian_phase_load.yaml")
    grid = load.final_m.reshape(len(load.values[0]), len(load.values[1]))  # rows beta, columns alpha
    assert np.all(grid[np.array(load.values[0]) >= 5][:, np.array(load.values[1]) <= 0.08] > 0.9)
    assert np.all(np.abs(grid[0]) < 0.1)
    _, digits = run("dense_hebbian_digits.yaml")
    accuracy = digits["test_accuracy"]
    assert accuracy["P=2"] < accuracy["P=8"] < accuracy["P=16"] and digits["nearest_mean_accuracy"] > 0.8


def test_finite_temperature_runs_report_the_p2_mean_field_at_the_last_beta(tmp_path):
    run_dir = run_experiment(EXPERIMENTS / "dense_hebbian_retrieval.yaml", ["sweeps=4", "chains=1", "beta=1.5",
                                                                            "N=200"], out=tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["mean_field_magnetization"] == pytest.approx(theory.mean_field(1.5, 50, 0.3)[0])
    assert 0 < metrics["mean_field_magnetization"] < 0.9


@pytest.mark.parametrize(("overrides", "key", "message"), [
    (["sweeps=5", "record_every=10"], "record_every", "not a multiple of record_every"),
    (["data=digits", "N=5000"], "N", "image data sets N, K and M"),
])
def test_runs_that_would_report_a_stale_or_ignored_setting_are_refused(tmp_path, overrides, key, message):
    with pytest.raises(ConfigError, match=message) as err:
        run_experiment(EXPERIMENTS / "dense_hebbian_retrieval.yaml", overrides, out=tmp_path)
    assert key in str(err.value)


def test_grid_points_with_the_same_data_parameters_share_their_data(tmp_path):
    """The data streams are keyed by (N, K, M, r), not by the grid index: two beta cells see the same examples,
    and a point run alone sees what it sees in a grid."""
    grid = DenseHebbianResults.load(run_experiment(
        EXPERIMENTS / "dense_hebbian_retrieval.yaml", ["N=200", "sweeps=2", "chains=1", "sweep={beta: [2.0, 3.0]}"],
        out=tmp_path / "grid"))
    alone = DenseHebbianResults.load(run_experiment(
        EXPERIMENTS / "dense_hebbian_retrieval.yaml", ["N=200", "sweeps=2", "chains=1", "beta=2.0"],
        out=tmp_path / "alone"))
    assert grid.m[0, 0, 0] == grid.m[1, 0, 0] == alone.m[0, 0, 0]  # the same starting example
    np.testing.assert_array_equal(grid.m[0], alone.m[0])
