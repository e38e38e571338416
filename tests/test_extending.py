"""The README's "Extending biosim" examples, written out as printed and run from outside the repository."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).parents[1]


def write_examples(folder: Path) -> list[str]:
    """Write every code block of the section that starts with ``# <path>``; returns the paths written."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Extending biosim", 1)[1].split("\n## ", 1)[0]
    written = []
    for body in re.findall(r"```(?:python|yaml)\n(.*?)```", section, re.S):
        first, _, rest = body.partition("\n")
        path = folder / first.removeprefix("# ").strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rest)
        written.append(str(path.relative_to(folder)))
    return written


def biosim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-m", "biosim.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600)


def test_a_family_from_outside_the_repository(tmp_path):
    assert {"ou/__init__.py", "ou.yaml"} <= set(write_examples(tmp_path))
    out = biosim("run", "ou.yaml", "--out", "runs", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    run_dir = tmp_path / out.stdout.strip()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["complete"] and metrics["family"] == "ou"
    assert abs(metrics["stationary_std_mv"] - 2.0) < 0.2  # sigma = 2 mV: the process has its stationary spread
    for name in ("config.yaml", "results.npz", "run.log", "ou_traces.png"):
        assert (run_dir / name).exists(), name
    (run_dir / "ou_traces.png").unlink()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = biosim("plot", str(run_dir), cwd=elsewhere)  # the saved config finds the plug-in again
    assert out.returncode == 0, out.stderr
    assert (run_dir / "ou_traces.png").exists()


def causal_hebb_reference(pre_steps, pre_ids, post_steps, w, dt, tau, a_plus, a_minus, w_max):
    """The README's rule by hand: each pre spike takes a_minus, each post spike adds a_plus times the sum of
    exp(-lag / tau) over earlier (or same-step) spikes of each synapse's presynaptic neuron."""
    w = w.copy()
    events = sorted([(t, 0, i) for t, i in zip(pre_steps, pre_ids, strict=True)] + [(t, 1, -1) for t in post_steps])
    for t, kind, i in events:
        if kind == 0:
            w[i] = max(w[i] - a_minus, 0.0)
            continue
        for k in range(w.size):
            lags = t - pre_steps[(pre_ids == k) & (pre_steps <= t)]
            w[k] = min(w[k] + a_plus * np.exp(-lags * dt / tau).sum(), w_max)
    return w


def test_a_rule_from_outside_the_repository_runs_as_its_reference(tmp_path):
    assert {"causal_hebb.py", "causal_hebb.yaml"} <= set(write_examples(tmp_path))
    out = biosim("run", "causal_hebb.yaml", "--out", "runs", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = np.load(tmp_path / out.stdout.strip() / "recording.npz")
    dt = float(data["dt"])
    pre_steps = np.rint(data["spikes/inputs/t"] / dt).astype(int)
    post_steps = np.rint(data["spikes/cell/t"] / dt).astype(int)
    w = data["weights/inputs_cell/w"]
    assert post_steps.size > 20 and pre_steps.size > 500
    expected = causal_hebb_reference(pre_steps, data["spikes/inputs/i"], post_steps, w[0], dt, 20e-3, 5e-4, 5e-4,
                                     0.05)
    assert np.max(np.abs(w[-1] - expected)) <= 1e-12 * 0.05
    assert np.max(np.abs(w[-1] - w[0])) > 1e-3  # the weights really moved
    without_potentiation = causal_hebb_reference(pre_steps, data["spikes/inputs/i"], post_steps, w[0], dt, 20e-3,
                                                 0.0, 5e-4, 0.05)
    assert np.max(np.abs(w[-1] - without_potentiation)) > 1e-3  # both terms of the rule act
