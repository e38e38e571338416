"""The README's "Extending biosim" examples, written out as printed and run from outside the repository."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

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
