"""Installation layout, plugin entry points and import hygiene, checked from outside the repository."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).parents[1]


def python(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **env})


def test_subpackages_install_under_biosim(tmp_path):
    out = python("""
        import importlib.util, biosim.rules.spiking_projection.stdp, biosim.networks.spiking.family, biosim.physical
        print(biosim.rules.spiking_projection.stdp.STDP.registry_name, importlib.util.find_spec("rules") is None,
              biosim.__file__ is not None, biosim.networks.__file__ is not None)
    """, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    stdp, no_top_level_rules, *regular = out.stdout.split()
    assert stdp == "stdp" and no_top_level_rules == "True", "no top-level 'rules' package may be installed"
    assert regular == ["True", "True"], "biosim must import as a regular package, not a namespace (reinstall?)"


def test_third_party_rule_via_entry_point(tmp_path):
    (tmp_path / "my_rules.py").write_text(textwrap.dedent("""
        from biosim.registry import register
        from biosim.engine.plasticity import SpikingRule

        @register("rule", "my_rule")
        class MyRule(SpikingRule):
            \"\"\"A third-party rule.\"\"\"
    """))
    info = tmp_path / "my_rules-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-rules\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[biosim.plugins]\nmy_rules = my_rules\n")
    out = subprocess.run([sys.executable, "-m", "biosim.cli", "rules"], capture_output=True, text=True,
                         cwd=tmp_path, env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert "my_rule  (plugs into: spiking_projection" in out.stdout


def test_fast_paths_do_not_import_torch_or_brian2(tmp_path):
    out = python(f"""
        import sys
        from biosim.cli import main
        main(["rules"])
        main(["run", "{ROOT / 'experiments' / 'cuba.yaml'}", "duration=0.05 s", "--out", "{tmp_path}"])
        print("heavy:", sorted(m for m in ("torch", "brian2", "sklearn") if m in sys.modules))
    """, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "heavy: []" in out.stdout


def test_every_source_folder_is_a_package_that_setup_installs():
    """A folder of modules without __init__.py would be left out of a regular (non-editable) install."""
    from setuptools import find_packages

    for root in ("biosim", "rules", "networks", "physical"):
        found = {ROOT / root / sub.replace(".", "/") for sub in find_packages(ROOT / root)} | {ROOT / root}
        folders = {p.parent for p in (ROOT / root).rglob("*.py") if "__pycache__" not in p.parts}
        assert folders <= found, sorted(map(str, folders - found))
