"""Where Numba keeps biosim's compiled machine code.

Numba's ``cache=True`` keys a compiled function on its own source file alone, not on the functions it calls
from other modules: after an edit of ``biosim/streams.py``, say, every cached kernel that inlines its samplers
would keep loading the old machine code. biosim therefore points Numba's cache at a folder named after a hash of
all of its own sources (and Numba's version), so that any change to biosim compiles afresh and nothing stale is
ever loaded. ``NUMBA_CACHE_DIR`` set by the user wins. Generated fused kernels are keyed more finely still, on
their own import closure (``biosim.engine.codegen``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from pathlib import Path

PACKAGES = ("biosim", "biosim.rules", "biosim.networks", "biosim.physical")


def cache_root() -> Path:
    """biosim's cache folder: ``$BIOSIM_CACHE_DIR`` or ``~/.cache/biosim``."""
    return Path(os.environ.get("BIOSIM_CACHE_DIR") or Path.home() / ".cache" / "biosim")


def sources_digest() -> str:
    """A hash of every source file of biosim's four packages and of Numba's version (its ``_version.py``)."""
    numba = importlib.util.find_spec("numba")
    digest = hashlib.sha256(Path(numba.origin).with_name("_version.py").read_bytes())
    folders = []
    for package in PACKAGES:
        spec = importlib.util.find_spec(package)
        folders += [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    for folder in dict.fromkeys(folders):
        for file in sorted(folder.rglob("*.py")):
            digest.update(str(file.relative_to(folder)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def pin() -> None:
    """Point Numba's cache at the folder of this exact set of sources, unless the user chose one."""
    if "NUMBA_CACHE_DIR" in os.environ:
        return
    folder = str(cache_root() / "numba" / sources_digest())
    os.environ["NUMBA_CACHE_DIR"] = folder
    if "numba" in sys.modules:  # imported before biosim: set the live configuration too
        sys.modules["numba"].config.CACHE_DIR = folder
