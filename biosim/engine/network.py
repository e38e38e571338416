"""The model description: populations, projections, drives and monitors (no execution here).

Everything is in SI units. A YAML experiment and a Python script build the same objects, and every
check that needs no compute happens here, as the description is assembled (sizes a connector cannot meet,
rate x dt outside [0, 1), delays past the engine's delay storage), as a ConfigError naming the key:

    net = Network(dt=1e-4, seed=1)
    net.add_population("exc", 3200, LIFCuba(), init={"v": Uniform(-60e-3, -50e-3)})
    net.connect("exc", "exc", target="ge", connector=FixedProbability(p=0.02), weight=1.62e-3)
    net.record_spikes("exc")
    result = Simulation(net).run(1.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from biosim.engine.connectors import Connector
from biosim.engine.neurons import MAX_STEPS
from biosim.engine.plasticity import SPIKING_PROJECTION
from biosim.engine.sources import PoissonSource, SpikeGenerator
from biosim.errors import ConfigError, unknown_choice
from biosim.rules.spiking_projection.static import Static
from biosim.targets import Rule


@dataclass(frozen=True)
class Uniform:
    """Values drawn uniformly from [low, high) (SI)."""

    low: float
    high: float

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, n)


@dataclass(frozen=True)
class Normal:
    """Values drawn from N(mean, std^2), optionally clipped to [low, high] (SI)."""

    mean: float
    std: float
    low: float = -np.inf
    high: float = np.inf

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.clip(rng.normal(self.mean, self.std, n), self.low, self.high)


Value = float | Uniform | Normal | np.ndarray


def realize(value: Value, rng: np.random.Generator, n: int) -> np.ndarray:
    """Turn a constant, a distribution or an array into ``n`` float64 values."""
    if isinstance(value, Uniform | Normal):
        return value.sample(rng, n)
    array = np.array(value, dtype=np.float64)  # a copy: learning must never write into the caller's array
    if array.ndim == 0:
        return np.full(n, float(array))
    if array.shape != (n,):
        raise ValueError(f"expected {n} values, got an array of shape {array.shape}")
    return array


def _check_probability(p: float, key: str) -> None:
    """A Poisson spike probability per step (rate x dt) must lie in [0, 1)."""
    if not 0.0 <= p < 1.0:
        raise ConfigError(f"rate x dt = {p:g} must lie in [0, 1); lower the rate or dt", key=key)


def check_run_length(steps: int, dt: float, key: str = "duration") -> None:
    """A run (total steps so far plus the requested ones) must fit the engine's int32 step counter."""
    if steps > MAX_STEPS:
        raise ConfigError(f"a run is limited to {MAX_STEPS} steps ({MAX_STEPS * dt / 3600:.1f} h at dt = {dt:g} s); "
                          f"got {steps}", key=key)


def check_delay(delay: Value, dt: float, key: str) -> None:
    """Delays known before sampling (constants, arrays, distribution bounds) must be >= 0 and fit the int32
    delay storage; a sampled delay is checked again after drawing, by the builder."""
    if isinstance(delay, Uniform):
        bounds = [delay.low, delay.high]
    elif isinstance(delay, Normal):
        bounds = [b for b in (delay.low, delay.high) if np.isfinite(b)]
    else:
        bounds = np.ravel(np.asarray(delay, dtype=np.float64)).tolist()
    if bounds and min(bounds) < 0:
        raise ConfigError(f"delays must be >= 0, got {min(bounds):g} s", key=key)
    if bounds and max(bounds) / dt > MAX_STEPS:
        raise ConfigError(f"delays are limited to {MAX_STEPS} steps ({MAX_STEPS * dt:g} s at dt = {dt:g} s); "
                          f"got {max(bounds):g} s", key=key)


@dataclass
class Population:
    name: str
    n: int
    model: Any  # a NeuronModel, PoissonSource or SpikeGenerator
    init: dict[str, Value] = field(default_factory=dict)
    current_steps: list[tuple[float, float]] = field(default_factory=list)  # (time s, i_ext SI)

    @property
    def kind(self) -> str:
        return self.model.kind


@dataclass
class Projection:
    name: str
    pre: str
    post: str
    target: str
    connector: Connector
    weight: Value
    delay: Value = 0.0
    rule: Rule = field(default_factory=Static)
    modulator: str | None = None


@dataclass
class PoissonDrive:
    """``n`` independent Poisson inputs of ``rate`` per neuron, each spike adding ``weight`` to
    ``target`` (Brian2's PoissonInput): a binomial count per neuron and step."""

    population: str
    target: str
    n: int
    rate: float
    weight: float


@dataclass
class StateRecord:
    population: str
    variables: list[str]
    indices: list[int]
    every: float  # s


@dataclass
class WeightRecord:
    projection: str
    every: float  # s
    max_synapses: int = 10_000


@dataclass
class Network:
    dt: float = 1e-4
    seed: int = 0
    populations: dict[str, Population] = field(default_factory=dict)
    projections: dict[str, Projection] = field(default_factory=dict)
    drives: list[PoissonDrive] = field(default_factory=list)
    spike_records: list[str] = field(default_factory=list)
    rate_records: list[str] = field(default_factory=list)
    state_records: list[StateRecord] = field(default_factory=list)
    weight_records: list[WeightRecord] = field(default_factory=list)
    max_spikes: int = 50_000_000  # per population; bounds spike-monitor memory to 8 B x this

    # -- building -------------------------------------------------------------------------
    def add_population(self, name: str, n: int, model: Any, init: dict[str, Value] | None = None) -> str:
        if name in self.populations:
            raise ValueError(f"population {name!r} already exists")
        if n <= 0:
            raise ValueError(f"population {name!r} needs n > 0, got {n}")
        init = dict(init or {})
        for var in init:
            if var not in model.state_vars:
                raise unknown_choice("state variable", var, model.state_vars, key=f"populations.{name}.init")
        if model.kind == "poisson":
            _check_probability(model.rate * self.dt, f"populations.{name}.params.rate")
        self.populations[name] = Population(name, n, model, init)
        return name

    def connect(self, pre: str, post: str, *, target: str, connector: Connector, weight: Value,
                delay: Value = 0.0, rule: Rule | None = None, modulator: str | None = None,
                name: str | None = None) -> str:
        name = name or f"{pre}_to_{post}"
        if name in self.projections:
            raise ValueError(f"projection {name!r} already exists; give it a name")
        for role, pop in (("pre", pre), ("post", post)):
            if pop not in self.populations:
                raise unknown_choice("population", pop, self.populations, key=f"projections.{name}.{role}")
        post_model = self.populations[post].model
        if target not in post_model.synaptic_targets:
            raise unknown_choice(f"synaptic target of {post_model.registry_name!r}", target,
                                 post_model.synaptic_targets, key=f"projections.{name}.target")
        try:
            connector.check(self.populations[pre].n, self.populations[post].n, pre == post)
        except ValueError as err:
            raise ConfigError(str(err), key=f"projections.{name}.connector") from None
        check_delay(delay, self.dt, f"projections.{name}.delay")
        rule = rule or Static()
        if rule.plugs_into != SPIKING_PROJECTION:
            raise ValueError(f"projections.{name}.rule: rule {rule.registry_name!r} plugs into "
                             f"{rule.plugs_into!r}, not into a spiking projection")
        if getattr(rule, "needs_modulator", False) and modulator not in self.populations:
            raise unknown_choice("modulator population", str(modulator), self.populations,
                                 key=f"projections.{name}.modulator")
        self.projections[name] = Projection(name, pre, post, target, connector, weight, delay, rule, modulator)
        return name

    def add_poisson_drive(self, population: str, target: str, n: int, rate: float, weight: float) -> None:
        model = self.populations[population].model
        if target not in model.synaptic_targets:
            raise unknown_choice("synaptic target", target, model.synaptic_targets,
                                 key=f"populations.{population}.drive.target")
        _check_probability(rate * self.dt, f"populations.{population}.drive.rate")
        self.drives.append(PoissonDrive(population, target, n, rate, weight))

    def add_current_steps(self, population: str, steps: list[tuple[float, float]]) -> None:
        """Set ``i_ext`` of every neuron of ``population`` to ``value`` from ``time`` on."""
        self.populations[population].current_steps.extend(sorted(steps))

    # -- monitors ---------------------------------------------------------------------------
    def record_spikes(self, *populations: str) -> None:
        self.spike_records.extend(p for p in populations if p not in self.spike_records)

    def record_rates(self, *populations: str) -> None:
        self.rate_records.extend(p for p in populations if p not in self.rate_records)

    def record_state(self, population: str, variables: list[str], indices: list[int], every: float) -> None:
        model = self.populations[population].model
        for var in variables:
            if var not in model.state_vars:
                raise unknown_choice("state variable", var, model.state_vars, key="monitors.state.variables")
        n = self.populations[population].n
        if any(i < 0 or i >= n for i in indices):
            raise ValueError(f"monitors.state.indices must lie in [0, {n}) for population {population!r}")
        self.state_records.append(StateRecord(population, list(variables), list(indices), every))

    def record_weights(self, projection: str, every: float, max_synapses: int = 10_000) -> None:
        if projection not in self.projections:
            raise unknown_choice("projection", projection, self.projections, key="monitors.weights.projection")
        self.weight_records.append(WeightRecord(projection, every, max_synapses))


__all__ = ["Network", "Population", "Projection", "PoissonDrive", "Uniform", "Normal", "PoissonSource",
           "SpikeGenerator"]
