"""The registry finds built-in entries by scanning sources, builders by (rule, backend), and the kernel cache
key covers every module a compiled loop can call."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from typing import ClassVar

import pytest

from biosim import registry
from biosim.errors import ConfigError
from biosim.targets import Rule


def test_the_source_index_matches_what_importing_every_module_registers():
    """A fresh process imports every built-in module; what they register is exactly what the scan found."""
    code = textwrap.dedent("""
        import importlib, json
        from biosim import registry
        index = registry._index()
        for module in registry.module_files():
            importlib.import_module(module)
        registered = {ns: sorted(registry._entries[ns]) for ns in registry.NAMESPACES}
        print(json.dumps([{ns: sorted(index[ns]) for ns in index}, registered]))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    index, registered = __import__("json").loads(out.stdout)
    assert index == registered
    assert {"spiking", "dendritic_segments", "temporal_memory", "sparsey", "layer_local", "graph_local"} <= set(
        index["family"])


class _Parent(Rule):
    """A rule with a builder for one backend."""

    plugs_into: ClassVar[str] = "spiking_projection"


class _Child(_Parent):
    """Inherits its parent's builders."""


def test_builders_are_found_per_backend_along_the_rule_hierarchy(monkeypatch):
    for namespace in ("rule", "builder"):  # entries registered here vanish after the test
        monkeypatch.setitem(registry._entries, namespace, dict(registry._entries[namespace]))
    registry.register("rule", "_test_parent")(_Parent)
    registry.register("rule", "_test_child")(_Child)
    registry.register("builder", "_test_parent/numba")(lambda rule, scale: ("numba", type(rule).__name__, scale))
    assert _Child().implementation("numba", scale=2) == ("numba", "_Child", 2)
    assert _Child.backends() == ["numba"]
    with pytest.raises(ConfigError, match=r"rule '_test_child' has no 'brian2' implementation; available: numba"):
        _Child().implementation("brian2")
    with pytest.raises(ConfigError, match=r"target 'spiking_projection' runs on numba, brian2, not 'torch'"):
        _Child().implementation("torch")


def test_kernel_cache_key_covers_modules_in_subfolders_of_plugins(tmp_path, monkeypatch):
    """The generated source imports a plug-in module that imports a kernel one folder down: editing that kernel
    (or moving it into another subfolder) changes the cache key, so stale machine code is never loaded."""
    from biosim.engine.codegen import _sources_digest, module_closure

    package = tmp_path / "tinykernels"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "api.py").write_text("from .sub.kern import step\n")
    kernel = package / "sub" / "kern.py"
    kernel.write_text("def step(x):\n    return x + 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    source = "from tinykernels.api import step as step\nfrom biosim.engine.kernels import deliver as deliver\n"
    files = module_closure(source)
    assert kernel in files and package / "api.py" in files
    assert any(f.name == "kernels.py" and f.parent.name == "engine" for f in files)
    assert not any("numpy" in f.parts or "numba" in f.parts for f in files)  # installed packages are versioned
    before = _sources_digest(source)
    kernel.write_text("def step(x):\n    return x + 2\n")
    assert _sources_digest(source) != before
    (package / "deeper").mkdir()
    (package / "deeper" / "__init__.py").write_text("")
    kernel.rename(package / "deeper" / "kern.py")
    (package / "api.py").write_text("from .deeper.kern import step\n")
    importlib.invalidate_caches()
    moved = module_closure(source)
    assert package / "deeper" / "kern.py" in moved and kernel not in moved


def test_kernel_cache_key_covers_installed_plugin_packages(tmp_path, monkeypatch):
    """A plug-in package installed like numpy (its files under an installed-packages folder) is still followed when
    it declares itself in the ``biosim.plugins`` entry-point group; an installed package that does not is not."""
    from biosim.engine import codegen

    for name in ("plugkern", "otherkern"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("def step(x):\n    return x\n")
    dist = tmp_path / "plugkern-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: plugkern\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[biosim.plugins]\nplugkern = plugkern\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    monkeypatch.setattr(codegen, "_outside_installed_packages", lambda origin: False)  # as if in site-packages
    files = codegen.module_closure("from plugkern import step\nfrom otherkern import step as other\n")
    assert tmp_path / "plugkern" / "__init__.py" in files
    assert tmp_path / "otherkern" / "__init__.py" not in files
