"""Physical stacks trained forward-only (issue 14): no autograd graph through a physical block, the PhyLL
objective (cosine goodness to fixed unit vectors, label times max |x|), the family's refusals, and short runs.
The 3-seed acceptance is slow."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from biosim.config import load_experiment
from biosim.errors import ConfigError
from biosim.physical.waves.front import PhysicalFront
from biosim.physical.waves.scattering import Scattering
from biosim.rules.torch_layers.forward_forward import PhyLL
from biosim.runner import run_experiment
from biosim.torch.common import build_net

ROOT = Path(__file__).parents[1]
PHYLL = ROOT / "experiments" / "phyll_digits.yaml"


def test_no_autograd_graph_passes_through_a_physical_block():
    front = PhysicalFront(Scattering(outputs=12).build(5, np.random.default_rng(0)), skip=True)
    u = torch.randn(3, 5, requires_grad=True)
    y = front(u)
    assert y.grad_fn is None and not y.requires_grad and y.shape == (3, 17)
    assert torch.allclose(y[:, 12:], u.detach())  # the skip path is detached too
    assert torch.allclose(y[:, :12], torch.as_tensor(front.medium(u.detach().double().numpy())).float())
    with pytest.raises(RuntimeError):
        torch.autograd.grad(y.sum(), u)
    assert front.calls == 3


def test_phyll_goodness_is_the_cosine_to_fixed_unit_vectors_and_only_the_digital_maps_train():
    medium = Scattering(outputs=20).build(8 + 3, np.random.default_rng(1))
    net = build_net(PhyLL(), 0, "cpu", widths=[6], n_inputs=8, n_classes=3, fronts=[PhysicalFront(medium)])
    d = net.direction0
    assert d.shape == (6,) and torch.linalg.norm(d) == pytest.approx(1.0)
    x, y = torch.rand(4, 8), torch.tensor([0, 1, 2, 0])
    embedded = net.embed(x, y)
    assert torch.allclose(embedded[:, 8:].max(dim=1).values, x.abs().max(dim=1).values)  # one-hot times max|x|
    h = net.activities(embedded, detach=True)[0]
    assert (h >= 0).all()  # |W u + b|
    assert torch.allclose(net.goodness(h, 0), torch.nn.functional.cosine_similarity(h, d[None], dim=1))
    params = [p for group in net.groups() for p in group]
    assert len(params) == 2 and all(p.requires_grad for p in params)  # W and b of the one digital map
    assert not any(b.requires_grad for b in net.buffers())


def refusal(*overrides: str) -> str:
    from biosim import registry

    with pytest.raises(ConfigError) as err:
        exp, source = load_experiment(PHYLL, list(overrides))
        registry.get("family", exp.family)().prepare(exp, source)
    return str(err.value)


@pytest.mark.parametrize(("overrides", "key", "message"), [
    (["rule=backprop"], "rule", "cannot train through physical blocks"),
    (["physics=[{name: scattering, outputs: 10}]"], "physics", "one medium per layer: 2, not 1"),
    (["physics={name: scattering, outputs: 10, matrix: unitary}"], "physics", "layer 1 (74 inputs)"),
    (["physics=null", "skip=true"], "skip", "with physics: null there are none"),
    (["physics={name: scatering, outputs: 10}"], "physics", "did you mean 'scattering'"),
    (["physics={name: wave_2d, size: 30, steps: 10, outputs: 4, courant: 2}"], "physics", "CFL"),
])
def test_bad_physics_is_refused_before_compute(overrides, key, message):
    text = refusal(*overrides)
    assert message in text and key in text, text


@pytest.mark.parametrize(("variant", "floor"), [(None, 0.85), ("no_physics", 0.85), ("linear_physics", 0.6)])
def test_short_runs_learn_and_count_their_physical_calls(tmp_path, variant, floor):
    overrides = ["epochs=4", "steps_per_batch=2"] + ([f"variant={variant}"] if variant else [])
    run_dir = run_experiment(PHYLL, overrides, out=tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["complete"] and metrics["test_accuracy"] > floor, metrics["test_accuracy"]
    # a positive and a negative pass through both blocks at each of the 2 steps per batch
    assert metrics["physical_calls_per_sample"] == (0 if variant == "no_physics" else 2 * 2 * 2)
    assert (run_dir / "physics_picture.png").stat().st_size > 0


@pytest.mark.parametrize("kind", ["wave_1d", "wave_2d", "oscillators"])
def test_each_medium_draws_its_picture(tmp_path, kind):
    from biosim.physical.waves.plots import physics_picture
    from biosim.torch.results import TrainingResults

    spec = {"wave_1d": {"size": 80, "steps": 60, "outputs": 4, "absorber": 10},
            "wave_2d": {"size": 30, "steps": 40, "outputs": 4, "absorber": 5}, "oscillators": {}}[kind]
    from biosim import registry

    medium = registry.get("physics", kind)(**spec).build(6, np.random.default_rng(0))
    arrays = medium.picture(np.random.default_rng(1).uniform(0, 1, 6)) | {"picture_label": np.array([3])}
    if kind != "oscillators":
        assert arrays["picture_energy"].shape == medium.c0.shape and arrays["picture_energy"].max() > 0
    results = TrainingResults("t", "phyll", "accuracy", ["layer 1"], [], np.array([3]), {}, arrays)
    assert physics_picture(results, tmp_path)[0].stat().st_size > 0


def three_seed_accuracies(tmp_path, variant: str | None) -> np.ndarray:
    return np.array([json.loads((run_experiment(PHYLL, [f"seed={seed}"] + ([f"variant={variant}"] if variant else []),
                                                out=tmp_path) / "metrics.json").read_text())["test_accuracy"]
                     for seed in range(3)])


@pytest.mark.slow
def test_acceptance_digits_scattering_three_seeds(tmp_path):
    """Issue 14: scattering + intensity >= 0.95 mean over seeds 0-2 in 30 epochs and >= 2 points above linear
    physics (measured with 5 Adam steps per batch: 0.971, 0.982, 0.973 against 0.947, 0.913, 0.958; spec 0.975
    against 0.933)."""
    physics, linear = three_seed_accuracies(tmp_path, None), three_seed_accuracies(tmp_path, "linear_physics")
    print(f"intensity {physics}, linear {linear}")
    assert physics.mean() >= 0.95 and physics.mean() >= linear.mean() + 0.02


@pytest.mark.parametrize("kind", ["scattering", "oscillators"])
def test_an_exact_twin_is_the_medium_and_a_gap_changes_it(kind):
    from biosim.physical.waves.oscillators import Oscillators
    from biosim.physical.waves.twins import Gap, twin

    rng = np.random.default_rng(2)
    medium = (Scattering(outputs=9) if kind == "scattering" else Oscillators(extra=2)).build(5, rng)
    x = rng.uniform(-1, 1, (4, 5))
    exact = twin(medium, Gap(), np.random.default_rng(0))(torch.tensor(x))
    assert np.abs(exact.numpy() - medium(x)).max() < 1e-12
    gapped = twin(medium, Gap(coupling=0.2, nonlinearity=0.1), np.random.default_rng(0))(torch.tensor(x))
    assert np.abs(gapped.numpy() - medium(x)).max() > 1e-3


def test_physics_aware_training_runs_the_medium_forward_and_the_twin_backward():
    from biosim.physical.waves.pat import _PhysicsAware
    from biosim.physical.waves.twins import Gap, twin

    rng = np.random.default_rng(3)
    front = PhysicalFront(Scattering(outputs=7).build(4, rng))
    gapped = twin(front.medium, Gap(coupling=0.3), np.random.default_rng(1))
    u = torch.rand(3, 4, dtype=torch.float64, requires_grad=True)
    y = _PhysicsAware.apply(u, front.medium_output, gapped)
    assert torch.allclose(y, torch.as_tensor(front.medium(u.detach().numpy())))  # the real medium forward
    weights = torch.randn(3, 7, dtype=torch.float64)
    (grad,) = torch.autograd.grad((y * weights).sum(), u)
    v = u.detach().clone().requires_grad_()
    (expected,) = torch.autograd.grad((gapped(v) * weights).sum(), v)
    assert torch.allclose(grad, expected)  # the twin's vector-Jacobian product backward


def test_pat_learns_through_the_physics_with_a_reality_gap(tmp_path):
    run_dir = run_experiment(PHYLL, ["variant=pat", "epochs=4"], out=tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["complete"] and metrics["test_accuracy"] > 0.85 and metrics["physical_calls_per_sample"] == 2


def test_recovery_measures():
    from biosim.physical.waves.family import recovery

    history = [{"test_accuracy": a} for a in (0.5, 0.9, 0.8, 0.85, 0.895, 0.9)]
    history[1]["test_accuracy_after_change"] = 0.6
    assert recovery(history, 2) == {"accuracy_before_perturbation": 0.9, "accuracy_right_after_perturbation": 0.6,
                                    "lowest_after_perturbation": 0.8, "epochs_to_recover": 3}
    assert recovery(history[:4], 2)["epochs_to_recover"] is None


def test_a_perturbation_changes_the_real_media_once_and_the_twin_never(tmp_path, monkeypatch):
    from biosim.physical.waves import pat

    built = []
    init = pat.PhysicsAwareNet.__init__

    def record(self, *args, **kwargs):
        init(self, *args, **kwargs)
        built.append(self)

    monkeypatch.setattr(pat.PhysicsAwareNet, "__init__", record)
    run_dir = run_experiment(ROOT / "experiments" / "phyll_drift.yaml",
                             ["variant=pat_strong", "epochs=3", "perturbation.epoch=1"], out=tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    net = built[-1]
    for front, twin in zip(net.fronts, net.twins, strict=True):
        assert front.medium is not twin.medium  # the real medium changed; the twin kept the one it was built from
        assert np.linalg.norm(front.medium.T - twin.medium.T) / np.linalg.norm(twin.medium.T) > 0.4
    assert metrics["accuracy_right_after_perturbation"] < metrics["accuracy_before_perturbation"]
    history = json.loads((run_dir / "metrics.json").read_text())["final_epoch"]
    assert "perturbed" not in history  # only the epoch of the change is marked
    assert (run_dir / "perturbation_recovery.png").stat().st_size > 0


@pytest.mark.parametrize(("overrides", "key", "message"), [
    (["physics=null", "perturbation={epoch: 3}"], "perturbation", "with physics: null there are none"),
    (["perturbation={epoch: 30}"], "perturbation.epoch", "leaves no epoch of the 30 to recover in"),
    (["perturbation={epoch: 3}", "validate_every=2"], "validate_every", "validate_every must be 1, not 2"),
])
def test_bad_perturbations_are_refused(overrides, key, message):
    text = refusal(*overrides)
    assert message in text and key in text, text


@pytest.mark.parametrize("layer", ["wave_1d", "wave_2d"])
def test_the_exact_wave_twin_is_the_medium_and_gives_the_torch_gradient(layer):
    from biosim import registry
    from biosim.physical.waves.twins import Gap, twin

    spec = {"wave_1d": {"size": 100, "steps": 250, "outputs": 2, "windows": 4, "absorber": 15,
                        "encoding": "sequence", "kerr": 0.5},
            "wave_2d": {"size": 30, "steps": 60, "outputs": 4, "absorber": 5, "kerr": 0.5, "absorption": 0.2,
                        "u_th": 0.01}}[layer]
    medium = registry.get("physics", layer)(**spec).build(6, np.random.default_rng(0))
    x = np.random.default_rng(1).uniform(0, 1, (3, 6))
    exact = twin(medium, Gap(), np.random.default_rng(0))
    u = torch.tensor(x, requires_grad=True)
    y = exact(u)
    assert np.abs(y.detach().numpy() - medium(x)).max() < 1e-10 * np.abs(medium(x)).max()
    (grad,) = torch.autograd.grad(y[:, 0].sum(), u)
    step = 1e-6  # the twin's gradient against the medium's own finite difference
    bumped = x.copy()
    bumped[:, 2] += step
    numeric = (medium(bumped)[:, 0] - medium(x)[:, 0]) / step
    assert np.allclose(grad[:, 2].numpy(), numeric, rtol=1e-3, atol=1e-6)
    gapped = twin(medium, Gap(coupling=0.2, nonlinearity=0.1), np.random.default_rng(0))(torch.tensor(x))
    assert np.abs(gapped.numpy() - medium(x)).max() > 1e-3


def test_pat_on_a_wave_stack_built_like_a_run_has_finite_gradients():
    """The net is built on the meta device first (build_net): the twins must hold real CPU tensors."""
    from biosim import registry
    from biosim.physical.waves.wave import Wave1D
    from biosim.rules.torch_layers.pat import PhysicsAware

    medium = Wave1D(size=80, steps=150, outputs=2, windows=4, absorber=10, encoding="sequence").build(
        6, np.random.default_rng(0))
    fronts = [PhysicalFront(medium, twin_rng=np.random.default_rng(1))]
    net = build_net(PhysicsAware(coupling=0.2), 0, "cpu", widths=[5], n_inputs=6, n_classes=3, fronts=fronts)
    assert registry.builder(PhysicsAware(), "torch") is not None
    x, y = torch.rand(4, 6), torch.tensor([0, 1, 2, 0])
    (loss,), _ = net.local_losses(x, y)
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in net.parameters())
