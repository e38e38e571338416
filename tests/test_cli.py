"""The command line, end to end, in subprocesses (as a user runs it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).parents[1]


def biosim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "biosim.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_rules_listing(tmp_path):
    out = biosim("rules", cwd=tmp_path)
    assert out.returncode == 0
    for name in ("static", "stdp", "triplet_stdp", "rstdp"):
        assert f"{name}  (plugs into: spiking_projection" in out.stdout
    assert "tau_plus           20 ms" in out.stdout
    assert "visual_cortex_all_to_all_full" in out.stdout


def test_run_writes_a_new_directory_each_time_and_plot_redraws(tmp_path):
    args = ("run", str(ROOT / "experiments" / "stdp_song2000.yaml"), "duration=2 s", "--out", str(tmp_path / "runs"))
    first, second = biosim(*args, cwd=tmp_path), biosim(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    run_a, run_b = Path(first.stdout.strip()), Path(second.stdout.strip())
    assert run_a != run_b and run_a.exists() and run_b.exists()
    for name in ("config.yaml", "metrics.json", "recording.npz", "run.log", "raster.png", "weights.png"):
        assert (run_a / name).exists(), name
    metrics = json.loads((run_a / "metrics.json").read_text())
    assert metrics["complete"] and metrics["duration_s"] == 2.0
    assert metrics["populations"]["inputs"]["rate_hz"] > 10
    assert {"build_s", "jit_s", "sim_s", "wall_s"} <= set(metrics)
    assert metrics["weights"]["inputs_neuron"]["final"]["mean"] > 0
    config = yaml.safe_load((run_a / "config.yaml").read_text())
    assert config["duration"] == 2.0 and config["projections"]["inputs_neuron"]["rule"]["tau_plus"] == 0.02
    (run_a / "raster.png").unlink()
    redraw = biosim("plot", str(run_a), cwd=tmp_path)
    assert redraw.returncode == 0 and (run_a / "raster.png").exists()
    np.load(run_a / "recording.npz")


def test_bad_input_fails_fast_with_exit_code_2(tmp_path):
    out = biosim("run", str(ROOT / "experiments" / "cuba.yaml"), "populations.exc.model=lif_cubba",
                 "--out", str(tmp_path), cwd=tmp_path)
    assert out.returncode == 2
    assert "unknown neuron 'lif_cubba' (did you mean 'lif_cuba'?)" in out.stderr
    assert not any(tmp_path.iterdir()), "no run directory for an invalid experiment"
