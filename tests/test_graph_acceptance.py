"""Issue acceptance for ForwardGNN's SF-GCN: cSBM (3 seeds) and the karate club (5 seeds). Slow (about a
minute): run with ``pytest -m slow``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from biosim.runner import run_experiment

ROOT = Path(__file__).parents[1]
pytestmark = pytest.mark.slow


def accuracies(tmp_path, name, seeds, *overrides):
    values = []
    for seed in seeds:
        run_dir = run_experiment(ROOT / "experiments" / f"{name}.yaml", [*overrides, f"seed={seed}"], out=tmp_path)
        values.append(json.loads((run_dir / "metrics.json").read_text())["test_accuracy"])
    print(f"{name} {' '.join(overrides)}: {np.round(values, 4).tolist()} mean {np.mean(values):.4f}")
    return np.array(values)


def test_sf_gcn_on_csbm(tmp_path):
    seeds = (1, 2, 3)
    half, half_flat = accuracies(tmp_path, "sf_csbm", seeds), accuracies(tmp_path, "sf_csbm", seeds, "variant=no_edges")
    assert half.min() >= 0.85 and half.mean() >= half_flat.mean() + 0.15
    graph, graph_flat = (accuracies(tmp_path, "sf_csbm", seeds, "variant=phi1"),
                         accuracies(tmp_path, "sf_csbm", seeds, "variant=phi1_no_edges"))
    assert graph.min() >= 0.80 and graph_flat.max() <= 0.60


def test_sf_gcn_on_karate_club(tmp_path):
    assert accuracies(tmp_path, "sf_karate", (1, 2, 3, 4, 5)).mean() >= 0.80
