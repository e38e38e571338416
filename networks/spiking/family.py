"""The ``spiking`` network family: build a Network from a validated experiment description.

The YAML only describes the objects a Python script would create; every value is validated by the
registry entry it belongs to (neuron model, connector, rule) before anything is allocated.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import numpy as np
from pydantic import Field

from biosim import registry
from biosim.analysis import population_summary, rate_rhythm
from biosim.config import ExperimentBase, Source, Spec, Strict, instantiate
from biosim.engine.network import Network, Normal, Uniform, Value, check_run_length
from biosim.engine.plasticity import BACKENDS, SPIKING_PROJECTION
from biosim.engine.simulation import Recording, Timing
from biosim.errors import ConfigError, did_you_mean
from biosim.family import Family, Outcome, Run
from biosim.params import Frequency, Time
from biosim.units import UnitError, parse_quantity


class DriveConfig(Strict):
    """Poisson drive: ``n`` independent inputs per neuron at ``rate``, each adding ``weight``."""

    target: str
    n: int = Field(gt=0)
    rate: Frequency
    weight: Any


class CurrentStep(Strict):
    at: Time
    value: Any


class PopulationConfig(Strict):
    n: int = Field(gt=0)
    model: str
    params: dict[str, Any] = {}
    init: dict[str, Any] = {}
    drive: DriveConfig | None = None
    current: list[CurrentStep] = []


class ProjectionConfig(Strict):
    pre: str
    post: str
    target: str
    connector: Spec
    weight: Any
    delay: Any = 0.0
    rule: Spec = "static"
    modulator: str | None = None


class StateMonitorConfig(Strict):
    population: str
    variables: list[str] = ["v"]
    indices: list[int] = [0]
    every: Time | None = None


class WeightMonitorConfig(Strict):
    projection: str
    every: Time = 1.0
    max_synapses: int = Field(10_000, gt=0)


class MonitorsConfig(Strict):
    spikes: list[str] | Literal["all"] = "all"
    rates: list[str] | Literal["all"] = "all"
    state: list[StateMonitorConfig] = []
    weights: list[WeightMonitorConfig] = []
    max_spikes: int = Field(50_000_000, gt=0, description="per population; 8 bytes each")


class SpikingExperiment(ExperimentBase):
    """A spiking-network experiment (family ``spiking``)."""

    family: str = "spiking"
    backend: Literal["biosim", "brian2"] = "biosim"
    dt: Time = 1e-4
    duration: Time
    chunk: Time = 0.1
    populations: dict[str, PopulationConfig]
    projections: dict[str, ProjectionConfig] = {}
    monitors: MonitorsConfig = MonitorsConfig()
    plots: list[str] = ["raster", "rates", "voltage", "isi", "weights"]




def _value(raw: Any, dimension: str, source: Source, loc: tuple) -> Value:
    """A constant, ``{uniform: [lo, hi]}``, ``{normal: [mean, std]}`` or a list, in ``dimension``."""
    try:
        if isinstance(raw, dict):
            if len(raw) != 1 or next(iter(raw)) not in ("uniform", "normal"):
                raise ValueError("a distribution is written {uniform: [low, high]} or {normal: [mean, std]}")
            (kind, bounds), = raw.items()
            if not isinstance(bounds, list) or len(bounds) != 2:
                raise ValueError(f"{kind} takes a list of two values")
            a, b = (parse_quantity(x, dimension) for x in bounds)
            return Uniform(a, b) if kind == "uniform" else Normal(a, b)
        if isinstance(raw, list):
            return [parse_quantity(x, dimension) for x in raw]
        return parse_quantity(raw, dimension)
    except (UnitError, ValueError) as err:
        raise source.error(str(err), loc) from None


def _unknown(source: Source, kind: str, name: str, allowed, loc: tuple, context: str = "") -> Exception:
    allowed = list(allowed)
    guess = did_you_mean(name, allowed)
    return source.error(f"unknown {kind} {name!r}{context}{guess}; allowed: {', '.join(allowed)}", loc)


@contextmanager
def _located(source: Source, loc: tuple) -> Iterator[None]:
    """Report a ConfigError of the Network API at its own key, any other ValueError at ``loc``, with file and
    line."""
    try:
        yield
    except ConfigError as err:
        key = tuple(err.key.split(".")) if err.key else loc
        raise source.error(str(err).removeprefix(f"{err.key}: "), key) from None
    except ValueError as err:
        raise source.error(str(err), loc) from None


def build_spiking(exp: SpikingExperiment, source: Source) -> Network:
    """The Network an experiment describes; every value is validated first (errors name file, line, key):
    besides the schema, sizes a connector cannot meet, rate x dt outside [0, 1), delays and run lengths
    past the engine's limits, and whether each plastic rule has an implementation on the chosen backend."""
    with _located(source, ("duration",)):
        check_run_length(round(exp.duration / exp.dt), exp.dt)
    net = Network(dt=exp.dt, seed=exp.seed, max_spikes=exp.monitors.max_spikes)
    for name, pop in exp.populations.items():
        loc = ("populations", name)
        model = instantiate({"name": pop.model, **pop.params}, "neuron", source, (*loc, "params"),
                            name_loc=(*loc, "model"))
        for var in pop.init:
            if var not in model.state_vars:
                raise _unknown(source, "state variable", var, model.state_vars, (*loc, "init", var))
        init = {var: _value(raw, model.state_vars[var], source, (*loc, "init", var))
                for var, raw in pop.init.items()}
        with _located(source, loc):
            net.add_population(name, pop.n, model, init)
        if pop.drive is not None:
            target = pop.drive.target
            if target not in model.synaptic_targets:
                raise _unknown(source, "target", target, model.synaptic_targets, (*loc, "drive", "target"))
            weight = _value(pop.drive.weight, model.state_vars[target], source, (*loc, "drive", "weight"))
            with _located(source, (*loc, "drive")):
                net.add_poisson_drive(name, target, pop.drive.n, pop.drive.rate, weight)
        if pop.current:
            if "i_ext" not in model.state_vars:
                raise source.error(f"model {pop.model!r} takes no current", (*loc, "current"))
            dim = model.state_vars["i_ext"]
            net.add_current_steps(name, [(step.at, _value(step.value, dim, source, (*loc, "current", k, "value")))
                                         for k, step in enumerate(pop.current)])

    for name, proj in exp.projections.items():
        loc = ("projections", name)
        for role in ("pre", "post"):
            pop = getattr(proj, role)
            if pop not in net.populations:
                raise _unknown(source, "population", pop, net.populations, (*loc, role))
        post_model = net.populations[proj.post].model
        if proj.target not in post_model.synaptic_targets:
            raise _unknown(source, "target", proj.target, post_model.synaptic_targets, (*loc, "target"),
                           f" for model {exp.populations[proj.post].model!r}")
        dimension = post_model.state_vars[proj.target]
        connector = instantiate(proj.connector, "connector", source, (*loc, "connector"))
        rule = instantiate(proj.rule, "rule", source, (*loc, "rule"), {"weight_dimension": dimension},
                           kind=("plugs_into", SPIKING_PROJECTION))
        if rule.plastic and BACKENDS[exp.backend] not in rule.backends():
            runs_on = [backend for backend, builder in BACKENDS.items() if builder in rule.backends()]
            raise source.error(f"rule {rule.registry_name!r} has no implementation on backend {exp.backend!r}; "
                               f"it runs on: {', '.join(runs_on) or 'none'}", (*loc, "rule"))
        weight = _value(proj.weight, dimension, source, (*loc, "weight"))
        delay = _value(proj.delay, "time", source, (*loc, "delay"))
        with _located(source, loc):
            net.connect(proj.pre, proj.post, target=proj.target, connector=connector, weight=weight,
                        delay=delay, rule=rule, modulator=proj.modulator, name=name)

    _monitors(exp, net, source)
    return net


def _monitors(exp: SpikingExperiment, net: Network, source: Source) -> None:
    spiking = list(net.populations)
    neurons = [name for name, pop in net.populations.items() if pop.kind == "neuron"]
    for field, default in (("spikes", spiking), ("rates", neurons)):
        chosen = getattr(exp.monitors, field)
        chosen = default if chosen == "all" else chosen
        for pop in chosen:
            if pop not in net.populations:
                raise _unknown(source, "population", pop, net.populations, ("monitors", field))
        (net.record_spikes if field == "spikes" else net.record_rates)(*chosen)
    for k, state in enumerate(exp.monitors.state):
        loc = ("monitors", "state", k)
        if state.population not in net.populations:
            raise _unknown(source, "population", state.population, net.populations, (*loc, "population"))
        try:
            net.record_state(state.population, state.variables, state.indices, state.every or exp.dt)
        except ValueError as err:
            raise source.error(str(err), loc) from None
    for k, weights in enumerate(exp.monitors.weights):
        try:
            net.record_weights(weights.projection, weights.every, weights.max_synapses)
        except ValueError as err:
            raise source.error(str(err), ("monitors", "weights", k)) from None


# -- running: the family's execute half ---------------------------------------------------------------
def weight_summary(w: np.ndarray, bounds: tuple[float, float] | None) -> dict[str, float]:
    """Mean weight and, for bounded rules, the fractions within 10% of either bound (bimodality)."""
    summary = {"mean": float(w.mean()), "std": float(w.std())}
    if bounds is not None:
        low, high = bounds
        span = high - low
        summary["fraction_near_min"] = float(np.mean(w < low + 0.1 * span))
        summary["fraction_near_max"] = float(np.mean(w > high - 0.1 * span))
    return summary


def spiking_metrics(exp: SpikingExperiment, rec: Recording, timing: Timing, network: Network) -> dict[str, Any]:
    """Per population rate_hz, cv_isi, spike_count and rhythm; weight statistics; the wall-time split."""
    populations = {pop: {**population_summary(t, i, rec.sizes[pop], rec.duration), "n": rec.sizes[pop]}
                   for pop, (t, i) in rec.spikes.items()}
    for pop, rate in rec.rates.items():
        populations.setdefault(pop, {}).update(rate_rhythm(rate, rec.dt))
    weights = {name: {"initial": weight_summary(table["w"][0], network.projections[name].rule.weight_bounds()),
                      "final": weight_summary(table["w"][-1], network.projections[name].rule.weight_bounds())}
               for name, table in rec.weights.items() if len(table["w"])}
    return {"backend": exp.backend, "notes": rec.notes, "duration_s": rec.duration,
            "requested_duration_s": exp.duration, "populations": populations, "weights": weights,
            "build_s": timing.build_s, "jit_s": timing.jit_s, "sim_s": timing.sim_s}


def simulate(exp: SpikingExperiment, network: Network, run: Run) -> tuple[Recording, Timing, dict[str, Any]]:
    """Run ``network`` on the experiment's backend; returns the recording, timing and extras."""
    if exp.backend == "brian2":
        from biosim.backends.brian2_backend import run_brian2

        rec, timing, synapses = run_brian2(network, exp.duration)
        return rec, timing, {"synapse_count": synapses}
    from biosim.engine.simulation import Simulation

    sim = Simulation(network, chunk=exp.chunk)
    memory = sim.memory_bytes()
    synapses = sum(p.n_synapses for p in sim.net.projections.values())
    run.log.info("built %d neurons, %d synapses; connectivity %.1f MB; monitor buffers %.1f MB (spikes cost 8 B "
                 "each, at most %d per population)", sum(p.n for p in network.populations.values()), synapses,
                 sum(v for k, v in memory.items() if k.startswith("projection")) / 1e6,
                 memory["monitor_buffers"] / 1e6, network.max_spikes)
    run.log.info("build %.2f s, kernel load/JIT %.2f s", sim.timing.build_s, sim.timing.jit_s)
    rec = sim.run(exp.duration, progress=True, interrupts=run.interrupts)
    return rec, sim.timing, {"synapse_count": synapses, "memory_bytes": memory}


@registry.register("family", "spiking")
class Spiking(Family):
    """Spiking networks: populations of neuron models, projections with plastic rules, monitors."""

    schema = SpikingExperiment
    results = Recording
    plots = ("raster", "rates", "voltage", "isi", "weights")

    def prepare(self, exp: SpikingExperiment, source: Source) -> Network:
        return build_spiking(exp, source)

    def execute(self, network: Network, exp: SpikingExperiment, run: Run) -> Outcome:
        rec, timing, extra = simulate(exp, network, run)
        if not rec.complete:
            run.log.warning("kept %.3f s of %.3f s", rec.duration, exp.duration)
        return Outcome({**spiking_metrics(exp, rec, timing, network), **extra}, rec, rec.complete, rec.stop_reason)

    def summary(self, metrics: dict[str, Any]) -> str:
        return "; ".join(f"{pop}: {v['rate_hz']:.3f} Hz, CV ISI {v['cv_isi']}, {v['spike_count']} spikes"
                         for pop, v in metrics["populations"].items())
