"""Each PyTorch family trains on every device torch offers: CPU here; CUDA where a GPU exists (skipped,
and reported as skipped, where none does). Short runs that must still learn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from biosim.runner import run_experiment

ROOT = Path(__file__).parents[1]
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("name", "overrides", "key", "floor"), [
    ("ff_digits", ["epochs=10"], "test_accuracy", 0.6),
    ("ff_cnn_digits", ["epochs=5", "rule.negatives=hard"], "test_accuracy", 0.3),
    ("ccl_digits", ["epochs=5"], "test_accuracy", 0.6),
    ("ff_unsupervised_digits", ["epochs=3"], "test_accuracy", 0.5),  # seed 1 on cpu: 0.591 (chance 0.1)
    ("sf_karate", ["epochs=100"], "test_accuracy", 0.7),
    ("sf_top2input_csbm", ["epochs=50"], "test_accuracy", 0.7),
    ("link_ff_karate", ["epochs=100"], "test_roc_auc", 0.6),
    ("hlop_permuted_digits_dsr", ["epochs=3", "tasks=2"], "average_accuracy", 0.5),
    ("hlop_split_digits_cnn", ["epochs=2", "tasks=2"], "average_accuracy", 0.8),
])
def test_training_learns_on_the_device(tmp_path, device, name, overrides, key, floor):
    run_dir = run_experiment(ROOT / "experiments" / f"{name}.yaml", [*overrides, f"device={device}"], out=tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["complete"] and metrics[key] > floor, metrics[key]
