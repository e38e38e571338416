"""One registry for everything an experiment names: neuron models, rules, connectors, networks (experiment
families), datasets, plots.

Entries are registered by decorators where they are defined. Built-in modules are imported lazily,
on lookup; third-party rules come in through the ``biosim.rules`` entry-point group.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from biosim.errors import unknown_choice

NAMESPACES = ("neuron", "rule", "connector", "network", "dataset", "plot")
_BUILTIN_MODULES = {
    "neuron": ("biosim.engine.neurons", "biosim.engine.sources"),
    "rule": ("biosim.rules.static", "biosim.rules.stdp", "biosim.rules.triplet", "biosim.rules.rstdp",
             "biosim.rules.dendritic", "biosim.rules.sparsey", "biosim.rules.forward", "biosim.rules.ccl",
             "biosim.rules.forward_gnn"),
    "connector": ("biosim.engine.connectors",),
    "network": ("biosim.networks.spiking", "biosim.networks.sdr_segments", "biosim.networks.temporal_memory_family",
                "biosim.networks.sparsey_family", "biosim.networks.layer_local", "biosim.networks.graph_local"),
    "dataset": ("biosim.data.sequences", "biosim.data.images", "biosim.data.graphs"),
    "plot": ("biosim.plotting", "biosim.networks.sdr_plots", "biosim.networks.layer_plots"),
}
_ENTRY_POINT_GROUPS = {"rule": "biosim.rules"}
_entries: dict[str, dict[str, Any]] = {ns: {} for ns in NAMESPACES}
_loaded: set[str] = set()


def register(namespace: str, name: str) -> Callable[[Any], Any]:
    """Class/function decorator: make ``obj`` available as ``name`` in ``namespace``."""

    def decorate(obj: Any) -> Any:
        table = _entries[namespace]
        if name in table and table[name] is not obj:
            raise ValueError(f"{namespace} {name!r} is registered twice")
        table[name] = obj
        obj.registry_name = name
        return obj

    return decorate


def _load(namespace: str) -> None:
    if namespace in _loaded:
        return
    _loaded.add(namespace)
    for module in _BUILTIN_MODULES[namespace]:
        importlib.import_module(module)
    group = _ENTRY_POINT_GROUPS.get(namespace)
    if group:
        for entry in entry_points(group=group):
            entry.load()  # the module registers its entries on import


def names(namespace: str) -> list[str]:
    _load(namespace)
    return sorted(_entries[namespace])


def get(namespace: str, name: str, *, key: str = "") -> Any:
    """Look ``name`` up, raising a ConfigError with the allowed names and a did-you-mean. Built-in
    modules are imported in order only until the name appears (a spiking run never imports the SDR or
    torch families); everything, entry points included, is loaded before a name is called unknown."""
    table = _entries[namespace]
    for module in _BUILTIN_MODULES[namespace]:
        if name in table:
            break
        importlib.import_module(module)
    if name not in table:
        _load(namespace)
    try:
        return _entries[namespace][name]
    except KeyError:
        raise unknown_choice(namespace, name, _entries[namespace], key=key) from None
