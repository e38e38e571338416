"""Numba's cache keys a function on its own file only; biosim's pinned cache folder keeps an edited dependency
from loading stale machine code."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

CALLER = """
from numba import njit
from tinydep.callee import value

@njit(cache=True)
def result():
    return value()
"""
RUN = """
import sys
sys.path.insert(0, {folder!r})
{pin}
from tinydep.caller import result
print(result())
"""
PIN = """
import os
from biosim import numba_cache  # pins the folder of biosim's own sources
numba_cache.PACKAGES = ("tinydep",)  # as if these were biosim's sources
del os.environ["NUMBA_CACHE_DIR"]
numba_cache.pin()
"""


def _run(folder: Path, pin: bool, cache: Path) -> str:
    env = {key: value for key, value in os.environ.items() if key not in ("NUMBA_CACHE_DIR", "BIOSIM_CACHE_DIR")}
    env["BIOSIM_CACHE_DIR"] = str(cache)
    if not pin:
        env["NUMBA_CACHE_DIR"] = str(cache / "plain")
    code = RUN.format(folder=str(folder), pin=PIN if pin else "")
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                         cwd=folder)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_an_edited_dependency_is_recompiled_with_the_pinned_cache_and_stale_without(tmp_path):
    package = tmp_path / "tinydep"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "caller.py").write_text(CALLER)
    callee = package / "callee.py"
    for pin in (False, True):
        callee.write_text("from numba import njit\n\n@njit(cache=True)\ndef value():\n    return 1\n")
        assert _run(tmp_path, pin, tmp_path / f"cache{pin}") == "1"
        callee.write_text("from numba import njit\n\n@njit(cache=True)\ndef value():\n    return 2\n")
        expected = "2" if pin else "1"  # plain Numba loads the caller's machine code with the old value inlined
        assert _run(tmp_path, pin, tmp_path / f"cache{pin}") == expected
