"""biosim: an event-driven, Numba-compiled simulator for spiking networks and local learning rules.

The common objects are available at top level and imported on first use::

    import biosim as bs
    net = bs.Network(dt=1e-4, seed=1)
    net.add_population("exc", 3200, bs.LIFCuba(t_ref="5 ms"), init={"v": bs.Uniform(-60e-3, -50e-3)})
"""

import importlib as _importlib

__version__ = "0.1.0"

from biosim import numba_cache as _numba_cache  # noqa: E402  (before any kernel module imports numba)

_numba_cache.pin()

_EXPORTS = {
    "biosim.engine.network": ("Network", "Uniform", "Normal"),
    "biosim.engine.simulation": ("Simulation", "Recording"),
    "biosim.engine.neurons": ("LIFCuba", "LIFCoba", "LIFDelta", "Izhikevich", "AdEx"),
    "biosim.engine.sources": ("PoissonSource", "SpikeGenerator"),
    "biosim.engine.connectors": ("AllToAll", "OneToOne", "FixedProbability", "FixedIndegree", "FixedOutdegree",
                                 "FromArrays"),
    "biosim.rules.spiking_projection.static": ("Static",),
    "biosim.rules.spiking_projection.stdp": ("STDP",),
    "biosim.rules.spiking_projection.triplet": ("TripletSTDP",),
    "biosim.rules.spiking_projection.rstdp": ("RewardSTDP",),
    "biosim.runner": ("run_experiment",),
    "biosim.config": ("load_experiment",),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> object:
    if name not in _WHERE:
        raise AttributeError(f"module 'biosim' has no attribute {name!r}")
    value = getattr(_importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names (``__all__``) and the dunders; subpackages (``biosim.engine``, ...) are imported by name."""
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})
