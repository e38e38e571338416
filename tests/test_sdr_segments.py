"""The sdr_segments family from YAML: validation before compute, a run directory with theory and
Monte-Carlo points, and the figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from biosim.config import load_experiment
from biosim.errors import ConfigError
from biosim.family import Results
from biosim.runner import run_experiment

ROOT = Path(__file__).parents[1]
BASE = """\
name: t
network: sdr_segments
seed: 2
study: false_match
x: n
values: [100, 200, 400]
curves:
  - {a: 20, s: 10, theta: 5}
montecarlo: {trials: 20000, min_expected_hits: 20}
"""


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def error_for(tmp_path, text: str) -> str:
    from biosim import registry

    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        exp, source = load_experiment(path)
        family = registry.get("network", exp.network)
        from biosim.runner import check_plots

        check_plots(exp.plots, family, source)
        family.prepare(exp, source)
    return str(info.value)


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("study: false_match", "study: false_matches", ["exp.yaml:4", "study", "did you mean 'false_match'"]),
    ("network: sdr_segments", "network: sdr_segment", ["exp.yaml:2", "unknown network 'sdr_segment'",
                                                       "did you mean 'sdr_segments'"]),
    ("x: n", "x: nn", ["exp.yaml:5", "'nn' is not a parameter of study 'false_match'", "did you mean 'n'"]),
    ("{a: 20, s: 10, theta: 5}", "{a: 20, s: 10, theta: 5, v: 3}", ["exp.yaml:8", "curves.0.v", "unknown key 'v'"]),
    ("{a: 20, s: 10, theta: 5}", "{a: 20, s: 10, theta: s / 2}", ["curves.0", "formulas may use 'n'"]),
    ("{a: 20, s: 10, theta: 5}", "{a: 200, s: 10, theta: 5}", ["curves.0", "must not exceed n = 100"]),
    ("montecarlo:", "plots: [raster]\nmontecarlo:", ["plots.0", "plot 'raster' does not draw 'sdr_segments'",
                                                      "allowed: error_curves"]),
])
def test_bad_input_is_refused_before_compute(tmp_path, old, new, expected):
    message = error_for(tmp_path, BASE.replace(old, new))
    for part in expected:
        assert part in message, (part, message)


def test_run_directory_holds_theory_montecarlo_and_figure(tmp_path):
    run_dir = run_experiment(write(tmp_path, BASE), out=tmp_path / "runs")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    results = Results.load(run_dir)
    assert metrics["complete"] and metrics["network"] == "sdr_segments"
    assert results.arrays["x"].tolist() == [100, 200, 400]
    simulated = results.arrays["c0_hits"] >= 0
    assert simulated.sum() == len(metrics["points"]) >= 2  # the smallest probability is skipped
    assert metrics["max_abs_z"] < 4 and metrics["segments_per_s"] > 0
    assert (run_dir / "error_curves.png").stat().st_size > 10_000
    assert np.all(np.diff(results.arrays["c0_exact"]) < 0)  # sparser populations match less


def test_formula_parameters_follow_the_swept_value(tmp_path):
    text = BASE.replace("x: n", "x: s").replace("[100, 200, 400]", "[4, 8, 12]").replace(
        "{a: 20, s: 10, theta: 5}", "{n: 200, a: 20, theta: s // 2}").replace("trials: 20000", "trials: 0")
    results = Results.load(run_experiment(write(tmp_path, text), out=tmp_path / "runs"))
    from biosim.networks.sdr_theory import false_match

    assert results.arrays["c0_exact"].tolist() == [float(false_match(200, 20, s, s // 2)) for s in (4, 8, 12)]


def test_plot_command_redraws(tmp_path):
    run_dir = run_experiment(write(tmp_path, BASE.replace("trials: 20000", "trials: 0")), out=tmp_path / "runs")
    (run_dir / "error_curves.png").unlink()
    out = subprocess.run([sys.executable, "-m", "biosim.cli", "plot", str(run_dir)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (run_dir / "error_curves.png").exists()
