"""The README's Python API example, run as written, and the lazy top-level names."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import biosim as bs

ROOT = Path(__file__).parents[1]


def test_readme_python_example_runs(tmp_path):
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(import biosim as bs\n.*?)```", readme, re.S).group(1)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rate = float(out.stdout.split()[0])
    assert 3.0 < rate < 10.0  # the CUBA network's asynchronous state, not silence or runaway


def test_readme_layer_local_example_runs(tmp_path):
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(import numpy as np\nimport torch\n.*?)```", readme, re.S).group(1)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.split()[-1]) > 0.9  # forward-forward learned the digits


def test_top_level_names():
    assert bs.Network.__name__ == "Network" and bs.STDP.registry_name == "stdp"
    for name in bs.__all__:  # every exported name resolves to the object of that name
        assert getattr(bs, name).__name__ == name
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        bs.Nope  # noqa: B018
