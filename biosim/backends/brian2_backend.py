"""Run a biosim Network in Brian2 (runtime mode) and return the same Recording.

Connectivity, weights, delays and initial values come from biosim's own builder with the same
seed, so both backends simulate the same network instance; only the integration differs (and the
random streams of Poisson inputs). Neuron models give their Brian2 model from their one description
(``NeuronModel.brian2``); rules give their statements through their ``<rule>/brian2`` builder.
Plastic projections get two pathways, as in biosim: transmission delayed by the synaptic delay,
plasticity at the presynaptic spike time.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

import numpy as np

from biosim.analysis import spike_statistics
from biosim.engine.build import BuiltNetwork, build
from biosim.engine.network import Network, check_duration
from biosim.engine.neurons import BRIAN2_UNITS
from biosim.engine.simulation import Recording, Timing, progress_bar
from biosim.units import UnitError, dimension_of


def _unit(b2, name: str):
    """The Brian2 unit of a dimension name (``"voltage"``, ``"length^-2*current"``) or of a Brian2 unit
    expression (``"volt"``, ``"1"``, ``"metre**-2*amp"``)."""
    try:
        metre, kilogram, second, amp = dimension_of(name)
    except UnitError:
        return eval(name, {"__builtins__": {}}, {word: getattr(b2, word) for word in re.findall(r"[A-Za-z_]\w*", name)})
    return b2.metre ** metre * b2.kilogram ** kilogram * b2.second ** second * b2.amp ** amp


def _brian2_unit_name(dimension: str) -> str:
    """A dimension as Brian2 writes units in equations (``volt``, or a product of base units)."""
    if dimension in BRIAN2_UNITS:
        return BRIAN2_UNITS[dimension]
    bases = ("metre", "kilogram", "second", "amp")
    return "*".join(f"{b}**{p}" for b, p in zip(bases, dimension_of(dimension), strict=True) if p) or "1"


def _namespace(b2, values: dict[str, tuple[float, str]]) -> dict[str, Any]:
    return {key: value * _unit(b2, dimension) for key, (value, dimension) in values.items()}


def _refractory(b2, refractory: float | str):
    if isinstance(refractory, str):
        return refractory
    return refractory * b2.second if refractory > 0 else False


def _groups(b2, net: BuiltNetwork) -> dict[str, Any]:
    groups = {}
    dt = net.dt
    for name, pop in net.populations.items():
        model = pop.spec.model
        if pop.spec.kind == "neuron":
            desc = model.brian2()
            namespace = _namespace(b2, desc.namespace)
            if pop.timed.shape[0]:  # the replayed input, as the engine's: row t in step t, the last row after
                unit = _unit(b2, model.state_vars["i_ext"])
                namespace["timed_input"] = b2.TimedArray(pop.timed * unit, dt=dt * b2.second)
            group = b2.NeuronGroup(pop.n, desc.equations, threshold=desc.threshold, reset=desc.reset,
                                   refractory=_refractory(b2, desc.refractory),
                                   method=desc.method, namespace=namespace, name=name)
            for k, (var, dimension) in enumerate(model.state_vars.items()):
                if var != model.refractory_step_row:  # Brian2 keeps its own refractory state
                    setattr(group, var, pop.S[k] * _unit(b2, dimension))
            if pop.timed.shape[0]:
                group.run_regularly("i_ext = timed_input(t, i)", when="start", order=1)  # after the monitors
        elif pop.spec.kind == "poisson":
            group = b2.PoissonGroup(pop.n, rates=model.rate * b2.Hz, name=name)
        else:
            group = b2.SpikeGeneratorGroup(pop.n, pop.gen_idx, pop.gen_steps * dt * b2.second, name=name)
        groups[name] = group
    return groups


def _synapses(b2, net: BuiltNetwork, groups: dict[str, Any]) -> list[Any]:
    objects = []
    for name, proj in net.projections.items():
        if proj.spec.device is not None:  # refused with file and line by the spiking family; never ignored
            raise ValueError(f"projection {name!r}: weights on a device run on backend 'biosim' only")
        post_model = proj.post.spec.model
        dimension = post_model.state_vars[proj.spec.target]
        unit = _brian2_unit_name(dimension)
        # Brian2 itself discards input to an '(unless refractory)' variable of a refractory neuron, as biosim does
        target = f"{proj.spec.target}_post += w_syn"
        rule = proj.spec.rule
        if rule.plastic:  # a rule without a brian2 builder is refused by the spiking family's prepare
            desc = rule.implementation("brian2", unit=unit)
            syn = b2.Synapses(groups[proj.spec.pre], groups[proj.spec.post], model=desc.model,
                              on_pre={"pre": target, "plasticity": desc.on_pre}, on_post=desc.on_post,
                              namespace=_namespace(b2, desc.namespace), name=name,
                              **({"method": desc.method} if desc.method else {}))
            syn.pre.order = -2  # transmit with the weight at spike time, then learn (biosim's order)
        else:
            syn = b2.Synapses(groups[proj.spec.pre], groups[proj.spec.post], model=f"w_syn : {unit}",
                              on_pre=target, name=name)
        pre_ids = np.repeat(np.arange(proj.pre.n), np.diff(proj.indptr))
        syn.connect(i=pre_ids, j=proj.indices.astype(np.int64))
        weights = proj.weights if proj.weights is not None else np.full(proj.n_synapses, proj.weight_const)
        syn.w_syn = weights.astype(np.float64) * _unit(b2, unit)
        delays = proj.delays if proj.delays is not None else np.full(proj.n_synapses, proj.delay_const)
        syn.pre.delay = delays.astype(np.float64) * net.dt * b2.second
        objects.append(syn)
    return objects


def run_brian2(network: Network, duration: Any, progress: bool = False) -> tuple[Recording, Timing, int]:
    """Build and run ``network`` for ``duration`` (s, or text such as ``"1 s"``) in Brian2, with the native
    engine's progress bar when ``progress``; returns (recording, timing, number of synapses)."""
    duration = check_duration(duration, network.dt)
    network.check_memory()
    timing = Timing()
    start = time.perf_counter()
    import brian2 as b2

    b2.prefs.codegen.target = os.environ.get("BIOSIM_BRIAN2_TARGET", "cython")
    b2.defaultclock.dt = network.dt * b2.second
    b2.seed(network.seed)
    net = build(network)
    groups = _groups(b2, net)
    objects: list[Any] = list(groups.values()) + _synapses(b2, net, groups)
    for drive in network.drives:
        model = net.populations[drive.population].spec.model
        unit = _unit(b2, model.state_vars[drive.target])
        objects.append(b2.PoissonInput(groups[drive.population], drive.target, drive.n, drive.rate * b2.Hz,
                                       weight=drive.weight * unit))
    spikes = {p: b2.SpikeMonitor(groups[p]) for p in network.populations}  # rates and CVs of every population
    rates = {p: b2.PopulationRateMonitor(groups[p]) for p in network.rate_records}
    states = [b2.StateMonitor(groups[r.population], r.variables, record=r.indices, dt=r.every * b2.second)
              for r in network.state_records]
    brian_net = b2.Network(objects + list(spikes.values()) + list(rates.values()) + states)
    timing.build_s = time.perf_counter() - start

    start = time.perf_counter()
    brian_net.run(0 * b2.second)  # code generation and compilation
    timing.jit_s = time.perf_counter() - start

    rec = Recording(network.dt, {p.name: p.n for p in network.populations.values()},
                    dimensions=network.recorded_dimensions())
    samples = {r.projection: np.arange(min(net.projections[r.projection].n_synapses, r.max_synapses))
               for r in network.weight_records}
    snapshots: dict[str, list] = {name: [] for name in samples}
    bar = progress_bar(round(duration / network.dt), network.dt, progress)

    def report(elapsed, completed: float, segment_start, segment: Any) -> None:
        """Brian2's ``report`` callback: move the bar to the biological time reached."""
        reached = round((float(segment_start) + completed * float(segment)) / network.dt)
        bar.update(max(0, reached - bar.n))

    start = time.perf_counter()
    for t_from, t_to in _segments(network, duration):
        step = round(t_from / network.dt)
        for pop in network.populations.values():
            active = [value for at, value in pop.current_steps if round(at / network.dt) <= step]
            if active:
                groups[pop.name].i_ext = active[-1] * _unit(b2, pop.model.state_vars["i_ext"])
        for record in network.weight_records:
            if step % max(1, round(record.every / network.dt)) == 0:
                w = np.asarray(brian_net[record.projection].w_syn_[:])[samples[record.projection]]
                snapshots[record.projection].append((t_from, w))
        if t_to > t_from:
            brian_net.run((t_to - t_from) * b2.second, report=report if progress else None,
                          report_period=1 * b2.second)
    bar.close()
    timing.sim_s = time.perf_counter() - start

    rec.duration = duration
    for pop, mon in spikes.items():
        times, indices = np.asarray(mon.t_[:], np.float64), np.asarray(mon.i[:], np.int32)
        rec.spike_stats[pop] = spike_statistics(times, indices, rec.sizes[pop])  # Brian2 keeps every spike
        if pop in network.spike_records:
            rec.spikes[pop] = (times, indices)
    for pop, mon in rates.items():
        rec.rates[pop] = np.asarray(mon.rate_[:], np.float64)
    for record, mon in zip(network.state_records, states, strict=True):
        for var in record.variables:
            rec.states[f"{record.population}.{var}"] = {
                "t": np.asarray(mon.t_[:]), "values": np.asarray(getattr(mon, f"{var}_")[:]).T,
                "indices": np.asarray(record.indices)}
    for name, shots in snapshots.items():
        rec.weights[name] = {"t": np.array([s[0] for s in shots]), "w": np.array([s[1] for s in shots]),
                             "synapses": samples[name]}
    return rec, timing, sum(p.n_synapses for p in net.projections.values())


def _segments(network: Network, duration: float) -> list[tuple[float, float]]:
    """Run in pieces so that step currents change and weight snapshots happen at the right times."""
    cuts = {0.0, duration}
    for pop in network.populations.values():
        cuts.update(at for at, _ in pop.current_steps if 0 < at < duration)
    for record in network.weight_records:
        cuts.update(np.arange(0.0, duration, record.every)[1:].tolist())
    points = sorted(round(c / network.dt) * network.dt for c in cuts)
    return [(a, b) for a, b in zip(points[:-1], points[1:], strict=True)] + [(duration, duration)]
