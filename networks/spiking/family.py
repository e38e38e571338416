"""The ``spiking`` network family: build a Network from a validated experiment description.

The YAML only describes the objects a Python script would create; every value is validated by the
registry entry it belongs to (neuron model, connector, rule) before anything is allocated.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from biosim import registry
from biosim.analysis import rate_rhythm, summary_of
from biosim.config import ExperimentBase, Source, Spec, Strict, instantiate
from biosim.engine.network import Network, check_duration
from biosim.engine.plasticity import BACKENDS
from biosim.engine.simulation import Recording, Timing
from biosim.engine.threads import check_threads, resolve_threads
from biosim.family import Family, Outcome, Run, number
from biosim.params import Time


class DriveConfig(Strict):
    """Poisson drive: ``n`` independent inputs per neuron at ``rate``, each adding ``weight`` to ``target``."""

    target: str
    n: int
    rate: Any
    weight: Any


class CurrentStep(Strict):
    """From time ``at`` on, every neuron's ``i_ext`` is ``value``."""

    at: Any
    value: Any


class PopulationConfig(Strict):
    """``n`` neurons of neuron ``model`` (a registry name) with ``params``, initial values, drive and currents."""

    n: int
    model: str
    params: dict[str, Any] = {}
    init: dict[str, Any] = {}
    drive: DriveConfig | None = None
    current: list[CurrentStep] = []


class ProjectionConfig(Strict):
    """Synapses ``pre`` -> ``post`` onto ``target``: connector, weight (target's unit), delay, rule, modulator."""

    pre: str
    post: str
    target: str
    connector: Spec
    weight: Any
    delay: Any = 0.0
    rule: Spec = "static"
    modulator: str | None = None
    device: Spec | None = None  # a registry 'device' holding the weights (memristive synapses)


class StateMonitorConfig(Strict):
    """Record ``variables`` of neurons ``indices`` of ``population`` every ``every`` (default: dt)."""

    population: str
    variables: list[str] = ["v"]
    indices: list[int] = [0]
    every: Any = None


class WeightMonitorConfig(Strict):
    """Snapshot at most ``max_synapses`` weights of ``projection`` every ``every`` (default about 1 s)."""

    projection: str
    every: Any = None  # default: the whole number of steps nearest 1 s
    max_synapses: int = 10_000


class MonitorsConfig(Strict):
    """Which populations' spikes and rates are recorded, state and weight monitors, the spike cap."""

    spikes: list[str] | Literal["all"] = "all"
    rates: list[str] | Literal["all"] = "all"
    state: list[StateMonitorConfig] = []
    weights: list[WeightMonitorConfig] = []
    max_spikes: int = Field(50_000_000, description="per population; 8 bytes each; rates and CVs use all spikes")


class SpikingRun(ExperimentBase):
    """What every spiking experiment has: backend, time step, run length, threads and monitors."""

    backend: Literal["biosim", "brian2"] = "biosim"
    dt: Time = 1e-4
    duration: Time
    chunk: Time = Field(0.1, gt=0)
    threads: int | Literal["auto"] = Field(
        "auto", validate_default=True,
        description="threads of the biosim backend's loop; 'auto': one per 10,000 neurons up to the cores the "
                    "process may use (or BIOSIM_THREADS); results are the same for any count")

    @field_validator("threads", mode="before")
    @classmethod
    def _threads(cls, value: Any) -> int | str:
        if value == "auto":
            resolve_threads(value, 0)  # a bad BIOSIM_THREADS is refused here, before any compute
            return value
        return check_threads(value)
    monitors: MonitorsConfig = MonitorsConfig()


class SpikingExperiment(SpikingRun):
    """A spiking-network experiment (family ``spiking``): populations and projections as a script makes them."""

    family: str = "spiking"
    populations: dict[str, PopulationConfig]
    projections: dict[str, ProjectionConfig] = {}
    plots: list[str] = ["raster", "rates", "voltage", "isi", "weights"]


def build_spiking(exp: SpikingExperiment, source: Source) -> Network:
    """The Network an experiment describes, built through the Python API, whose methods own every check (errors
    name file, line and key through ``source``); besides, what only an experiment has: its run length, whether
    each plastic rule has an implementation on the chosen backend, and the memory the run will need."""
    net = Network(dt=exp.dt, seed=exp.seed, max_spikes=exp.monitors.max_spikes, source=source,
                  keys={"max_spikes": ("monitors", "max_spikes")})
    check_duration(exp.duration, net.dt, source)
    for name, pop in exp.populations.items():
        loc = ("populations", name)
        model = instantiate({"name": pop.model, **pop.params}, "neuron", source, (*loc, "params"),
                            name_loc=(*loc, "model"))
        if exp.backend == "brian2" and getattr(model, "kind", None) == "neuron":
            try:
                model.brian2()
            except ValueError as err:
                raise source.error(str(err), (*loc, "model")) from None
        net.add_population(name, pop.n, model, pop.init)
        if pop.drive is not None:
            drive = pop.drive
            net.add_poisson_drive(name, drive.target, drive.n, drive.rate, drive.weight)
        if pop.current:
            net.add_current_steps(name, [(step.at, step.value) for step in pop.current])
    for name, proj in exp.projections.items():
        net.connect(proj.pre, proj.post, target=proj.target, connector=proj.connector, weight=proj.weight,
                    delay=proj.delay, rule=proj.rule, modulator=proj.modulator, name=name, device=proj.device)
        if proj.device is not None and exp.backend != "biosim":
            raise source.error("weights on a device run on backend 'biosim' only", ("projections", name, "device"))
        rule = net.projections[name].rule
        if rule.plastic and BACKENDS[exp.backend] not in rule.backends():
            runs_on = [backend for backend, builder in BACKENDS.items() if builder in rule.backends()]
            raise source.error(f"rule {rule.registry_name!r} has no implementation on backend {exp.backend!r}; "
                               f"it runs on: {', '.join(runs_on) or 'none'}", ("projections", name, "rule"))
    add_monitors(exp, net)
    net.check_memory(exp.duration)
    return net


def add_monitors(exp: SpikingRun, net: Network) -> None:
    """The spike, rate, state and weight monitors the experiment asks for."""
    monitors = exp.monitors
    net.record_spikes(*(net.populations if monitors.spikes == "all" else monitors.spikes))
    neurons = [name for name, pop in net.populations.items() if pop.kind == "neuron"]
    net.record_rates(*(neurons if monitors.rates == "all" else monitors.rates))
    for state in monitors.state:
        net.record_state(state.population, state.variables, state.indices, state.every)
    for weights in monitors.weights:
        net.record_weights(weights.projection, weights.every, weights.max_synapses)


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


def spiking_metrics(exp: SpikingRun, rec: Recording, timing: Timing, network: Network) -> dict[str, Any]:
    """Per population rate_hz, cv_isi, spike_count (from the never-truncated spike counters), whether the spike
    monitor was truncated, and rhythm; weight statistics; the wall-time split."""
    populations = {pop: {**summary_of(stats, rec.duration), "n": rec.sizes[pop],
                         "spikes_truncated": pop in rec.truncated}
                   for pop, stats in rec.spike_stats.items()}
    for pop, rate in rec.rates.items():
        populations.setdefault(pop, {}).update(rate_rhythm(rate, rec.dt))
    weights = {name: {"initial": weight_summary(table["w"][0], network.projections[name].rule.weight_bounds()),
                      "final": weight_summary(table["w"][-1], network.projections[name].rule.weight_bounds())}
               for name, table in rec.weights.items() if len(table["w"])}
    return {"backend": exp.backend, "notes": rec.notes, "duration_s": rec.duration,
            "requested_duration_s": exp.duration, "populations": populations, "weights": weights,
            "build_s": timing.build_s, "jit_s": timing.jit_s, "sim_s": timing.sim_s}


def simulate(exp: SpikingRun, network: Network, run: Run) -> tuple[Recording, Timing, dict[str, Any]]:
    """Run ``network`` on the experiment's backend; returns the recording, timing and extras."""
    if exp.backend == "brian2":
        from biosim.backends.brian2_backend import run_brian2

        rec, timing, synapses = run_brian2(network, exp.duration, progress=True)
        return rec, timing, {"synapse_count": synapses}
    from biosim.engine.simulation import Simulation

    sim = Simulation(network, chunk=exp.chunk, threads=exp.threads)
    memory = sim.memory_bytes()
    synapses = sum(p.n_synapses for p in sim.net.projections.values())
    run.log.info("built %d neurons, %d synapses; connectivity %.1f MB; monitor buffers %.1f MB (spikes cost 8 B "
                 "each, at most %d per population)", sum(p.n for p in network.populations.values()), synapses,
                 sum(v for k, v in memory.items() if k.startswith("projection")) / 1e6,
                 memory["monitor_buffers"] / 1e6, network.max_spikes)
    run.log.info("build %.2f s, kernel load/JIT %.2f s, %d thread(s)", sim.timing.build_s, sim.timing.jit_s,
                 sim.threads)
    rec = sim.run(exp.duration, progress=True, interrupts=run.interrupts)
    return rec, sim.timing, {"synapse_count": synapses, "memory_bytes": memory}


@registry.register("family", "spiking")
class Spiking(Family):
    """Spiking networks: populations of neuron models, projections with plastic rules, monitors."""

    schema = SpikingExperiment
    results = Recording
    plots = ("raster", "rates", "spectrum", "voltage", "isi", "weights")

    def prepare(self, exp: SpikingExperiment, source: Source) -> Network:
        """The validated Network (:func:`build_spiking`)."""
        return build_spiking(exp, source)

    def execute(self, network: Network, exp: SpikingExperiment, run: Run) -> Outcome:
        """Simulate on the experiment's backend; warn about truncated spike monitors."""
        rec, timing, extra = simulate(exp, network, run)
        for pop in sorted(rec.truncated):
            run.log.warning("the spike monitor of %r stopped at monitors.max_spikes = %d: the raster and ISI figures "
                            "show the first spikes only; rates and CVs in metrics.json use all of them",
                            pop, network.max_spikes)
        if not rec.complete:
            run.log.warning("kept %.3f s of %.3f s", rec.duration, exp.duration)
        return Outcome({**spiking_metrics(exp, rec, timing, network), **extra}, rec, rec.complete, rec.stop_reason)

    def summary(self, metrics: dict[str, Any]) -> str:
        """Rate, CV and spike count per population, in one line."""
        return "; ".join(f"{pop}: {number(v.get('rate_hz'))} Hz, CV ISI {number(v.get('cv_isi'))}, "
                         f"{number(v.get('spike_count'))} spikes"
                         + (" (spike monitor truncated)" if v.get("spikes_truncated") else "")
                         for pop, v in metrics["populations"].items())
