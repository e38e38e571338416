"""Continual learning (issue 13, rate-MLP half): HLOP's Hebbian step against the Numba Oja subspace kernel, weight
vs input projection, the frozen rows and the projected gradient, EWC's per-sample Fisher, the task sequences,
reproducibility, Ctrl-C, errors before compute and the figures. The 3-seed acceptance is a slow test."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from biosim import registry
from biosim.config import load_experiment
from biosim.errors import ConfigError
from biosim.family import INTERRUPTED, Run
from biosim.networks.continual import methods
from biosim.networks.continual.family import ContinualResults, scores
from biosim.networks.continual.nets import RateNet, mlp
from biosim.networks.rate_hebbian.model import Projection, RateNetwork
from biosim.rules.continual import HLOP
from biosim.rules.rate_projection.oja import OjaSubspace

ROOT = Path(__file__).parents[1]
PERMUTED = ROOT / "experiments" / "hlop_permuted_digits.yaml"
SPLIT = ROOT / "experiments" / "hlop_split_digits.yaml"
SMALL = ["epochs=2", "tasks=3", "hidden=[20, 20]", "rule.k=[6, 4, 4]", "rule.k_per_task=[3, 2, 2]"]


class Stop:
    """A stop flag that turns on at its ``after``-th read."""

    def __init__(self, after: int):
        self.reads, self.after = 0, after

    @property
    def requested(self) -> bool:
        self.reads += 1
        return self.reads >= self.after


def execute(path: Path, *overrides: str, stop=None):
    exp, source = load_experiment(path, list(overrides))
    family = registry.get("family", exp.family)()
    prepared = family.prepare(exp, source)
    return family.execute(prepared, exp, Run(Path("."), logging.getLogger("test"),
                                             stop or SimpleNamespace(requested=False)))


def refusal(path: Path, *overrides: str) -> str:
    """The one-line error of loading (schema) or preparing (family checks) the experiment."""
    with pytest.raises(ConfigError) as err:
        exp, source = load_experiment(path, list(overrides))
        registry.get("family", exp.family)().prepare(exp, source)
    return str(err.value)


def test_one_hlop_iteration_is_the_numba_oja_subspace_batch_update():
    """The hlop builder's Hebbian step (the oja_subspace rule object at eta = 1, momentum from V = 0, no frozen rows,
    no clipping reached) equals the Numba oja_subspace kernel's batch update at eta = lr (1 - m), to 1e-10."""
    rng = np.random.default_rng(0)
    H0, X = rng.standard_normal((6, 20)) * 0.2, rng.standard_normal((32, 20))
    lr, m = 0.03, 0.9
    method = HLOP(k=[6], k_per_task=[0]).implementation("torch", net=RateNet(mlp(20, []), 4),
                                                         generator=torch.Generator())
    H, V = torch.tensor(H0), torch.zeros(6, 20, dtype=torch.float64)
    methods.hebbian_step(H, V, torch.tensor(X), 0, lr, m, 10.0, method.delta)
    net = RateNetwork(Projection.dense(H0.copy()), OjaSubspace(eta=lr * (1 - m)).implementation("numba"))
    net.train(X, batch=32)
    assert np.abs(H.numpy() - net.W.matrix()).max() < 1e-10
    assert np.abs(H.numpy() - H0).max() > 1e-4  # it did learn


def test_the_hebbian_step_leaves_frozen_rows_and_clips():
    rng = np.random.default_rng(1)
    H = torch.tensor(rng.standard_normal((5, 8)))
    V, before = torch.zeros_like(H), H.clone()
    delta = OjaSubspace(eta=1.0).implementation("torch").delta
    X = torch.tensor(rng.standard_normal((16, 8)) * 100)  # a huge update: every entry clipped to +-clamp
    methods.hebbian_step(H, V, X, 2, 1.0, 0.0, 0.5, delta)
    assert torch.equal(H[:2], before[:2])
    assert (H[2:] - before[2:]).abs().max() <= 0.5 + 1e-12
    assert (H[2:] - before[2:]).abs().max() > 0.49
    H0 = before * 0.3
    for lateral in (None, (7, 20.0)):  # unclipped: the new rows' part of the update over all rows
        H, V = H0.clone(), torch.zeros_like(H0)
        X = torch.tensor(rng.standard_normal((16, 8)))
        methods.hebbian_step(H, V, X, 2, 0.1, 0.0, 10.0, delta, lateral)
        y = X @ H0.T if lateral is None else methods.rate_coded(X @ H0.T, *lateral)
        D = (y.T @ X - y.T @ y @ H0) / 16
        assert D.abs().max() < 10 and torch.equal(H[:2], H0[:2])
        assert torch.allclose(H[2:], H0[2:] + 0.1 * D[2:])


def test_spiking_lateral_neurons_rate_code_y_and_the_step_uses_the_code():
    y = torch.tensor([-30.0, -20.0, -0.2, 0.0, 0.26, 7.3, 19.9, 25.0])
    assert torch.equal(methods.rate_coded(y, 40, 20.0), torch.tensor([-20.0, -20.0, 0.0, 0.0, 0.5, 7.5, 20.0, 20.0]))
    fine = torch.linspace(-19, 19, 101)
    assert (methods.rate_coded(fine, 1000, 20.0) - fine).abs().max() <= 20 / 1000 / 2 + 1e-6  # half a count
    rng = np.random.default_rng(3)
    H0, X = torch.tensor(rng.standard_normal((4, 9))), torch.tensor(rng.standard_normal((16, 9)) * 3)
    delta = OjaSubspace(eta=1.0).implementation("torch").delta
    H, V = H0.clone(), torch.zeros_like(H0)
    methods.hebbian_step(H, V, X, 0, 0.01, 0.0, 10.0, delta, lateral=(5, 20.0))
    y = methods.rate_coded(X @ H0.T, 5, 20.0)
    assert torch.allclose(H, H0 + 0.01 * ((y.T @ X - y.T @ y @ H0) / 16).clamp(-10, 10))


def test_lateral_spiking_neurons_learn_the_principal_subspace_as_the_linear_ones():
    """HLOP's iteration from the same orthogonal start on the same Gaussian batches (spectrum 9, 4, 2.25, then
    0.25): linear and rate-coded (T_h = 1000) lateral neurons both reach the top-3 eigenvectors' span (largest
    principal angle's sine < 0.05) with rows within 0.02 of each other."""
    rng = np.random.default_rng(4)
    sd = torch.tensor([3.0, 2.0, 1.5] + [0.5] * 7, dtype=torch.float64)
    batches = [torch.tensor(rng.standard_normal((32, 10))) * sd for _ in range(400)]
    delta = OjaSubspace(eta=1.0).implementation("torch").delta
    start = torch.nn.init.orthogonal_(torch.empty(3, 10, dtype=torch.float64),
                                      generator=torch.Generator().manual_seed(0))
    learnt = {}
    for lateral in (None, (1000, 20.0)):
        H, V = start.clone(), torch.zeros_like(start)
        for X in batches:
            methods.hebbian_step(H, V, X, 0, 0.01, 0.9, 10.0, delta, lateral)
        learnt[lateral] = H
        Q = torch.linalg.qr(H.T)[0]  # an orthonormal basis of the rows' span
        assert float(torch.linalg.norm(Q[3:], 2)) < 0.05  # the part outside the top-3 eigenvectors (e_1..e_3)
    assert (learnt[None] - learnt[(1000, 20.0)]).abs().max() < 0.02


@pytest.mark.parametrize(("B", "n", "k"), [(4, 50, 30), (100, 50, 3)])  # each of the two forms of the product
def test_the_torch_subspace_delta_is_the_oja_subspace_update(B, n, k):
    rng = np.random.default_rng(6)
    H, X = torch.tensor(rng.standard_normal((k, n))), torch.tensor(rng.standard_normal((B, n)))
    y = X @ H.T
    expected = 0.1 * (y.T @ X - y.T @ y @ H) / B
    delta = OjaSubspace(eta=0.1).implementation("torch").delta
    assert torch.allclose(delta(H, X), expected) and torch.allclose(delta(H, X, 2 * y), 0.1 * (
        2 * y.T @ X - 4 * y.T @ y @ H) / B)


def test_svd_projection_basis_is_the_top_singular_vectors_of_the_residual_activities():
    rng = np.random.default_rng(7)
    net = RateNet(mlp(10, []), 3)
    method = methods.SVDProjection(net, lambda t: [3] if t == 0 else [2])
    X = [torch.tensor(rng.standard_normal((40, 10)) * np.linspace(3, 0.3, 10), dtype=torch.float32)
         for _ in range(2)]
    task = torch.zeros(40, dtype=torch.long)
    basis = torch.zeros(0, 10, dtype=torch.float64)
    for t in range(2):
        method.end_task(t, X[t], None, task, batch_size=16)
        R = X[t].double() - X[t].double() @ basis.T @ basis
        top = torch.linalg.svd(R, full_matrices=False)[2][:3 if t == 0 else 2]
        basis = torch.cat([basis, top])
        B = method.basis[0].double()
        assert torch.allclose(B.T @ B, basis.T @ basis, atol=1e-5)  # the same subspace
        assert (B @ B.T - torch.eye(len(B), dtype=B.dtype)).abs().max() < 1e-5


def test_the_weight_projection_equals_the_input_projection():
    """grad W (I - H^T H) = delta^T (x - H^T H x) for a non-orthonormal H: the two forms of HLOP's projection."""
    rng = np.random.default_rng(2)
    layer = RateNet(mlp(10, []), 3).heads[0].double()
    torch.nn.init.normal_(layer.weight, generator=torch.Generator().manual_seed(0))
    layer.keep_output = True
    x = torch.tensor(rng.standard_normal((7, 10)))
    H = torch.tensor(rng.standard_normal((4, 10)) * 0.4)
    loss = (layer(x) ** 3).sum()
    loss.backward()
    delta = layer.y.grad
    grad = layer.weight.grad.clone()
    methods.project_out(grad, H)
    assert torch.allclose(grad, delta.T @ (x - x @ H.T @ H), rtol=0, atol=1e-12)
    assert not torch.allclose(grad, layer.weight.grad, atol=1e-3)


def test_ewc_fisher_is_the_per_sample_squared_gradient():
    """The Fisher from (delta^2)^T (x^2) equals the mean over items of each item's own squared gradient (a loop)."""
    net = RateNet(mlp(6, [5]), 3, heads=2)
    from biosim.torch.common import initialise

    initialise(net, torch.Generator().manual_seed(3))
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.standard_normal((9, 6)), dtype=torch.float32)
    y, task = torch.tensor(rng.integers(0, 3, 9)), torch.tensor(rng.integers(0, 2, 9))
    method = methods.EWC(net, lam=1.0, gamma=1.0)
    method.end_task(0, x, y, task, batch_size=4)
    expected = [torch.zeros_like(p) for p in net.parameters()]
    for i in range(9):
        loss = torch.nn.functional.cross_entropy(net(x[i:i + 1], task[i:i + 1]), y[i:i + 1])
        for e, g in zip(expected, torch.autograd.grad(loss, list(net.parameters())), strict=True):
            e += g ** 2 / 9
    for f, e in zip(method.fisher, expected, strict=True):
        assert torch.allclose(f, e, rtol=1e-5, atol=1e-8)
    assert float(method.penalty().detach()) == 0.0  # at the anchors
    with torch.no_grad():
        net.body[0].weight += 0.1
    assert float(method.penalty().detach()) > 0


def test_tasks_permuted_and_split():
    from biosim.data.images import Digits
    from biosim.networks.continual.tasks import permuted, split_classes

    split = Digits(test_fraction=0.3, stratify=True).load(np.random.default_rng(0))
    tasks = permuted(split, 3, np.random.default_rng(1))
    assert all(t.train_x.shape == (len(split.train_y), 64) for t in tasks)
    assert not np.array_equal(tasks[0].train_x, split.train_x.reshape(-1, 64))  # the first task is permuted too
    assert np.array_equal(np.sort(tasks[1].train_x, axis=1), np.sort(split.train_x.reshape(-1, 64), axis=1))
    parts = split_classes(split, 5)
    assert [list(t.classes) for t in parts] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert all(set(np.unique(t.train_y)) == {0, 1} for t in parts)
    assert sum(len(t.test_y) for t in parts) == len(split.test_y)


CNN = ["epochs=4", "tasks=3", "architecture=cnn", "hidden=[8, 16]", "lr=0.1", "rule.k=[3, 12]",
       "rule.k_per_task=[2, 8]"]


@pytest.mark.parametrize(("path", "overrides", "sizes", "floor"), [
    (PERMUTED, [*SMALL, "epochs=4"], [[6, 4, 4], [9, 6, 6], [12, 8, 8]], 0.3),  # chance 0.1
    (PERMUTED, [*SMALL, "epochs=4", "rule.k_per_task=[[3, 2, 2], [1, 1, 1]]"], [[6, 4, 4], [9, 6, 6], [10, 7, 7]],
     0.3),
    (SPLIT, CNN, [[3, 12], [5, 20], [7, 28]], 0.6),  # convolutions: patches of 1 x 3 x 3 and 8 x 3 x 3; chance 1/4, 1/3
], ids=["mlp", "mlp_schedule", "cnn"])
def test_frozen_subspace_rows_stay_bit_identical_and_the_projection_removes_the_old_component(monkeypatch, path,
                                                                                               overrides, sizes,
                                                                                               floor):
    """HLOP, 3 tasks: the rows of each task are bit-identical after every later task; on the first batch of each
    later task the projected gradient keeps < 1% of its component inside the span of the frozen rows (MLP, MLP
    with a per-task schedule of sizes, CNN)."""
    snapshots, removed = [], []
    end_task, transform = methods.HLOP.end_task, methods.HLOP.transform_gradients

    def record_end(self, t, *args):
        end_task(self, t, *args)
        snapshots.append([H.clone() for H in self.H])

    def record_transform(self):
        if self.frozen[0] and len(removed) < len(self.shared) * len(snapshots):  # the first batch of later tasks
            bases = [torch.linalg.svd(H[:f].double(), full_matrices=False)[2] for H, f in zip(self.H, self.frozen,
                                                                                             strict=True)]
            before = [(layer.weight.grad.double() @ U.T).norm() for layer, U in zip(self.shared, bases, strict=True)]
            transform(self)
            removed.extend(float((layer.weight.grad.double() @ U.T).norm() / b)
                           for layer, U, b in zip(self.shared, bases, before, strict=True))
            return
        transform(self)

    monkeypatch.setattr(methods.HLOP, "end_task", record_end)
    monkeypatch.setattr(methods.HLOP, "transform_gradients", record_transform)
    out = execute(path, *overrides)
    assert out.complete and len(snapshots) == 3
    for t in range(3):
        for later in snapshots[t + 1:]:
            for old, new in zip(snapshots[t], later, strict=True):
                assert torch.equal(new[:len(old)], old)
    assert len(removed) == 2 * len(sizes[0]) and max(removed) < 0.01, removed
    assert out.metrics["subspace_sizes"] == sizes
    assert np.diag(out.metrics["accuracy_matrix"]).min() > floor  # every task learnt


def test_the_orthonormal_projection_removes_the_whole_frozen_component():
    """orthonormal_projection: the gradient is projected off an orthonormal basis of the frozen rows' span, so what
    stays inside that span is rounding only, at every later task (the rows themselves are not orthonormal)."""
    method = HLOP(k=[4], k_per_task=[3], orthonormal_projection=True).implementation(
        "torch", net=RateNet(mlp(10, []), 3), generator=torch.Generator().manual_seed(0))
    method.begin_task(0)
    with torch.no_grad():
        method.H[0] *= torch.linspace(0.5, 1.5, 4)[:, None]  # rows of norms 0.5..1.5: I - H^T H is not a projector
    method.begin_task(1)
    layer = method.shared[0]
    layer.weight.grad = torch.randn(layer.weight.shape, generator=torch.Generator().manual_seed(1))
    grad = layer.weight.grad.clone()
    method.transform_gradients()
    assert (layer.weight.grad @ method.H[0][:4].T).abs().max() < 1e-5
    method.projected[0] = method.H[0][:4].clone()  # the official code's grad (I - H^T H) keeps part of it
    layer.weight.grad = grad
    method.transform_gradients()
    assert (layer.weight.grad @ method.H[0][:4].T).abs().max() > 1e-2


def test_same_seed_same_accuracy_matrix_and_another_seed_differs():
    runs = [execute(PERMUTED, *SMALL, f"seed={s}").results.accuracy for s in (1, 1, 2)]
    assert np.array_equal(runs[0], runs[1], equal_nan=True)
    assert not np.array_equal(runs[0], runs[2], equal_nan=True)
    assert np.isnan(runs[0][np.triu_indices(3, 1)]).all() and np.isfinite(runs[0][np.tril_indices(3)]).all()


def test_svd_projection_keeps_an_orthonormal_basis_of_the_hlop_sizes_and_protects_better_than_fine_tuning():
    """Split digits, 3 tasks (multi-head: the two hidden layers protected): the SVD basis is orthonormal to 1e-5 with
    k0 + t k_t rows; its BWT is above fine-tuning's."""
    small = ["epochs=3", "tasks=3", "rule.k=[10, 20]", "rule.k_per_task=[10, 20]"]
    svd = execute(SPLIT, "variant=svd_projection", *small)
    ft = execute(SPLIT, "variant=fine_tuning", *small[:2])
    assert svd.metrics["subspace_sizes"] == [[10, 20], [20, 40], [30, 60]]
    assert max(max(row) for row in svd.metrics["orthonormality_error"]) < 1e-5
    assert svd.metrics["backward_transfer"] > ft.metrics["backward_transfer"]
    assert ft.metrics["subspace_sizes"] == [[0, 0]] * 3


def test_multitask_trains_on_every_task_seen():
    method = registry.get("rule", "multitask")().implementation("torch", net=RateNet(mlp(4, [3]), 2), generator=None)
    assert method.training_tasks(3) == [0, 1, 2, 3]
    out = execute(PERMUTED, "variant=multitask", "epochs=1", "tasks=2", "hidden=[20, 20]")
    assert out.complete and np.isfinite(out.metrics["average_accuracy"])


def test_acc_and_bwt():
    A = np.array([[0.9, np.nan, np.nan], [0.7, 0.8, np.nan], [0.5, 0.6, 0.95]])
    acc, bwt = scores(A, 3)
    assert acc == pytest.approx((0.5 + 0.6 + 0.95) / 3)
    assert bwt == pytest.approx(((0.5 - 0.9) + (0.6 - 0.8)) / 2)
    assert scores(A, 2) == pytest.approx(((0.7 + 0.8) / 2, -0.2))


def test_ctrl_c_keeps_the_finished_tasks():
    """The stop flag turns on after task 1's two epochs (reads: epochs 1-2, then the check after the task)."""
    out = execute(PERMUTED, *SMALL, stop=Stop(after=3))
    assert not out.complete and out.stop_reason == INTERRUPTED
    assert out.metrics["tasks_completed"] == 1 and np.isfinite(out.results.accuracy[0, 0])
    assert np.isnan(out.results.accuracy[1:]).all()


@pytest.mark.parametrize("overrides, key, message", [
    (["rule.k=[20, 30, 101]"], "rule.k", "layer 3 has 100 inputs, but the 5 tasks add 161 subspace rows"),
    (["rule.k=[20, 30]"], "rule.k", "k needs one entry per shared layer: 3 (input widths 64, 100, 100), not 2"),
    (["rule=hlpo"], "rule", "unknown rule 'hlpo' (did you mean 'hlop'?)"),
    (["rule=oja_subspace"], "rule", "allowed here"),
    (["lr=0"], "lr", "greater than 0"),
    (["rule.lr=[0.01, 0]"], "rule.lr", "greater than 0"),
    (["rule.lr=[0.01, 0.01]"], "rule.lr", "lr needs one entry per shared layer: 3, not 2"),
    (["scenario=split", "tasks=11", "rule.k=[1, 1]", "rule.k_per_task=[1, 1]"], "tasks",
     "split into 11 tasks needs at least as many classes; the data has 10"),
    (["scenario=sequential"], "scenario", "permuted"),
    (["rule.k_per_task=[[3, 2, 2]]"], "rule.k_per_task", "one list per later task: 4, not 1"),
    (["rule.k_per_task=[[3, 2, 2], [1, 1], [1, 1, 1], [1, 1, 1]]"], "rule.k_per_task",
     "k_per_task[1] needs one entry per shared layer: 3"),
    (["scenario=split", "architecture=cnn", "hidden=[4, 4, 4, 4]"], "hidden", "divisible by 16; use at most 3"),
    (["scenario=split", "architecture=cnn", "kernel=4"], "kernel", "kernel must be odd"),
    (["architecture=cnn"], "architecture", "a cnn needs the pixels in place"),
    (["kernel=5"], "kernel", "an mlp has none"),
    (["rule.lateral_scale=10"], "rule", "set lateral_steps"),
])
def test_bad_input_is_refused_before_compute(overrides, key, message):
    text = refusal(PERMUTED, *overrides)
    assert message in text and key in text


def test_cuda_is_refused_cleanly_without_a_gpu():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert "device 'cuda' was asked for but torch sees no GPU" in refusal(PERMUTED, "device=cuda")


def test_results_round_trip_and_figures(tmp_path):
    out = execute(SPLIT, "epochs=1", "tasks=2", "rule.k=[5, 5]", "rule.k_per_task=[5, 5]")
    out.results.save(tmp_path)
    back = ContinualResults.load(tmp_path)
    assert np.array_equal(back.accuracy, out.results.accuracy, equal_nan=True)
    assert np.array_equal(back.subspace_sizes, out.results.subspace_sizes)
    names = ("accuracy_matrix", "task_accuracy", "subspace_sizes")
    files = [p for name in names for p in registry.get("plot", name)(back, tmp_path)]
    assert len(files) == 3 and all(p.stat().st_size > 0 for p in files)


@pytest.mark.slow
def test_acceptance_permuted_digits_three_seeds():
    """Issue 13 acceptance (spec §1.6 settings, seeds 0-2, worst seed): BWT(FT) <= -0.40, BWT(HLOP) >= -0.15,
    ACC(HLOP) >= ACC(FT) + 0.25, |ACC(HLOP) - ACC(SVD)| <= 0.06, EWC's ACC between FT and HLOP (mean)."""
    runs = {v: [execute(PERMUTED, *([] if v == "hlop" else [f"variant={v}"]), f"seed={s}").metrics for s in range(3)]
            for v in ("hlop", "fine_tuning", "svd_projection", "ewc")}
    acc = {v: np.array([m["average_accuracy"] for m in ms]) for v, ms in runs.items()}
    bwt = {v: np.array([m["backward_transfer"] for m in ms]) for v, ms in runs.items()}
    assert bwt["fine_tuning"].max() <= -0.40
    assert bwt["hlop"].min() >= -0.15
    assert (acc["hlop"] - acc["fine_tuning"]).min() >= 0.25
    assert np.abs(acc["hlop"] - acc["svd_projection"]).max() <= 0.06
    assert acc["fine_tuning"].mean() < acc["ewc"].mean() < acc["hlop"].mean()
