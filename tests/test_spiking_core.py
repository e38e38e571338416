"""Core v2 for the spiking engine: the spiking_projection target and its builders, typed parameter records
(sweeps never recompile), neuron models described once, explicit random streams, validation in prepare."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from biosim import registry
from biosim.config import load_experiment
from biosim.engine.connectors import FixedIndegree, FixedProbability
from biosim.engine.network import Network, Uniform
from biosim.engine.neurons import MAX_STEPS, AdEx, Izhikevich, LIFCoba, LIFCuba, LIFDelta
from biosim.engine.plasticity import SpikingPlasticity
from biosim.engine.simulation import Simulation
from biosim.engine.sources import PoissonSource
from biosim.errors import ConfigError
from biosim.networks.spiking.family import build_spiking
from biosim.rules.spiking_projection.rstdp import RewardSTDP
from biosim.rules.spiking_projection.stdp import STDP
from biosim.rules.spiking_projection.triplet import TripletSTDP


def cuba(seed: int, tau_m: float = 20e-3, a_plus: float = 0.01) -> Network:
    """800 CUBA neurons with one plastic projection (its rule's record is a kernel argument too)."""
    net = Network(dt=1e-4, seed=seed)
    model = LIFCuba(t_ref=5e-3, tau_m=tau_m)
    net.add_population("exc", 640, model, init={"v": Uniform(-60e-3, -50e-3)})
    net.add_population("inh", 160, model, init={"v": Uniform(-60e-3, -50e-3)})
    net.connect("exc", "exc", target="ge", connector=FixedProbability(p=0.02), weight=Uniform(0.0, 8.1e-3),
                rule=STDP(w_max=8.1e-3, a_plus=a_plus))
    net.connect("exc", "inh", target="ge", connector=FixedProbability(p=0.02), weight=8.1e-3)
    for post in ("exc", "inh"):
        net.connect("inh", post, target="gi", connector=FixedProbability(p=0.02), weight=-45e-3)
    net.record_spikes("exc", "inh")
    return net


def driven(seed: int) -> Network:
    """Poisson sources and a Poisson drive onto delta-synapse LIF neurons: the other random streams."""
    net = Network(dt=1e-4, seed=seed)
    net.add_population("src", 400, PoissonSource(rate=30.0))
    net.add_population("lif", 300, LIFDelta(t_ref=2e-3), init={"v": Uniform(0.0, 20e-3)})
    net.connect("src", "lif", target="v", connector=FixedIndegree(k=40), weight=0.3e-3, delay=1e-3)
    net.add_poisson_drive("lif", "v", 500, 20.0, 0.2e-3)
    net.record_spikes("src", "lif")
    return net


def spikes(rec) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {pop: (t.copy(), i.copy()) for pop, (t, i) in rec.spikes.items()}


def assert_same(a, b) -> None:
    assert a.keys() == b.keys()
    for pop in a:
        np.testing.assert_array_equal(a[pop][0], b[pop][0])
        np.testing.assert_array_equal(a[pop][1], b[pop][1])


# -- the target and its builders ------------------------------------------------------------------
def test_target_declared_once_with_its_record_type():
    target = registry.get("target", "spiking_projection")
    assert target.implementation is SpikingPlasticity and set(target.backends) == {"numba", "brian2"}


@pytest.mark.parametrize("rule", [STDP(w_max=1.0), TripletSTDP(w_max=1.0), RewardSTDP(w_max=1.0)],
                         ids=lambda r: r.registry_name)
def test_rules_are_built_per_backend(rule):
    built = rule.implementation("numba", dt=1e-4)
    assert isinstance(built, SpikingPlasticity) and built.on_pre is not None
    assert all(isinstance(value, float) for value in built.params) and hasattr(built.params, "_fields")
    if rule.registry_name == "rstdp":
        assert built.modulator == (rule.tau_d, rule.dopamine) and built.synapse_vars == ("eligibility",)
        with pytest.raises(ConfigError, match="no 'brian2' implementation; available: numba"):
            rule.implementation("brian2", unit="1")
    else:
        assert "w_syn" in rule.implementation("brian2", unit="1").model


def test_rstdp_record_depends_on_dt():
    rule = RewardSTDP(w_max=2.0, eta=3.0, tau_e=0.5)
    p = rule.implementation("numba", dt=1e-3).params
    assert p.eta_dt == pytest.approx(3e-3) and p.e_decay == pytest.approx(np.exp(-2e-3))
    assert p.a_plus_w == pytest.approx(0.02)


# -- typed records: sweeps never recompile ---------------------------------------------------------
def test_parameter_sweep_reuses_the_compiled_kernel():
    """Neuron and rule parameters are NamedTuple values: another value is the same type, so the same
    generated source and the same compiled specialisation run it."""
    a = Simulation(cuba(1))
    b = Simulation(cuba(2, tau_m=15e-3, a_plus=0.02))
    assert a.source == b.source and a._kernel is b._kernel
    assert len(b._kernel.signatures) == 1
    assert a.net.populations["exc"].P.tau_m != b.net.populations["exc"].P.tau_m


# -- neuron models described once ------------------------------------------------------------------
@pytest.mark.parametrize("model", [LIFCuba(), LIFCoba(), LIFDelta(), Izhikevich(), AdEx()],
                         ids=lambda m: m.registry_name)
def test_record_and_brian2_model_come_from_one_description(model):
    desc = type(model).description
    record = model.params(1e-4)
    assert record._fields[:1] == ("ref",) and set(type(model).model_fields) <= set(record._fields)
    assert set(desc.constants) <= set(record._fields)
    b2 = model.brian2()
    lines = b2.equations.splitlines()
    for var in model.state_vars:  # every state variable is declared once, refractory clamping as described
        (line,) = [x for x in lines if x.startswith((f"d{var}/dt ", f"{var} :"))]
        assert ("(unless refractory)" in line) == (var in model.clamped_during_refractory)
    assert set(b2.namespace) == set(type(model).model_fields) - {"t_ref"}
    assert b2.method == desc.method and b2.threshold == desc.threshold and b2.reset == desc.reset


# -- explicit random streams -----------------------------------------------------------------------
def test_alternating_and_threaded_simulations_match_each_run_alone():
    """No process-global generator: interleaving two simulations, or running them in two threads at once,
    changes nothing."""
    makers = {"cuba": lambda: cuba(3), "driven": lambda: driven(4)}
    alone = {name: spikes(Simulation(make()).run(0.3)) for name, make in makers.items()}
    assert all(pop_spikes[0].size > 100 for runs in alone.values() for pop_spikes in runs.values())

    sims = {name: Simulation(make()) for name, make in makers.items()}
    alternated: dict[str, dict] = {}
    for _ in range(3):  # each run returns the recording so far
        for name, sim in sims.items():
            alternated[name] = spikes(sim.run(0.1))

    threaded: dict[str, dict] = {}

    def work(name: str) -> None:
        threaded[name] = spikes(Simulation(makers[name]()).run(0.3))

    threads = [threading.Thread(target=work, args=(name,)) for name in makers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name in makers:
        assert_same(alone[name], alternated[name])
        assert_same(alone[name], threaded[name])


def test_streams_are_per_consumer():
    """Adding a population with its own randomness leaves every other consumer's draws unchanged."""
    base = Simulation(driven(5))
    extra_net = driven(5)
    extra_net.add_population("other", 50, PoissonSource(rate=100.0))
    extra_net.record_spikes("other")
    extra = Simulation(extra_net)
    a, b = spikes(base.run(0.2)), spikes(extra.run(0.2))
    assert_same(a, {pop: b[pop] for pop in a})


# -- validation before compute, with file, line and key ----------------------------------------------
@pytest.mark.parametrize(("experiment", "overrides", "key", "message"), [
    ("brunel", ["projections.inh_exc.connector.k=3000"], "projections.inh_exc.connector",
     "in-degree 3000 exceeds the 2500 available neurons"),
    ("brunel", ["populations.exc.drive.rate=20 kHz"], "populations.exc.drive.rate", "must lie in [0, 1)"),
    ("brunel", ["projections.exc_exc.delay=-1 ms"], "projections.exc_exc.delay", "delays must be >= 0"),
    ("brunel", ["duration=300000 s"], "duration", f"limited to {MAX_STEPS} steps"),
    ("stdp_song2000", ["populations.inputs.params.rate=10 kHz"], "populations.inputs.params.rate",
     "must lie in [0, 1)"),
    ("stdp_song2000", ["backend=brian2", "projections.inputs_neuron.rule.name=rstdp"],
     "projections.inputs_neuron.rule", "no implementation on backend 'brian2'; it runs on: biosim"),
])
def test_prepare_refuses_what_the_engine_cannot_run(experiment, overrides, key, message):
    exp, source = load_experiment(f"experiments/{experiment}.yaml", overrides)
    with pytest.raises(ConfigError) as info:
        build_spiking(exp, source)
    err = info.value
    assert err.key == key and message in str(err)
    assert err.file.endswith(f"{experiment}.yaml") and err.line is not None
