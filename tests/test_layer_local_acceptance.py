"""Issue acceptance for forward-forward, SymBa, backprop and CCL on 8x8 digits: full settings, 3 seeds
(mean and worst). Slow (about 2 minutes): run with ``pytest -m slow``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from biosim.runner import run_experiment

ROOT = Path(__file__).parents[1]
SEEDS = (1, 2, 3)
pytestmark = pytest.mark.slow


def accuracies(tmp_path, name, *overrides, key="test_accuracy"):
    values = []
    for seed in SEEDS:
        run_dir = run_experiment(ROOT / "experiments" / f"{name}.yaml", [*overrides, f"seed={seed}"], out=tmp_path)
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert metrics["complete"]
        values.append(metrics[key] if key in metrics else metrics["final_epoch"][key])
    print(f"{name} {' '.join(overrides)} {key}: {np.round(values, 4).tolist()} mean {np.mean(values):.4f}")
    return np.array(values)


def test_forward_forward_symba_backprop_and_negative_control(tmp_path):
    ff = accuracies(tmp_path, "ff_digits")  # 2 x 256, RMS-1 inputs, theta 2, Adam 3e-3, batch 64, 30 epochs
    assert ff.mean() >= 0.93 and ff.min() >= 0.92
    assert accuracies(tmp_path, "ff_digits", "variant=backprop").mean() >= 0.97
    symba = accuracies(tmp_path, "symba_digits")  # the same net and data, 10 epochs
    ff10 = accuracies(tmp_path, "symba_digits", "variant=forward_forward")
    assert symba.mean() >= 0.90 and symba.mean() >= ff10.mean() + 0.05
    assert accuracies(tmp_path, "ff_digits", "variant=negative_control").max() <= 0.25


def test_counter_current_learning_on_a_narrow_network(tmp_path):
    ccl, control = accuracies(tmp_path, "ccl_digits"), accuracies(tmp_path, "ccl_digits", "variant=control")
    assert ccl.min() >= 0.90 and ccl.mean() >= control.mean() + 0.05
    for layer in (0, 1):
        key = f"layer{layer}_prototype_accuracy"
        assert accuracies(tmp_path, "ccl_digits", key=key).mean() >= 0.75
        assert accuracies(tmp_path, "ccl_digits", "variant=control", key=key).mean() <= 0.25
