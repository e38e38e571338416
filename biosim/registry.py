"""One registry for everything an experiment names: neuron models, rules, connectors, families, datasets,
plots, rule targets and the builders that turn a rule into what a backend runs.

Entries are registered by ``@register(namespace, name)`` where they are defined. Built-in entries are
discovered, not listed: the first lookup scans the sources of biosim's packages (``biosim``, ``biosim.rules``,
``biosim.networks``, ``biosim.physical``, recursively) for ``register("namespace", "name")`` calls and
imports a module only when one of its names is asked for, so a spiking run never imports torch.
Third-party packages add entries through the entry-point group ``biosim.plugins`` (modules that register on
import); an experiment file can load its own with ``plugins:``.

Builders are keyed ``"rule/backend"``: ``@register("builder", "stdp/numba")`` marks the function that turns
an ``stdp`` rule into Numba kernels; :func:`builder` finds it for a rule object.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from biosim.errors import unknown_choice

NAMESPACES = ("neuron", "rule", "connector", "family", "dataset", "plot", "target", "builder", "physics", "device")
PACKAGES = ("biosim", "biosim.rules", "biosim.networks", "biosim.physical")
PLUGIN_GROUP = "biosim.plugins"
_REGISTER_CALL = re.compile(r"""\bregister\(\s*["'](\w+)["']\s*,\s*["']([\w./-]+)["']\s*\)""")
_entries: dict[str, dict[str, Any]] = {ns: {} for ns in NAMESPACES}
_plugins_loaded = False


def register(namespace: str, name: str) -> Callable[[Any], Any]:
    """Class/function decorator: make ``obj`` available as ``name`` in ``namespace``."""
    if namespace not in _entries:
        raise ValueError(f"unknown registry namespace {namespace!r}; allowed: {', '.join(NAMESPACES)}")

    def decorate(obj: Any) -> Any:
        table = _entries[namespace]
        if name in table and table[name] is not obj:
            raise ValueError(f"{namespace} {name!r} is registered twice")
        table[name] = obj
        if namespace != "builder":
            obj.registry_name = name
        return obj

    return decorate


def package_roots() -> list[tuple[str, Path]]:
    """(package name, directory) of each built-in package."""
    roots = []
    for package in PACKAGES:
        module = importlib.import_module(package)
        roots.append((package, Path(module.__file__).resolve().parent))
    return roots


def module_files() -> dict[str, Path]:
    """Every built-in module, by dotted name -> source file (subpackages included)."""
    found: dict[str, Path] = {}
    for package, root in package_roots():
        for file in sorted(root.rglob("*.py")):
            parts = file.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join((package, *parts))
            # a sub-directory that installs as its own package (biosim/../rules) is reached through it
            found.setdefault(name, file)
    return found


@cache
def _index() -> dict[str, dict[str, str]]:
    """namespace -> name -> the built-in module whose source registers it."""
    index: dict[str, dict[str, str]] = {ns: {} for ns in NAMESPACES}
    for module, file in module_files().items():
        for namespace, name in _REGISTER_CALL.findall(file.read_text()):
            if namespace in index and module != __name__:
                index[namespace].setdefault(name, module)
    return index


def _load_plugins() -> None:
    global _plugins_loaded
    if not _plugins_loaded:
        _plugins_loaded = True
        for entry in entry_points(group=PLUGIN_GROUP):
            entry.load()  # the module registers its entries on import


def names(namespace: str) -> list[str]:
    """Every registered name of ``namespace``, built-in and plug-in."""
    for module in sorted(set(_index()[namespace].values())):
        importlib.import_module(module)
    _load_plugins()
    return sorted(_entries[namespace])


def get(namespace: str, name: str, *, key: str = "") -> Any:
    """Look ``name`` up, raising a ConfigError with the allowed names and a did-you-mean. Only the module
    that registers a built-in name is imported; everything is loaded before a name is called unknown."""
    table = _entries[namespace]
    if name not in table and name in _index()[namespace]:
        importlib.import_module(_index()[namespace][name])
    if name not in table:
        names(namespace)
    try:
        return table[name]
    except KeyError:
        raise unknown_choice(namespace, name, table, key=key) from None


def _rule_names(cls: type) -> list[str]:
    """Registry names along a rule class's hierarchy, the class's own first."""
    return [vars(c)["registry_name"] for c in cls.__mro__ if vars(c).get("registry_name")]


def builder(rule: Any, backend: str) -> Any:
    """The builder registered as ``"<rule>/<backend>"``, looked up along the rule's class hierarchy (a subclass
    inherits its parent's builders); a ConfigError names the backends that have one."""
    _load_plugins()
    keys = {*_entries["builder"], *_index()["builder"]}
    for name in _rule_names(type(rule)):
        if f"{name}/{backend}" in keys:
            return get("builder", f"{name}/{backend}")
    from biosim.errors import ConfigError

    raise ConfigError(f"rule {rule.registry_name!r} has no {backend!r} implementation; available: "
                      f"{', '.join(backends_of(type(rule))) or 'none'}")


def backends_of(cls: type) -> list[str]:
    """The backends with a builder for rule class ``cls`` (its own or inherited)."""
    _load_plugins()
    keys = {*_entries["builder"], *_index()["builder"]}
    names = set(_rule_names(cls))
    return sorted({key.split("/", 1)[1] for key in keys if key.split("/", 1)[0] in names})
