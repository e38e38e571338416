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
from biosim.networks.dendritic.family import CurveResults
from biosim.runner import run_experiment

ROOT = Path(__file__).parents[1]
BASE = """\
name: t
family: dendritic_segments
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
        family = registry.get("family", exp.family)()
        from biosim.runner import check_plots

        check_plots(exp.plots, family, source)
        family.prepare(exp, source)
    return str(info.value)


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("study: false_match", "study: false_matches", ["exp.yaml:4", "study", "did you mean 'false_match'"]),
    ("family: dendritic_segments", "family: dendritic_segment", ["exp.yaml:2", "unknown family 'dendritic_segment'",
                                                       "did you mean 'dendritic_segments'"]),
    ("x: n", "x: nn", ["exp.yaml:5", "'nn' is not a parameter of study 'false_match'", "did you mean 'n'"]),
    ("{a: 20, s: 10, theta: 5}", "{a: 20, s: 10, theta: 5, v: 3}", ["exp.yaml:8", "curves.0.v", "unknown key 'v'"]),
    ("{a: 20, s: 10, theta: 5}", "{a: 20, s: 10, theta: s / 2}", ["curves.0", "formulas may use 'n'"]),
    ("{a: 20, s: 10, theta: 5}", "{a: 200, s: 10, theta: 5}", ["curves.0", "must not exceed n = 100"]),
    ("theta: 5}", "theta: 11}", ["exp.yaml:8", "curves.0", "theta = 11 must lie in [1, min(a, s) = 10]"]),
    ("theta: 5}", "theta: n // (n - 100)}", ["curves.0", "'n // (n - 100)' divides by 0 at n = 100"]),
    ("{a: 20, s: 10, theta: 5}", "{a: 20, s: 10, theta: 11, m: 2, form: input}", ["study: union", "curves.0",
                                                                                   "min(s, m a, n) = 10"]),
    ("{a: 20, s: 10, theta: 5}", "{w: 7, m: 5, theta: 8}", ["study: classifier", "theta = 8 must lie in [1, w = 7]"]),
    ("{a: 20, s: 10, theta: 5}", "{a: 20, s: 10, theta: 11, v: 3}", ["study: false_negative", "curves.0",
                                                                      "theta = 11 must lie in [1, s = 10]"]),
    ("values: [100, 200, 400]", "values: {start: 1, stop: 100000000}", ["exp.yaml:6", "values",
                                                                          "100000000 values; at most 10000"]),
    ("{a: 20, s: 10, theta: 5}", "{a: 20, s: 10, theta: 5, m: 6000, form: input}", [
        "study: union", "curves.0", "m = 6000: the exact union distribution takes 12,000,000 steps", "method: approx"]),
    ("x: n\nvalues: [100, 200, 400]", "x: theta\nvalues: [0, 3]", ["study: threshold", "values",
                                                                     "theta = 0 must be at least 1"]),
    ("montecarlo:", "plots: [raster]\nmontecarlo:", ["plots.0", "plot 'raster' does not draw 'dendritic_segments'",
                                                      "allowed: error_curves"]),
])
def test_bad_input_is_refused_before_compute(tmp_path, old, new, expected):
    text = BASE.replace(old, new)
    if expected[0].startswith("study: "):  # the same curve in another study
        text, expected = text.replace("study: false_match", expected[0]), expected[1:]
    message = error_for(tmp_path, text)
    for part in expected:
        assert part in message, (part, message)


def test_exact_theory_out_of_reach_is_refused():
    from pydantic import ValidationError

    from biosim.networks.dendritic.family import FalseMatch

    with pytest.raises(ValidationError, match="a = 1000000 of n = 2000000000: the exact probabilities need integers"):
        FalseMatch(n=2_000_000_000, a=1_000_000, s=24, theta=12)
    with pytest.raises(ValidationError, match="less than or equal to 2147483647"):
        FalseMatch(n=2**31, a=10, s=24, theta=12)


def test_montecarlo_that_does_not_fit_in_memory_is_refused(tmp_path, monkeypatch):
    from biosim.networks.dendritic.family import DendriticSegments

    monkeypatch.setattr("biosim.networks.dendritic.family.available_memory", lambda: 10**6)
    text = BASE.replace("[100, 200, 400]", "[100, 1000000]")
    message = error_for(tmp_path, text)
    assert "curves.0: n = 1000000: the Monte Carlo needs 0.005 GB (5 bytes per cell), 0.001 GB available" in message
    exp, source = load_experiment(write(tmp_path, text.replace("trials: 20000", "trials: 0")))
    assert len(DendriticSegments().prepare(exp, source)[0][1]) == 2  # theory only: accepted


def test_run_directory_holds_theory_montecarlo_and_figure(tmp_path):
    run_dir = run_experiment(write(tmp_path, BASE), out=tmp_path / "runs")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    results = CurveResults.load(run_dir)
    assert metrics["complete"] and metrics["family"] == "dendritic_segments"
    assert results.x == "n" and results.values.tolist() == [100, 200, 400]
    simulated = results.curves[0].hits >= 0
    assert simulated.sum() == len(metrics["points"]) >= 2  # the smallest probability is skipped
    assert metrics["max_abs_z"] < 4 and metrics["segments_per_s"] > 0
    assert (run_dir / "error_curves.png").stat().st_size > 10_000
    assert np.all(np.diff(results.curves[0].exact) < 0)  # sparser populations match less


def test_formula_parameters_follow_the_swept_value(tmp_path):
    text = BASE.replace("x: n", "x: s").replace("[100, 200, 400]", "[4, 8, 12]").replace(
        "{a: 20, s: 10, theta: 5}", "{n: 200, a: 20, theta: s // 2}").replace("trials: 20000", "trials: 0")
    results = CurveResults.load(run_experiment(write(tmp_path, text), out=tmp_path / "runs"))
    from biosim.networks.dendritic.theory import false_match

    assert results.curves[0].exact.tolist() == [float(false_match(200, 20, s, s // 2)) for s in (4, 8, 12)]


def test_plot_command_redraws(tmp_path):
    run_dir = run_experiment(write(tmp_path, BASE.replace("trials: 20000", "trials: 0")), out=tmp_path / "runs")
    (run_dir / "error_curves.png").unlink()
    out = subprocess.run([sys.executable, "-m", "biosim.cli", "plot", str(run_dir)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (run_dir / "error_curves.png").exists()


TM = """\
name: tm
family: temporal_memory
seed: 1
model: {columns: 256, cells_per_column: 8, activation_threshold: 6, min_threshold: 4}
rule: {name: htm_permanence, max_new_synapses: 8}
data: {name: random_sequences, count: 3, length: 10, columns: 256, active: 10}
passes: 5
"""


def test_temporal_memory_experiment_and_one_line_rule_swap(tmp_path):
    metrics = {}
    for rule in ("{name: htm_permanence, max_new_synapses: 8}", "{name: one_shot_segments, max_new_synapses: 8}"):
        run_dir = run_experiment(write(tmp_path, TM.replace("{name: htm_permanence, max_new_synapses: 8}", rule)),
                                 out=tmp_path / "runs")
        metrics[rule] = json.loads((run_dir / "metrics.json").read_text())
        assert (run_dir / "anomaly.png").exists()
    for m in metrics.values():
        assert m["test_mean_anomaly"] == pytest.approx(0.1) and m["test_prediction_precision"] == 1.0
    first_pass = [m["passes"][1]["mean_anomaly"] for m in metrics.values()]
    assert first_pass[0] == 1.0 and first_pass[1] == pytest.approx(0.1)  # one-shot learns in one pass


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("name: htm_permanence", "name: stdp", ["rule.name", "rule 'stdp' plugs into 'spiking_projection', not "
                                                         "'dendritic_segments'", "allowed here: htm_permanence"]),
    ("name: htm_permanence", "name: htm_permanense", ["rule.name", "did you mean 'htm_permanence'"]),
    ("columns: 256, active", "columns: 512, active", ["data", "the data has 512 columns but the model 256"]),
    ("activation_threshold: 6", "activation_treshold: 6", ["model.activation_treshold",
                                                           "did you mean 'activation_threshold'"]),
    ("min_threshold: 4", "min_threshold: 7", ["model.min_threshold", "min_threshold = 7 must lie in [1, "
                                                                      "activation_threshold = 6]"]),
    ("activation_threshold: 6", "activation_threshold: 6, max_synapses_per_segment: 5",
     ["model.max_synapses_per_segment", "must lie in [1, max_synapses_per_segment = 5]"]),
    ("max_new_synapses: 8", "max_new_synapses: 3", ["rule.max_new_synapses", "must be 0 (no learning) or lie in "
                                                                              "[min_threshold = 4, 255]"]),
    ("passes: 5", "passes: 0\ntest: false", ["passes", "nothing to present"]),
    ("columns: 256", "columns: 10000000000000", ["model.columns", "10000000000000 columns x 8 cells need about "
                                                                   "2.8e+06 GB"]),
])
def test_temporal_memory_bad_input(tmp_path, old, new, expected):
    message = error_for(tmp_path, TM.replace(old, new))
    for part in expected:
        assert part in message, (part, message)


def test_segment_rule_refused_on_a_spiking_projection(tmp_path):
    text = (ROOT / "experiments" / "stdp_song2000.yaml").read_text()
    assert "rule: {name: stdp" in text
    message = error_for(tmp_path, text.replace("rule: {name: stdp", "rule: {name: htm_permanence"))
    assert "rule 'htm_permanence' plugs into 'dendritic_segments', not 'spiking_projection'" in message
