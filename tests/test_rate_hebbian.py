"""Rate Hebbian rules on a rate projection (issue 11, first half): each rule against its closed-form fixed point,
the one Oja kernel against numpy and torch, dense vs CSR weights, errors before compute, divergence, Ctrl-C and
the figures."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from biosim import registry
from biosim.config import load_experiment
from biosim.errors import ConfigError
from biosim.family import DIVERGED, INTERRUPTED, Run
from biosim.networks.rate_hebbian import model
from biosim.networks.rate_hebbian.data import GaussianSpectrum, SampleSet
from biosim.networks.rate_hebbian.family import RateResults
from biosim.networks.rate_hebbian.model import Projection, RateNetwork
from biosim.rules.rate_projection.hebb import Hebb
from biosim.rules.rate_projection.oja import Oja, OjaSubspace, Sanger

ROOT = Path(__file__).parents[1]
PCA = ROOT / "experiments" / "hebbian_pca.yaml"


def execute(path: Path, *overrides: str, stop: bool = False, tmp: Path | None = None):
    """Prepare and execute an experiment file in this process (no run directory, no figures)."""
    exp, source = load_experiment(path, list(overrides))
    family = registry.get("family", exp.family)()
    prepared = family.prepare(exp, source)
    return family.execute(prepared, exp, Run(tmp or Path("."), logging.getLogger("test"),
                                             SimpleNamespace(requested=stop)))


def test_oja_subspace_learns_the_principal_subspace_with_orthonormal_rows():
    """Acceptance, hebbian_pca.yaml as shipped (seed 0, n = 50, k = 5, eigenvalues 10 x 5 and 1 x 45, eta 0.005,
    batches of 100, 2e5 samples): subspace error <= 0.1, max |W W^T - I| <= 0.01."""
    out = execute(PCA)
    assert out.complete
    assert out.metrics["subspace_error"] <= 0.1 and out.metrics["orthonormality_error"] <= 0.01, out.metrics
    assert out.results.subspace_error[0] > 0.9  # it started far away (random rows of norm 0.1)


def test_sanger_rows_are_the_leading_eigenvectors_in_order():
    """Acceptance, variant sanger (eigenvalues 10, 8, 6, 4, 2 and 1 x 45: distinct, since equal eigenvalues have no
    unique eigenvectors; 1e6 samples): |cos(w_i, v_i)| >= 0.99 for i = 1, 2, 3."""
    out = execute(PCA, "variant=sanger")
    assert min(out.metrics["cos_ordered"][:3]) >= 0.99, out.metrics["cos_ordered"]


def test_oja_single_units_each_find_the_first_principal_component():
    """Variant oja (eigenvalues 10, 5 x 4, 1 x 45): every row |cos(w_i, v_1)| >= 0.99 and of unit norm."""
    out = execute(PCA, "variant=oja")
    assert out.metrics["min_cos_first"] >= 0.99
    assert np.allclose(np.linalg.norm(out.results.final_weights, axis=1), 1, atol=0.02)


def test_bcm_outputs_become_selective():
    """Acceptance, bcm_selectivity.yaml (seed 0): every output answers one pattern >= 5x more than any other, near
    the fixed point y = number of patterns (4)."""
    out = execute(ROOT / "experiments" / "bcm_selectivity.yaml")
    assert max(out.metrics["second_over_max_response"]) <= 0.2, out.metrics
    top = out.results.responses[-1].max(axis=1)
    assert np.all((top > 2.5) & (top < 6)), top
    assert max(model.selectivity(out.results.responses[0])[1]) > 0.8  # unselective at the start


def test_foldiak_decorrelates_strongly_correlated_outputs():
    """foldiak_decorrelation.yaml (seed 0): max |off-diagonal correlation| from > 0.5 to < 0.05, Q symmetric with a
    zero diagonal."""
    out = execute(ROOT / "experiments" / "foldiak_decorrelation.yaml")
    assert out.metrics["output_correlation_initial"] > 0.5 and out.metrics["output_correlation"] < 0.05, out.metrics
    Q = out.results.lateral
    assert np.all(np.diag(Q) == 0) and np.allclose(Q, Q.T)


@pytest.mark.slow
def test_sanger_filters_on_image_patches_match_pca():
    """hebbian_patches.yaml as shipped (seed 0, 8 filters, 1e6 patches presented): subspace error against the top-8
    PCA subspace of the same patches <= 0.1 and every filter |cos| >= 0.99 with its principal component."""
    out = execute(ROOT / "experiments" / "hebbian_patches.yaml")
    assert out.metrics["subspace_error"] <= 0.1 and min(out.metrics["cos_ordered"]) >= 0.99, out.metrics


def test_hebb_with_decay_follows_its_closed_form_and_stops_on_pc1():
    """Full-batch Hebb on a fixed set X (C = X^T X / m): each batch maps W -> W ((1 - decay) I + eta C), exactly.
    With decay = eta lambda_1 the fixed point is W_0 v_1 v_1^T (rows on PC1, their PC1 component kept)."""
    rng = np.random.default_rng(4)
    X = SampleSet(GaussianSpectrum(spectrum=[(3.0, 1), (1.0, 2), (0.5, 3)]).load(rng).draw(400, rng)).X
    C = X.T @ X / len(X)
    lam, V = np.linalg.eigh(C)
    W0 = rng.standard_normal((3, 6))
    eta = 0.05
    for decay, batches in ((0.01, 5), (eta * lam[-1], 500)):
        net = RateNetwork(Projection.dense(W0.copy()), Hebb(eta=eta, decay=decay).implementation("numba"))
        net.train(np.tile(X, (batches, 1)), batch=len(X))
        if batches == 5:
            expected = W0 @ np.linalg.matrix_power((1 - decay) * np.eye(6) + eta * C, batches)
            assert np.allclose(net.W.matrix(), expected, rtol=1e-11, atol=0)
        else:
            v = V[:, -1:]
            assert np.allclose(net.W.matrix(), W0 @ v @ v.T, atol=1e-6)


@pytest.mark.parametrize("rule", [Oja, OjaSubspace, Sanger])
def test_the_oja_kernel_matches_numpy_on_sparse_weights(rule):
    """CSR weights (fan-in 4 of 9): the kernel's batch update equals dW = eta (y x^T - T(y y^T) W) masked to the
    structure, T = diag / all / lower triangle, y = W x."""
    rng = np.random.default_rng(1)
    proj = Projection.fixed_fan_in(5, 9, 4, rng)
    proj.data[:] = rng.standard_normal(proj.data.size)
    W, mask = proj.matrix(), proj.matrix() != 0
    X = rng.standard_normal((7, 9))
    net = RateNetwork(proj, rule(eta=0.01).implementation("numba"))
    net.train(X, batch=7)
    Y = X @ W.T
    part = {Oja: lambda m: np.diag(np.diag(m)), OjaSubspace: lambda m: m, Sanger: np.tril}[rule]
    expected = W + 0.01 * (Y.T @ X - part(Y.T @ Y) @ W) / 7 * mask
    assert np.allclose(net.W.matrix(), expected, rtol=0, atol=1e-13)
    assert np.array_equal(net.W.matrix() != 0, mask)  # nothing grows off the structure


@pytest.mark.parametrize("rule", [Oja, OjaSubspace, Sanger])
def test_the_torch_builder_gives_the_numba_update(rule):
    """The same rule object on torch tensors (as HLOP uses oja_subspace): the same batch update to 1e-10 (float64)."""
    import torch

    rng = np.random.default_rng(2)
    W, X = rng.standard_normal((4, 12)) * 0.3, rng.standard_normal((16, 12))
    r = rule(eta=0.02)
    net = RateNetwork(Projection.dense(W.copy()), r.implementation("numba"))
    net.train(X, batch=16)
    H = torch.tensor(W, dtype=torch.float64)
    after = H + r.implementation("torch").delta(H, torch.tensor(X, dtype=torch.float64))
    assert np.abs(after.numpy() - net.W.matrix()).max() < 1e-10


def test_dense_weights_and_csr_with_the_full_structure_train_identically():
    rng = np.random.default_rng(3)
    W, X = rng.standard_normal((3, 8)) * 0.2, rng.standard_normal((500, 8))
    full = Projection.fixed_fan_in(3, 8, 8, rng)
    full.data[:] = W.ravel()
    dense = Projection.dense(W)
    for proj in (dense, full):
        RateNetwork(proj, Sanger(eta=0.01).implementation("numba")).train(X, batch=10)
    assert np.array_equal(dense.data, full.data) and np.array_equal(dense.indices, full.indices)


def test_same_seed_same_run_and_another_seed_another():
    args = ("samples=5000", "records=3")
    a, b, c = execute(PCA, *args), execute(PCA, *args), execute(PCA, *args, "seed=1")
    assert np.array_equal(a.results.weights, b.results.weights)
    assert not np.array_equal(a.results.weights, c.results.weights)


def test_records_are_geometric_and_end_with_the_last_sample():
    out = execute(PCA, "samples=1050", "records=1")
    assert out.results.samples.tolist() == [0, 1050] and out.metrics["samples_presented"] == 1050
    assert execute(PCA, "samples=10000", "records=3").results.samples.tolist() == [0, 500, 2200, 10000]


def test_measures():
    rng = np.random.default_rng(0)
    V = np.linalg.qr(rng.standard_normal((6, 6)))[0]
    top, rest = V[:, :2], V[:, 2:4]
    rotation = np.linalg.qr(rng.standard_normal((2, 2)))[0]
    assert model.subspace_error(3 * rotation @ top.T, top) == pytest.approx(0, abs=1e-12)  # any basis of the span
    assert model.subspace_error(rest.T, top) == pytest.approx(np.sqrt(2))  # orthogonal subspaces
    assert model.orthonormality_error(rotation @ top.T) == pytest.approx(0, abs=1e-12)
    assert model.orthonormality_error(2 * top.T) == pytest.approx(3)
    selective, second = model.selectivity(np.array([[4.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]))
    assert np.allclose(selective, [0.75, 0]) and np.allclose(second, [0, 1])
    Y = rng.standard_normal((20000, 3)) @ np.array([[1, 0.9, 0], [0, 0.4, 0], [0, 0, 1]])
    assert model.max_off_diagonal(model.correlation(Y)) == pytest.approx(0.9 / np.sqrt(0.97), abs=0.02)


@pytest.mark.parametrize(("overrides", "key", "message"), [
    (["rule=stdp"], "rule", "rule 'stdp' plugs into 'spiking_projection', not 'rate_projection'; allowed here: bcm"),
    (["rule=sangr"], "rule", "unknown rule 'sangr' (did you mean 'sanger'?)"),
    (["outputs=51"], "outputs", "rule 'oja_subspace' learns k orthonormal rows, so k must not exceed the n = 50"),
    (["rule.eta=0.1"], "rule.eta", "eta lambda_max = 1 >= 1 makes the updates diverge; use eta < 0.1, e.g. 0.01"),
    (["rule.eta=0"], "rule.eta", "greater than 0"),
    (["rule=foldiak", "activation=rectified"], "activation", "needs activation: linear, not 'rectified'"),
    (["init=identity"], "init", "init identity needs a dense square projection (outputs = n = 50"),
    (["fan_in=60"], "fan_in", "fan_in = 60 exceeds the n = 50 inputs"),
    (["data.name=image_patch"], "data.name", "did you mean 'image_patches'?"),
    (["data.spectrum=[[10, 0]]"], "data.spectrum", "each pair is [eigenvalue > 0, multiplicity >= 1]"),
    (["batch=300000"], "batch", "batch = 300000 is more than the 200000 samples presented"),
])
def test_bad_settings_are_one_line_errors_naming_the_key(overrides, key, message):
    exp, source = load_experiment(PCA, overrides)
    with pytest.raises(ConfigError) as err:
        registry.get("family", "rate_hebbian")().prepare(exp, source)
    assert err.value.key == key and message in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_a_diverging_run_stops_cleanly_and_keeps_its_records():
    """Plain Hebb without decay grows as (1 + eta lambda_1)^batches: it overflows, stops marked diverged, and what
    was recorded before stays finite."""
    out = execute(PCA, "rule={name: hebb, eta: 0.09}")
    assert not out.complete and out.stop_reason.startswith(DIVERGED)
    assert np.isfinite(out.results.weights).all() and out.results.samples[-1] < 200_000


def test_ctrl_c_keeps_what_was_trained(tmp_path):
    out = execute(PCA, stop=True)
    assert not out.complete and out.stop_reason == INTERRUPTED
    assert out.results.samples.tolist() == [0, 100]  # the first chunk was trained and recorded, then it stopped
    out.results.save(tmp_path)
    assert np.array_equal(RateResults.load(tmp_path).weights, out.results.weights)


def test_every_figure_draws_from_saved_results(tmp_path, monkeypatch):
    """All four figures from a reloaded patches run (no patterns: the BCM figure says so), without warnings, titles
    and labels apart (``labels_apart`` of test_plots)."""
    import warnings

    from test_plots import labels_apart

    from biosim.networks.rate_hebbian import plots

    def checked(fig, path):
        files = save(fig, path)
        labels_apart(fig)  # with the margins save set
        return files

    save = plots.save
    monkeypatch.setattr(plots, "save", checked)
    out = execute(ROOT / "experiments" / "hebbian_patches.yaml", "samples=2000", "records=4")
    out.results.save(tmp_path)
    results = RateResults.load(tmp_path)
    assert results.patch_shape.tolist() == [8, 8] and results.rule == "sanger"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        files = [f for name in registry.get("family", "rate_hebbian").plots
                 for f in registry.get("plot", name)(results, tmp_path)]
    assert {f.name for f in files} == {"hebbian_curves.png", "hebbian_filters.png", "bcm_responses.png",
                                       "output_correlations.png"}
    assert all(f.stat().st_size > 5000 for f in files)


def test_missing_sample_images_are_a_config_error(monkeypatch):
    import sklearn.datasets

    def gone():
        raise FileNotFoundError("china.jpg")

    monkeypatch.setattr(sklearn.datasets, "load_sample_images", gone)
    exp, source = load_experiment(ROOT / "experiments" / "hebbian_patches.yaml")
    with pytest.raises(ConfigError, match="cannot load scikit-learn's sample images: china.jpg") as err:
        registry.get("family", "rate_hebbian")().prepare(exp, source)
    assert err.value.key == "data"


def test_no_subspace_error_when_the_outputs_span_every_input():
    """With k >= n both projectors are the identity: the error is not measured (NaN), never a perfect 0."""
    outcome = execute(PCA, "rule=hebb", "outputs=50", "samples=200", "batch=10", "records=2")
    assert np.isnan(outcome.metrics["subspace_error"])
    assert execute(PCA, "outputs=4", "samples=200", "batch=10", "records=2").metrics["subspace_error"] > 0


def test_outputs_silent_to_every_pattern_are_counted_and_said():
    """BCM at a learning rate that kills every rectified output: the run says so instead of n/a selectivities."""
    outcome = execute(ROOT / "experiments" / "bcm_selectivity.yaml", "rule.eta=0.2")
    assert outcome.metrics["silent_outputs"] == outcome.metrics["outputs"]
    assert "outputs silent" in registry.get("family", "rate_hebbian")().summary(outcome.metrics)
    assert execute(ROOT / "experiments" / "bcm_selectivity.yaml").metrics["silent_outputs"] == 0


@pytest.mark.parametrize("rule", ["oja_subspace", "sanger", "oja"])
def test_the_torch_backend_trains_what_the_numba_loop_trains(rule):
    """backend: torch applies each batch's matrix-form update (BLAS) to W: the same weights as the fused per-sample
    loop, up to rounding."""
    runs = [execute(PCA, f"rule={rule}", "samples=5000", "records=3", f"backend={backend}")
            for backend in ("numba", "torch")]
    W_numba, W_torch = (run.results.final_weights for run in runs)
    assert np.abs(W_numba - W_torch).max() < 1e-10 * np.abs(W_numba).max()
    assert runs[0].results.subspace_error[-1] < runs[0].results.subspace_error[0]


@pytest.mark.parametrize(("overrides", "key", "message"), [
    (["rule=bcm"], "backend", "rule 'bcm' runs on numba, not torch; rules with a torch update: oja, oja_subspace, "
                              "sanger"),
    (["activation=rectified"], "activation", "activation must be linear, not 'rectified'"),
    (["fan_in=10"], "fan_in", "fan_in must be left out, not 10"),
])
def test_the_torch_backend_refuses_what_it_cannot_train(overrides, key, message):
    exp, source = load_experiment(PCA, ["backend=torch", *overrides])
    with pytest.raises(ConfigError) as err:
        registry.get("family", "rate_hebbian")().prepare(exp, source)
    assert err.value.key == key and message in str(err.value), str(err.value)
