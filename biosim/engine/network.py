"""The model description: populations, projections, drives and monitors (no execution here).

Everything is stored in SI units. A YAML experiment and a Python script build the same objects through the same
methods, and every check that needs no compute happens here, once, as the description is assembled: names
(models, connectors, rules, populations, state variables, targets), sizes a connector cannot meet, rate x dt
outside [0, 1), impossible delays and initial weights, and (``check_memory``) what the network will allocate. An
error is a ConfigError naming the key, e.g. ``projections.exc_exc.delay``; a network built for an experiment file
holds its :class:`~biosim.config.Source`, so the same error also names the file and line. Quantities are SI
numbers, text with a unit (``"1.5 ms"``) or Brian2 quantities; registry entries are objects or names::

    net = Network(dt=1e-4, seed=1)
    net.add_population("exc", 3200, LIFCuba(e_l="-49 mV"), init={"v": Uniform(-60e-3, -50e-3)})
    net.connect("exc", "exc", target="ge", connector="fixed_probability", weight="1.62 mV")
    net.record_spikes("exc")
    result = Simulation(net).run("1 s")
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from biosim.config import Source, instantiate
from biosim.engine.connectors import Connector
from biosim.engine.neurons import MAX_STEPS
from biosim.engine.plasticity import SPIKING_PROJECTION
from biosim.engine.sources import PoissonSource, SpikeGenerator
from biosim.errors import ConfigError, did_you_mean
from biosim.memory import available_memory
from biosim.params import si_number
from biosim.rules.spiking_projection.static import Static
from biosim.targets import Rule
from biosim.units import format_quantity

MAX_NEURONS = 2**31 - 1  # neuron indices are int32 in the kernel and in spike monitors
MAX_PLASTIC_SYNAPSES = 2**31 - 1  # a plastic projection's post-to-synapse index holds int32 synapse ids
SPIKE_BUFFER = 1 << 20  # per-chunk spike-monitor buffer (entries) of a population, at least 2 n
_NORMAL_BOUNDS = "; bound the normal: {normal: [mean, std, low, high]} or Normal(mean, std, low, high)"


@dataclass(frozen=True)
class Uniform:
    """Values drawn uniformly from [low, high) (SI units of the quantity they stand for)."""

    low: float
    high: float

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` float64 draws from ``rng``."""
        return rng.uniform(self.low, self.high, n)


@dataclass(frozen=True)
class Normal:
    """Values drawn from N(mean, std^2) limited to [low, high] (SI units of the quantity they stand for): clipped,
    or with ``redraw`` drawn again until inside (the truncated normal; NEST's ``redraw``)."""

    mean: float
    std: float
    low: float = -np.inf
    high: float = np.inf
    redraw: bool = False

    def mass(self) -> float:
        """The probability of [low, high] under N(mean, std^2)."""
        if self.std == 0:
            return float(self.low <= self.mean <= self.high)
        z = np.array([self.low, self.high]) - self.mean
        return float(0.5 * (math.erf(z[1] / (self.std * math.sqrt(2))) - math.erf(z[0] / (self.std * math.sqrt(2)))))

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` float64 draws from ``rng``, clipped to [low, high] or redrawn until inside."""
        draws = rng.normal(self.mean, self.std, n)
        if not self.redraw:
            return np.clip(draws, self.low, self.high)
        outside = np.flatnonzero((draws < self.low) | (draws > self.high))
        while outside.size:  # a mass of at least MIN_REDRAW_MASS (checked by Network.value) ends this quickly
            draws[outside] = rng.normal(self.mean, self.std, outside.size)
            outside = outside[(draws[outside] < self.low) | (draws[outside] > self.high)]
        return draws


MIN_REDRAW_MASS = 0.01  # a truncated normal keeps at least this fraction of its draws


Value = float | Uniform | Normal | np.ndarray


_CHUNK = 1 << 20  # draws per call when realizing a distribution into a narrower array


def realize(value: Value, rng: np.random.Generator, n: int, dtype: Any = np.float64,
            transform: Any = None) -> np.ndarray:
    """Turn a constant, a distribution or an array (sizes checked when the network was described) into ``n``
    values of ``dtype``, after ``transform`` (a function of float64 arrays, e.g. seconds to steps) if given. A
    distribution is drawn in chunks of 2^20 into the result, so the build never holds the float64 draws of all
    synapses at once (the same values as one call: NumPy's generators continue the stream)."""
    if isinstance(value, Uniform | Normal):
        out = np.empty(n, dtype)
        for start in range(0, n, _CHUNK):
            draws = value.sample(rng, min(_CHUNK, n - start))
            out[start:start + draws.size] = draws if transform is None else transform(draws)
        return out
    array = np.array(value, dtype=np.float64)  # a copy: learning must never write into the caller's array
    array = np.full(n, float(array)) if array.ndim == 0 else array
    return (array if transform is None else transform(array)).astype(dtype, copy=False)


def support(value: Value) -> tuple[float, float]:
    """The smallest and largest value ``value`` can take (-inf/inf for an unbounded distribution)."""
    if isinstance(value, Uniform):
        return value.low, value.high
    if isinstance(value, Normal):
        return value.low, value.high
    array = np.asarray(value, dtype=np.float64)
    return (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def _gb(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.3g} GB" if n_bytes >= 1e8 else f"{n_bytes / 1e6:.3g} MB"


@dataclass
class Population:
    """``n`` neurons (or spike sources) of one model; ``init`` maps state variables to values (SI)."""

    name: str
    n: int
    model: Any  # a NeuronModel, PoissonSource or SpikeGenerator
    init: dict[str, Value] = field(default_factory=dict)
    current_steps: list[tuple[float, float]] = field(default_factory=list)  # (time s, i_ext SI)
    timed_input: np.ndarray | None = None  # float64[steps, n]: i_ext (SI) of every neuron in each step

    @property
    def kind(self) -> str:
        """``neuron``, ``poisson`` or ``generator``."""
        return self.model.kind


@dataclass
class Projection:
    """Synapses from ``pre`` to ``post`` adding ``weight`` (unit of ``target``) after ``delay`` (s)."""

    name: str
    pre: str
    post: str
    target: str
    connector: Connector
    weight: Value
    delay: Value = 0.0
    rule: Rule = field(default_factory=Static)
    modulator: str | None = None
    device: Any = None  # holds the weights (a registry 'device' entry with ``synapses``); None: ideal


@dataclass
class PoissonDrive:
    """``n`` independent Poisson inputs of ``rate`` (Hz) per neuron, each spike adding ``weight`` (unit of
    ``target``) to ``target`` (Brian2's PoissonInput): a binomial count per neuron and step. ``stream`` names its
    random stream (``drive/<population>/<target>``), so adding a drive elsewhere leaves its draws unchanged."""

    population: str
    target: str
    n: int
    rate: float
    weight: float
    stream: str = ""


@dataclass
class StateRecord:
    """Record ``variables`` of neurons ``indices`` of ``population`` every ``every`` seconds."""

    population: str
    variables: list[str]
    indices: list[int]
    every: float  # s


@dataclass
class WeightRecord:
    """Snapshot at most ``max_synapses`` weights of ``projection`` every ``every`` seconds."""

    projection: str
    every: float  # s
    max_synapses: int = 10_000


def whole_steps(value: float, dt: float, minimum: int = 1) -> int:
    """``value`` (s) as a whole number (at least ``minimum``) of steps of ``dt`` (s); a ValueError naming the two
    nearest valid values when it is not one beyond float tolerance."""
    steps = value / dt
    if steps < minimum * (1 - 1e-9):
        raise ValueError(f"must be >= {format_quantity(minimum * dt, 'time')} ({minimum} step{'s' * (minimum != 1)} "
                         f"of dt = {format_quantity(dt, 'time')}), got {format_quantity(value, 'time')}")
    k = round(steps)
    if abs(steps - k) > 1e-9 * max(steps, 1):
        low = math.floor(steps)
        raise ValueError(f"must be a whole number of steps of dt = {format_quantity(dt, 'time')}: "
                         f"{format_quantity(value, 'time')} is not; use {format_quantity(low * dt, 'time')} or "
                         f"{format_quantity((low + 1) * dt, 'time')}")
    return k


def check_duration(duration: Any, dt: float, source: Source | None = None, loc: tuple = ("duration",)) -> float:
    """A run length in seconds (a number, text with a unit or a Brian2 quantity): a whole number of steps of
    ``dt`` (at least one) within the engine's int32 step counter. Returns it in seconds."""
    source = source or Source()
    try:  # a number is SI (an experiment's duration was read by its schema)
        duration = si_number(float(duration) if _is_number(duration) else duration, "time")
        steps = whole_steps(duration, dt)
    except ValueError as err:
        raise source.error(str(err), loc) from None
    check_run_length(steps, dt, source, loc)
    return duration


def check_run_length(steps: int, dt: float, source: Source | None = None, loc: tuple = ("duration",)) -> None:
    """A run (total steps so far plus the requested ones) must fit the engine's int32 step counter."""
    if steps > MAX_STEPS:
        raise (source or Source()).error(
            f"a run is limited to {MAX_STEPS} steps ({MAX_STEPS * dt / 3600:.1f} h at dt = {dt:g} s); got {steps}",
            loc)


@dataclass
class Network:
    """A spiking network description: ``dt`` (s), ``seed`` (every random stream derives from it), ``max_spikes``
    (per population: the spike monitor keeps at most this many, 8 B each; rates and CV come from per-neuron
    counters that are never truncated). ``source`` points errors at an experiment file's lines; ``keys`` gives the
    file's key of ``dt``, ``seed`` or ``max_spikes`` where it is not the top-level one."""

    dt: float = 1e-4
    seed: int = 0
    populations: dict[str, Population] = field(default_factory=dict)
    projections: dict[str, Projection] = field(default_factory=dict)
    drives: list[PoissonDrive] = field(default_factory=list)
    spike_records: list[str] = field(default_factory=list)
    rate_records: list[str] = field(default_factory=list)
    state_records: list[StateRecord] = field(default_factory=list)
    weight_records: list[WeightRecord] = field(default_factory=list)
    max_spikes: int = 50_000_000
    source: Source = field(default_factory=Source, repr=False, compare=False)
    keys: dict[str, tuple] = field(default_factory=dict, repr=False, compare=False)  # where a file holds dt, ...

    def __post_init__(self) -> None:
        key = {name: self.keys.get(name, (name,)) for name in ("dt", "seed", "max_spikes")}
        self.dt = self.quantity(float(self.dt) if _is_number(self.dt) else self.dt, "time", key["dt"])
        if not self.dt > 0:
            raise self.error(f"must be > 0, got {format_quantity(self.dt, 'time')}", *key["dt"])
        for name, low in (("seed", 0), ("max_spikes", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                raise self.error(f"must be an integer >= {low}, got {value!r}", *key[name])

    # -- errors and values: one wording for Python and for experiment files ---------------------------
    def error(self, message: str, *loc: Any) -> ConfigError:
        """A ConfigError at key ``loc`` (with the file and line when the network comes from a file)."""
        return self.source.error(message, tuple(loc))

    def unknown(self, kind: str, name: Any, allowed: Any, *loc: Any, context: str = "") -> ConfigError:
        """``unknown <kind> 'x'<context> (did you mean 'y'?); allowed: a, b`` at ``loc``."""
        allowed = [str(a) for a in allowed]
        return self.error(f"unknown {kind} {name!r}{context}{did_you_mean(str(name), allowed)}; allowed: "
                          f"{', '.join(allowed) or '(none)'}", *loc)

    def quantity(self, raw: Any, dimension: str, loc: tuple) -> float:
        """One finite SI float of ``dimension`` from a number (SI, any NumPy number), text with a unit or a Brian2
        quantity."""
        try:
            return si_number(raw, dimension)
        except ValueError as err:
            raise self.error(str(err), *loc) from None

    def value(self, raw: Any, dimension: str, loc: tuple) -> Value:
        """A constant, a :class:`Uniform`/:class:`Normal`, ``{uniform: [low, high]}``, ``{normal: [mean, std]}``
        (or ``[mean, std, low, high]``, clipped), ``{truncated_normal: [mean, std, low, high]}`` (redrawn), a list
        or an array (SI, read as is), in ``dimension``."""
        if hasattr(raw, "dim"):  # a Brian2 quantity (an ndarray subclass holding SI values)
            if np.ndim(raw) == 0:
                return self.quantity(raw, dimension, loc)
            self.quantity(raw.reshape(-1)[:1].sum(), dimension, loc)  # checks the dimension
            raw = np.asarray(raw)
        if isinstance(raw, np.ndarray):
            if raw.dtype.kind not in "iuf":
                raise self.error(f"expected an array of numbers (SI), got dtype {raw.dtype}", *loc)
            array = raw.astype(np.float64)
            if not np.isfinite(array).all():
                raise self.error("values must be finite", *loc)
            return float(array) if array.ndim == 0 else array
        if isinstance(raw, dict):
            (kind, bounds), = raw.items() if len(raw) == 1 else ((None, None),)
            sizes = {"uniform": (2,), "normal": (2, 4), "truncated_normal": (4,)}
            if kind not in sizes:
                raise self.error("a distribution is written {uniform: [low, high]}, {normal: [mean, std]} (or "
                                 "{normal: [mean, std, low, high]}, clipped) or {truncated_normal: [mean, std, low, "
                                 "high]} (redrawn)", *loc)
            if not isinstance(bounds, list | tuple) or len(bounds) not in sizes[kind]:
                raise self.error(f"{kind} takes a list of {' or '.join(map(str, sizes[kind]))} values", *loc)
            numbers = [self._bound(x, dimension, loc) if k >= 2 else self.quantity(x, dimension, loc)
                       for k, x in enumerate(bounds)]
            if kind == "uniform":
                if not numbers[0] <= numbers[1]:
                    raise self.error("uniform needs low <= high", *loc)
                return Uniform(*numbers)
            if numbers[1] < 0 or (len(numbers) == 4 and not numbers[2] <= numbers[3]):
                raise self.error(f"{kind} needs std >= 0 and low <= high", *loc)
            raw = Normal(*numbers, redraw=kind == "truncated_normal")
        if isinstance(raw, Uniform | Normal):
            finite = (raw.low, raw.high) if isinstance(raw, Uniform) else (raw.mean, raw.std)
            if not all(_is_number(x) and math.isfinite(x) for x in finite):
                raise self.error(f"{'low and high' if isinstance(raw, Uniform) else 'mean and std'} must be finite "
                                 f"SI numbers, got {raw}", *loc)
            if isinstance(raw, Normal) and raw.redraw and not raw.mass() >= MIN_REDRAW_MASS:
                raise self.error(f"a truncated normal must keep at least {MIN_REDRAW_MASS:.0%} of its draws; "
                                 f"[low, high] holds {raw.mass():.2g} of N(mean, std^2)", *loc)
            return raw
        if isinstance(raw, list | tuple):
            return np.array([self.quantity(x, dimension, (*loc, k)) for k, x in enumerate(raw)], np.float64)
        return self.quantity(raw, dimension, loc)

    def _bound(self, raw: Any, dimension: str, loc: tuple) -> float:
        """A normal's low or high: a quantity, or ``-inf``/``inf`` (also YAML's ``-.inf``/``.inf``) for none."""
        if isinstance(raw, str) and raw.strip() in ("inf", "+inf", "-inf"):
            return float(raw)
        if isinstance(raw, float) and math.isinf(raw):
            return float(raw)
        return self.quantity(raw, dimension, loc)

    def entry(self, spec: Any, namespace: str, loc: tuple, context: dict | None = None,
              kind: tuple[str, str] | None = None) -> Any:
        """A registry entry given as an object, a name (``"all_to_all"``) or ``{name: ..., param: ...}``."""
        if isinstance(spec, str | dict):
            return instantiate(spec, namespace, self.source, loc, context, kind=kind)
        return spec

    # -- building ------------------------------------------------------------------------------------
    def add_population(self, name: str, n: int, model: Any, init: dict[str, Any] | None = None) -> str:
        """Add ``n`` neurons of ``model`` (an object or a registry name); ``init`` maps state variables to
        values (units of the variable). Returns the name."""
        loc = ("populations", name)
        if name in self.populations:
            raise self.error(f"population {name!r} already exists", *loc)
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 0 < n <= MAX_NEURONS:
            raise self.error(f"needs an integer in [1, {MAX_NEURONS}], got {n!r}", *loc, "n")
        model = self.entry(model, "neuron", (*loc, "model"))
        if not hasattr(model, "kind"):
            raise self.error(f"expected a neuron model or spike source, got {type(model).__name__}", *loc, "model")
        if not isinstance(init or {}, dict):
            raise self.error("init maps state variables to values", *loc, "init")
        values = {}
        for var, raw in (init or {}).items():
            if var not in model.state_vars:
                raise self.unknown("state variable", var, model.state_vars, *loc, "init", var)
            values[var] = self.value(raw, model.state_vars[var], (*loc, "init", var))
            if isinstance(values[var], np.ndarray) and values[var].shape != (n,):
                raise self.error(f"expected {n} values, got {values[var].size}", *loc, "init", var)
        if model.kind == "neuron":
            try:
                whole_steps(model.t_ref, self.dt, minimum=0)
            except ValueError as err:
                raise self.error(str(err), *loc, "params", "t_ref") from None
        if model.kind == "poisson":
            self._check_probability(model.rate * self.dt, *loc, "params", "rate")
        elif model.kind == "generator":
            try:
                model.check(self.dt, n)
            except ValueError as err:
                raise self.error(str(err), *loc, "params") from None
        self.populations[name] = Population(name, int(n), model, values)
        return name

    def connect(self, pre: str, post: str, *, target: str, connector: Any, weight: Any, delay: Any = 0.0,
                rule: Any = None, modulator: str | None = None, name: str | None = None, device: Any = None) -> str:
        """Connect ``pre`` to ``post``: each synapse adds ``weight`` (unit of ``target``: mV, nS, pA, ...) to
        ``target`` after ``delay`` (s; 0 or a multiple of dt). ``connector`` and ``rule`` are objects or registry
        names (default rule: static); ``device`` (a registry 'device' entry) holds a plastic projection's weights,
        its conductance window mapped onto the rule's bounds. Returns the projection's name (default
        ``<pre>_to_<post>``)."""
        name = name or f"{pre}_to_{post}"
        loc = ("projections", name)
        if name in self.projections:
            raise self.error(f"projection {name!r} already exists; give it a name", *loc)
        for role, pop in (("pre", pre), ("post", post)):
            if pop not in self.populations:
                raise self.unknown("population", pop, self.populations, *loc, role)
        post_model = self.populations[post].model
        if target not in post_model.synaptic_targets:
            raise self.unknown("target", target, post_model.synaptic_targets, *loc, "target",
                               context=f" for model {post_model.registry_name!r}")
        dimension = post_model.state_vars[target]
        connector = self.entry(connector, "connector", (*loc, "connector"))
        if not isinstance(connector, Connector):
            raise self.error(f"expected a connector, got {type(connector).__name__}", *loc, "connector")
        n_pre, n_post = self.populations[pre].n, self.populations[post].n
        try:
            connector.check(n_pre, n_post, pre == post)
        except ValueError as err:
            raise self.error(str(err), *loc, "connector") from None
        rule = self.entry(rule if rule is not None else Static(), "rule", (*loc, "rule"),
                          {"weight_dimension": dimension}, kind=("plugs_into", SPIKING_PROJECTION))
        if getattr(rule, "plugs_into", None) != SPIKING_PROJECTION:
            raise self.error(f"rule {getattr(rule, 'registry_name', rule)!r} plugs into "
                             f"{getattr(rule, 'plugs_into', None)!r}, not into a spiking projection", *loc, "rule")
        try:
            rule.check_weight_dimension(dimension)
        except ValueError as err:
            raise self.error(str(err), *loc, "rule") from None
        if rule.needs_modulator and modulator not in self.populations:
            raise self.unknown("modulator population", modulator, self.populations, *loc, "modulator")
        weight = self.value(weight, dimension, (*loc, "weight"))
        delay = self.value(delay, "time", (*loc, "delay"))
        count = connector.synapse_count(n_pre, n_post, pre == post)
        for key, value in (("weight", weight), ("delay", delay)):
            if isinstance(value, np.ndarray) and value.ndim and value.shape != (count,):
                raise self.error(f"expected one value per synapse ({count}), got {value.size}" if count is not None else
                                 f"a list of values needs a connector with a known synapse count "
                                 f"({connector.registry_name} draws it)", *loc, key)
        expected = connector.expected_synapses(n_pre, n_post, pre == post)
        if rule.plastic and expected is not None and expected > MAX_PLASTIC_SYNAPSES:
            raise self.error(f"a plastic projection holds at most {MAX_PLASTIC_SYNAPSES} synapses (int32 synapse ids); "
                             f"this connector makes about {expected:.4g}: split the projection or use fewer synapses",
                             *loc, "connector")
        bounds = rule.weight_bounds()
        low, high = support(weight)
        if bounds is not None and not bounds[0] <= low <= high <= bounds[1]:
            raise self.error(f"initial weights must lie within the rule's bounds [w_min, w_max] = "
                             f"[{format_quantity(bounds[0], dimension)}, {format_quantity(bounds[1], dimension)}]; "
                             f"got [{format_quantity(low, dimension)}, {format_quantity(high, dimension)}]"
                             + _NORMAL_BOUNDS * (not np.isfinite(low) or not np.isfinite(high)), *loc, "weight")
        self._check_delay(delay, (*loc, "delay"))
        if device is not None:
            device = self.entry(device, "device", (*loc, "device"))
            if not hasattr(device, "synapses"):
                raise self.error(f"{type(device).__name__} cannot hold synaptic weights (it has no 'synapses')",
                                 *loc, "device")
            if not rule.plastic or bounds is None:
                raise self.error(f"a device maps its conductance window onto the rule's weight bounds; rule "
                                 f"{rule.registry_name!r} {'has none' if rule.plastic else 'is not plastic'}",
                                 *loc, "device")
        self.projections[name] = Projection(name, pre, post, target, connector, weight, delay, rule, modulator,
                                            device)
        return name

    def add_poisson_drive(self, population: str, target: str, n: int, rate: Any, weight: Any) -> None:
        """``n`` independent Poisson inputs of ``rate`` (Hz) per neuron of ``population``, each spike adding
        ``weight`` (unit of ``target``) to ``target``."""
        loc = ("populations", population, "drive")
        if population not in self.populations:
            raise self.unknown("population", population, self.populations, *loc)
        model = self.populations[population].model
        if target not in model.synaptic_targets:
            raise self.unknown("target", target, model.synaptic_targets, *loc, "target")
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n <= 0:
            raise self.error(f"must be an integer > 0, got {n!r}", *loc, "n")
        rate = self.quantity(rate, "frequency", (*loc, "rate"))
        self._check_probability(rate * self.dt, *loc, "rate")
        weight = self.quantity(weight, model.state_vars[target], (*loc, "weight"))
        key = f"drive/{population}/{target}"
        same = sum(d.population == population and d.target == target for d in self.drives)
        self.drives.append(PoissonDrive(population, target, int(n), rate, weight, key + (f"/{same}" if same else "")))

    def add_current_steps(self, population: str, steps: list[tuple[Any, Any]]) -> None:
        """From each ``(time s, value)`` on, every neuron of ``population`` has ``i_ext`` = value (unit of the
        model's ``i_ext``)."""
        loc = ("populations", population, "current")
        if population not in self.populations:
            raise self.unknown("population", population, self.populations, *loc)
        pop = self.populations[population]
        if "i_ext" not in pop.model.state_vars:
            raise self.error(f"model {pop.model.registry_name!r} takes no current", *loc)
        parsed = [(self.quantity(at, "time", (*loc, k, "at")),
                   self.quantity(value, pop.model.state_vars["i_ext"], (*loc, k, "value")))
                  for k, (at, value) in enumerate(steps)]
        if any(at < 0 for at, _ in parsed):
            raise self.error("step times must be >= 0", *loc)
        if pop.timed_input is not None:
            raise self.error(f"population {population!r} already has a timed input; give it one or the other", *loc)
        pop.current_steps.extend(sorted(parsed))

    def add_timed_input(self, population: str, values: Any) -> None:
        """Replay ``values`` (steps x n, unit of the model's ``i_ext``; SI floats or a Brian2 quantity) as the
        ``i_ext`` of every neuron of ``population``: in step ``t`` neuron ``i`` gets ``values[t, i]``; after the last
        row that row holds (Brian2's ``TimedArray``). The same input replays on every ``Simulation.restart``."""
        loc = ("populations", population, "timed_input")
        if population not in self.populations:
            raise self.unknown("population", population, self.populations, *loc)
        pop = self.populations[population]
        if pop.kind != "neuron" or "i_ext" not in pop.model.state_vars:
            raise self.error(f"model {pop.model.registry_name!r} takes no current", *loc)
        if pop.current_steps or pop.timed_input is not None:
            raise self.error(f"population {population!r} already has an input; give it one timed input or steps",
                             *loc)
        values = self.value(values, pop.model.state_vars["i_ext"], loc)
        if not isinstance(values, np.ndarray) or values.ndim != 2 or values.shape[1] != pop.n or not len(values):
            raise self.error(f"expected an array of shape (steps, {pop.n}), got shape {np.shape(values)}", *loc)
        if not np.isfinite(values).all():
            raise self.error("timed input values must be finite", *loc)
        pop.timed_input = np.ascontiguousarray(values, dtype=np.float64)

    # -- monitors ------------------------------------------------------------------------------------
    def record_spikes(self, *populations: str) -> None:
        """Keep every spike (time s, index) of these populations, up to ``max_spikes`` each."""
        self._record(self.spike_records, populations, "spikes")

    def record_rates(self, *populations: str) -> None:
        """Record the population rate (Hz, per step) of these neuron populations."""
        self._record(self.rate_records, populations, "rates")

    def _record(self, records: list[str], populations: tuple[str, ...], key: str) -> None:
        for pop in populations:
            if pop not in self.populations:
                raise self.unknown("population", pop, self.populations, "monitors", key)
        records.extend(p for p in populations if p not in records)

    def record_state(self, population: str, variables: list[str], indices: list[int], every: Any = None) -> None:
        """Record ``variables`` (SI) of neurons ``indices`` of ``population`` every ``every`` s (default: dt)."""
        loc = ("monitors", "state", len(self.state_records))
        if population not in self.populations:
            raise self.unknown("population", population, self.populations, *loc, "population")
        model = self.populations[population].model
        for var in variables:
            if var not in model.state_vars:
                raise self.unknown("state variable", var, model.state_vars, *loc, "variables")
        n = self.populations[population].n
        if any(not 0 <= i < n for i in indices):
            raise self.error(f"must lie in [0, {n}) for population {population!r}", *loc, "indices")
        every = self.dt if every is None else self._every(every, (*loc, "every"))
        self.state_records.append(StateRecord(population, list(variables), [int(i) for i in indices], every))

    def record_weights(self, projection: str, every: Any = None, max_synapses: int = 10_000) -> None:
        """Snapshot at most ``max_synapses`` weights (unit of the target) of ``projection`` every ``every`` s
        (default: the whole number of steps nearest 1 s)."""
        loc = ("monitors", "weights", len(self.weight_records))
        if projection not in self.projections:
            raise self.unknown("projection", projection, self.projections, *loc, "projection")
        if isinstance(max_synapses, bool) or not isinstance(max_synapses, int | np.integer) or max_synapses < 1:
            raise self.error(f"must be an integer >= 1, got {max_synapses!r}", *loc, "max_synapses")
        every = max(1, round(1.0 / self.dt)) * self.dt if every is None else self._every(every, (*loc, "every"))
        self.weight_records.append(WeightRecord(projection, every, int(max_synapses)))

    def recorded_dimensions(self) -> dict[str, str]:
        """The dimension of each recorded state ("pop.var") and of each recorded projection's weights (the
        variable its weight targets), for the figures' units."""
        dimensions = {f"{r.population}.{var}": self.populations[r.population].model.state_vars[var]
                      for r in self.state_records for var in r.variables}
        for r in self.weight_records:
            proj = self.projections[r.projection]
            dimensions[r.projection] = self.populations[proj.post].model.state_vars[proj.target]
        return dimensions

    # -- checks --------------------------------------------------------------------------------------
    def _every(self, raw: Any, loc: tuple) -> float:
        every = self.quantity(raw, "time", loc)
        try:
            whole_steps(every, self.dt)
        except ValueError as err:
            raise self.error(str(err), *loc) from None
        return every

    def _check_probability(self, p: float, *loc: Any) -> None:
        """A Poisson spike probability per step (rate x dt) must lie in [0, 1)."""
        if not 0.0 <= p < 1.0:
            raise self.error(f"rate x dt = {p:g} must lie in [0, 1); lower the rate or dt", *loc)

    def _check_delay(self, delay: Value, loc: tuple) -> None:
        """Delays are 0 (this step) or at least dt; given values must be multiples of dt (sampled ones are rounded
        to the nearest step, at least one, so a distribution must lie in [dt/2, ...), as NEST's microcircuit
        draws them); the largest must fit int32 step storage."""
        dt = self.dt
        low, high = support(delay)
        shown = format_quantity(dt, "time")
        if isinstance(delay, Uniform | Normal):
            if low < dt / 2 * (1 - 1e-9):
                raise self.error(f"a sampled delay is rounded to the nearest multiple of dt = {shown} (at least one "
                                 f"step); its lower bound must be >= dt/2, got {format_quantity(low, 'time')}"
                                 + _NORMAL_BOUNDS * (low == -np.inf), *loc)
        else:
            if low < 0:
                raise self.error(f"delays must be >= 0, got {format_quantity(low, 'time')}", *loc)
            values = np.ravel(np.asarray(delay, dtype=np.float64))
            steps = values / dt
            short = values[(values > 0) & (steps < 1 - 1e-9)]
            if short.size:
                raise self.error(f"a delay must be 0 or at least dt = {shown}, got {format_quantity(short[0], 'time')}",
                                 *loc)
            off = values[np.abs(steps - np.rint(steps)) > 1e-9 * np.maximum(steps, 1)]
            if off.size:
                k = math.floor(off[0] / dt)
                raise self.error(f"delays must be multiples of dt = {shown}: {format_quantity(off[0], 'time')} would "
                                 f"be rounded by {format_quantity(abs(off[0] - round(off[0] / dt) * dt), 'time')}; "
                                 f"use {format_quantity(k * dt, 'time')} or {format_quantity((k + 1) * dt, 'time')}",
                                 *loc)
        if self._max_delay_steps(delay) > MAX_STEPS:
            raise self.error(f"delays are limited to {MAX_STEPS} steps ({MAX_STEPS * dt:g} s at dt = {dt:g} s); "
                             f"got {format_quantity(high, 'time')}", *loc)

    def _max_delay_steps(self, delay: Value) -> int:
        """The longest delay in steps (for a normal without upper bound: mean + 8 std)."""
        high = support(delay)[1]
        if isinstance(delay, Normal) and not np.isfinite(high):
            high = delay.mean + 8 * delay.std
        return int(round(high / self.dt))

    # -- memory --------------------------------------------------------------------------------------
    def memory_estimate(self, duration: float | None = None, spike_capacity: int = SPIKE_BUFFER,
                        threads: int = 1) -> dict[tuple, float]:
        """Bytes the engine will allocate, by the key that causes them: neuron state and spike counters per
        population, connectivity per projection (expected synapse count; per-synapse delays counted as the int32
        steps the builder rounds them into; each row's bounds per block of ``threads``), delay ring buffers and
        their write-combining queues, monitor buffers (``spike_capacity`` entries per chunk, as the Simulation's)
        and, given ``duration`` (s), the rate, state and weight recordings.
        Spike monitors grow with activity (12 B per spike, at most ``max_spikes``) and are not counted, nor are
        the synapses of a connector that gives no expected count (:meth:`uncounted`)."""
        sizes: dict[tuple, float] = {}
        steps = round(duration / self.dt) if duration else 0
        for name, pop in self.populations.items():
            per_neuron = {"neuron": 8 * len(pop.model.state_vars) + 13, "poisson": 8}.get(pop.kind, 4)
            per_neuron += 36  # spike counters: count, last, ISI sum (int64), ISI sum of squares (float64); spikes
            sizes[("populations", name, "n")] = per_neuron * pop.n
            if pop.timed_input is not None:
                sizes[("populations", name, "timed_input")] = float(pop.timed_input.nbytes)
        for drive in self.drives:  # the hashes of each drive's counts (uint64 per neuron)
            loc = ("populations", drive.population, "drive")
            sizes[loc] = sizes.get(loc, 0.0) + 8.0 * self.populations[drive.population].n
        rings: dict[tuple[str, str], tuple[int, tuple]] = {}
        scattered: dict[tuple[str, str], bool] = {}  # every writer has its own delay per synapse: queues
        for name, proj in self.projections.items():
            pre, post = self.populations[proj.pre], self.populations[proj.post]
            synapses = proj.connector.expected_synapses(pre.n, post.n, proj.pre == proj.post) or 0.0  # None: unknown
            per_synapse = 4  # int32 target
            varies = [np.ndim(value) > 0 or isinstance(value, Uniform | Normal) for value in (proj.weight, proj.delay)]
            if proj.rule.plastic:  # float64 weights, post-to-synapse index (2 x int32), per-synapse variables
                plasticity = proj.rule.implementation("numba", dt=self.dt) if "numba" in proj.rule.backends() \
                    else None
                per_synapse += 16 + 8 * len(plasticity.synapse_vars if plasticity else ())
            elif varies[0]:  # float32 weights
                per_synapse += 4
            if varies[1]:  # delays in steps: int32 while building, then uint8/uint16
                per_synapse += 4
            sizes[("projections", name, "connector")] = synapses * per_synapse + 8 * (pre.n + 1) \
                + 8 * (threads + 1) * pre.n
            depth = self._max_delay_steps(proj.delay)
            if depth > 0:
                scattered[(proj.post, proj.target)] = scattered.get((proj.post, proj.target), True) and varies[1]
            if depth > 0 and depth >= rings.get((proj.post, proj.target), (0,))[0]:
                rings[(proj.post, proj.target)] = (depth, ("projections", name, "delay"))
        from biosim.engine.build import QUEUE_CAPACITY, queued  # the builder imports this module

        for key, (depth, loc) in rings.items():
            shape = (depth + 1, self.populations[key[0]].n)
            ring = 8.0 * shape[0] * shape[1]
            queues = 12.0 * threads * shape[0] * QUEUE_CAPACITY if scattered[key] and queued(shape, 8, threads) \
                else 0.0
            sizes[loc] = sizes.get(loc, 0) + ring + queues
        for pop in self.spike_records:
            sizes[("monitors", "spikes")] = sizes.get(("monitors", "spikes"), 0) \
                + 8 * max(spike_capacity, 2 * self.populations[pop].n)
        sizes[("monitors", "rates")] = 24.0 * steps * len(self.rate_records)
        for k, record in enumerate(self.state_records):
            samples = steps // max(1, round(record.every / self.dt)) + 1
            sizes[("monitors", "state", k)] = 16.0 * samples * len(record.variables) * len(record.indices)
        for k, record in enumerate(self.weight_records):
            proj = self.projections[record.projection]
            synapses = proj.connector.expected_synapses(self.populations[proj.pre].n, self.populations[proj.post].n,
                                                        proj.pre == proj.post) or record.max_synapses
            samples = steps // max(1, round(record.every / self.dt)) + 1
            sizes[("monitors", "weights", k)] = 16.0 * samples * min(synapses, record.max_synapses)
        return sizes

    def uncounted(self) -> list[str]:
        """Projections whose connector gives no expected synapse count (left out of :meth:`memory_estimate`)."""
        return [name for name, proj in self.projections.items()
                if proj.connector.expected_synapses(self.populations[proj.pre].n, self.populations[proj.post].n,
                                                    proj.pre == proj.post) is None]

    def check_memory(self, duration: float | None = None, spike_capacity: int = SPIKE_BUFFER,
                     threads: int = 1) -> None:
        """Refuse a network whose :meth:`memory_estimate` exceeds the machine's available memory."""
        available = available_memory()
        sizes = self.memory_estimate(duration, spike_capacity, threads)
        total = sum(sizes.values())
        if available is None or total <= available:
            return
        largest = sorted(sizes, key=sizes.get, reverse=True)
        parts = ", ".join(f"{'.'.join(map(str, loc))} {_gb(sizes[loc])}" for loc in largest[:3] if sizes[loc])
        uncounted = self.uncounted()
        partial = f"; not counting the synapses of {', '.join(uncounted)} (no expected count)" if uncounted else ""
        raise self.error(f"the network needs {'at least' if uncounted else 'about'} {_gb(total)} ({parts}{partial}) "
                         f"but {_gb(available)} are available; make it smaller", *largest[0])


__all__ = ["Network", "Population", "Projection", "PoissonDrive", "Uniform", "Normal", "PoissonSource",
           "SpikeGenerator", "check_duration"]
