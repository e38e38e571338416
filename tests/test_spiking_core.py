"""Core v2 for the spiking engine: the spiking_projection target and its builders, typed parameter records
(sweeps never recompile), neuron models described once, explicit random streams, validation in prepare."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import brian2 as b2
import numpy as np
import pytest

from biosim import registry
from biosim.config import load_experiment
from biosim.engine.connectors import FixedIndegree, FixedProbability
from biosim.engine.network import Network, Uniform, check_duration
from biosim.engine.neurons import MAX_STEPS, AdEx, Izhikevich, LIFCoba, LIFCuba, LIFDelta
from biosim.engine.plasticity import SpikingPlasticity
from biosim.engine.simulation import Simulation
from biosim.engine.sources import PoissonSource, SpikeGenerator
from biosim.errors import ConfigError
from biosim.networks.spiking.family import build_spiking
from biosim.rules.spiking_projection.rstdp import RewardSTDP
from biosim.rules.spiking_projection.stdp import STDP
from biosim.rules.spiking_projection.triplet import TripletSTDP


def cuba(seed: int, tau_m: float = 20e-3, a_plus: float = 0.01) -> Network:
    """800 CUBA neurons with one plastic projection (its rule's record is a kernel argument too)."""
    net = Network(dt=1e-4, seed=seed)
    model = LIFCuba(t_ref=5e-3, tau_m=tau_m, e_l=-49e-3)  # CUBA: e_l above threshold drives it
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
    assert record._fields[:1] == ("ref",) and set(type(model).model_fields) - {"t_ref"} <= set(record._fields)
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
    ("stdp_song2000", ["backend=brian2", "projections.inputs_neuron.rule.name=rstdp",
                       "projections.inputs_neuron.modulator=inputs"],
     "projections.inputs_neuron.rule", "no implementation on backend 'brian2'; it runs on: biosim"),
])
def test_prepare_refuses_what_the_engine_cannot_run(experiment, overrides, key, message):
    exp, source = load_experiment(f"experiments/{experiment}.yaml", overrides)
    with pytest.raises(ConfigError) as info:
        build_spiking(exp, source)
    err = info.value
    assert err.key == key and message in str(err)
    assert any(f"argument '{text}'" in str(err) for text in overrides)  # the override that set it


# -- drives keyed by population and target ----------------------------------------------------------
def test_adding_a_drive_elsewhere_leaves_a_drive_unchanged():
    """Drive streams are named ``drive/<population>/<target>``: a drive added before it changes nothing."""
    def lif(extra: bool) -> Network:
        net = Network(dt=1e-4, seed=6)
        if extra:
            net.add_population("other", 20, LIFDelta())
            net.add_poisson_drive("other", "v", 100, 20.0, 0.2e-3)
        net.add_population("lif", 100, LIFDelta(t_ref=2e-3))
        net.add_poisson_drive("lif", "v", 500, 20.0, 0.2e-3)
        net.record_spikes("lif")
        return net

    alone, with_other = (spikes(Simulation(lif(extra)).run(0.1)) for extra in (False, True))
    assert alone["lif"][0].size > 100
    assert_same(alone, {"lif": with_other["lif"]})


# -- impossible values: refused once, in prepare, with file, line or argument, key and allowed range ----
@pytest.mark.parametrize(("experiment", "override", "key", "message"), [
    ("cuba", "populations.exc.params.tau_m=-20 ms", "populations.exc.params.tau_m", "greater than 0, got -20 ms"),
    ("cuba", "populations.exc.params.v_reset=-40 mV", "populations.exc.params",
     "v_reset (-40 mV) must be below v_th (-50 mV)"),
    ("cuba", "duration=-1 s", "duration", "must be >= 0.1 ms (1 step of dt = 0.1 ms), got -1000 ms"),
    ("cuba", "dt=5 s", "duration", "must be >= 5000 ms (1 step of dt = 5000 ms)"),
    ("cuba", "duration=0.10005 s", "duration", "whole number of steps of dt = 0.1 ms: 100.05 ms is not; use 100 ms "
     "or 100.1 ms"),
    ("cuba", "populations.exc.params.t_ref=0.25 ms", "populations.exc.params.t_ref", "use 0.2 ms or 0.3 ms"),
    ("cuba", "monitors.state=[{population: exc, variables: [v], indices: [0], every: 0.15 ms}]",
     "monitors.state.0.every", "use 0.1 ms or 0.2 ms"),
    ("cuba", "monitors.max_spikes=0", "monitors.max_spikes", "must be an integer >= 1, got 0"),
    ("cuba", "dt=0 ms", "dt", "must be > 0"),
    ("cuba", "populations.exc.n=3200000000", "populations.exc.n", "needs an integer in [1, 2147483647]"),
    ("cuba", "monitors.spikes=[exc, nope]", "monitors.spikes", "unknown population 'nope'"),
    ("brunel", "projections.exc_exc.delay=0.05 ms", "projections.exc_exc.delay", "must be 0 or at least dt"),
    ("brunel", "projections.exc_exc.delay=1.55 ms", "projections.exc_exc.delay",
     "would be rounded by 0.05 ms; use 1.5 ms or 1.6 ms"),
    ("brunel", "projections.exc_exc.delay={uniform: [0 ms, 2 ms]}", "projections.exc_exc.delay",
     "lower bound must be >= dt"),
    ("brunel", "populations.exc.drive.rate=-5 Hz", "populations.exc.drive.rate", "must lie in [0, 1)"),
    ("brunel", "projections.exc_inh.connector={name: one_to_one}", "projections.exc_inh.connector",
     "one_to_one needs equal sizes"),
    ("brunel", "projections.exc_exc.connector={name: fixed_outdegree, k: 20000}", "projections.exc_exc.connector",
     "out-degree 20000 exceeds the 10000 available neurons"),
    ("stdp_song2000", "projections.inputs_neuron.weight={uniform: [0, 0.02]}", "projections.inputs_neuron.weight",
     "within the rule's bounds [w_min, w_max] = [0, 0.01]; got [0, 0.02]"),
    ("stdp_song2000", "projections.inputs_neuron.rule.tau_plus=-20 ms", "projections.inputs_neuron.rule.tau_plus",
     "greater than 0, got -20 ms"),
    ("stdp_song2000", "projections.inputs_neuron.rule.w_min=0.02", "projections.inputs_neuron.rule",
     "w_min (0.02) must be below w_max (0.01)"),
])
def test_impossible_values_are_refused_in_prepare(experiment, override, key, message):
    exp, source = load_experiment(f"experiments/{experiment}.yaml", [override])
    with pytest.raises(ConfigError) as info:
        build_spiking(exp, source)
    assert info.value.key == key and message in str(info.value), str(info.value)
    if override.startswith(key) or key.startswith(override.split("=")[0]):  # set by the command-line argument
        assert f"argument '{override}'" in str(info.value)
    else:  # set in the file (the duration that dt = 5 s exceeds)
        assert info.value.file.endswith(f"{experiment}.yaml") and info.value.line is not None


def test_one_step_is_a_valid_run_length():
    assert check_duration(1e-4, 1e-4) == 1e-4 and check_duration("0.3 ms", 1e-4) == 3e-4


def _net() -> Network:
    net = Network(dt=1e-4)
    net.add_population("a", 3, LIFCuba())
    return net


def _connect(**kwargs):
    return lambda net: net.connect("a", "a", target="ge", connector="all_to_all", **{"weight": 1e-3, **kwargs})


@pytest.mark.parametrize(("use", "message"), [
    (_connect(weight=2 * b2.nS), "projections.a_to_a.weight: 2. nS is a conductance but a voltage is expected"),
    (_connect(delay=1.5 * b2.volt), "projections.a_to_a.delay: 1.5 V is a voltage but a time is expected"),
    (_connect(weight=np.array([1.0, 2.0, 3.0] * 3) * b2.nS), "is a conductance but a voltage is expected"),
    (_connect(weight=float("nan")), "weight: must be a finite number, got nan"),
    (_connect(weight=np.full(9, np.inf)), "weight: values must be finite"),
    (_connect(delay=float("nan")), "delay: must be a finite number, got nan"),
    (_connect(delay=Uniform(1e-3, np.inf)), "delay: low and high must be finite"),
    (lambda net: net.record_state("a", ["v"], [0], every=np.float32(np.inf)), "every: must be a finite number"),
    (_connect(rule={"name": "stdp", "w_min": "2 mV", "w_max": "1 mV"}), "w_min (2 mV) must be below w_max (1 mV)"),
], ids=["b2-weight", "b2-delay", "b2-array", "nan-weight", "inf-array", "nan-delay", "inf-uniform", "inf-every",
        "bounds-with-unit"])
def test_python_values_are_checked_like_file_values(use, message):
    """issue 10 review: Brian2 quantities took the array branch unchecked; NaN/inf reached int(round(...))."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        use(_net())


def test_python_values_of_any_numeric_kind_are_accepted():
    net = _net()
    net.add_population("b", 3, LIFCuba(), init={"v": -65 * b2.mV, "ge": np.array([1.0, 2.0, 3.0]) * b2.mV})
    net.connect("a", "a", target="ge", connector="all_to_all", weight=np.float32(1e-3), delay=np.int64(0))
    net.connect("a", "b", target="ge", connector="all_to_all", weight=2 * b2.mV)
    assert net.populations["b"].init["v"] == -65e-3 and list(net.populations["b"].init["ge"]) == [1e-3, 2e-3, 3e-3]
    assert net.projections["a_to_b"].weight == 2e-3 and type(net.projections["a_to_b"].weight) is float
    assert STDP(w_max="1 mV").w_max == 1e-3 and STDP(w_max=np.float32(0.5)).w_max == 0.5


@pytest.mark.parametrize("w_max", [None, [1], "1 s", float("nan")])
def test_rule_parameters_that_are_not_numbers_are_value_errors(w_max):
    with pytest.raises(ValueError, match="w_max"):
        STDP(w_max=w_max)


def test_errors_in_a_file_name_its_line(tmp_path):
    """The same checks, for a value written in the file, name the file and the line."""
    text = Path("experiments/brunel.yaml").read_text().replace("delay: 1.5 ms}", "delay: 1.55 ms}", 1)
    path = tmp_path / "brunel.yaml"
    path.write_text(text)
    exp, source = load_experiment(path)
    with pytest.raises(ConfigError) as info:
        build_spiking(exp, source)
    line = next(k for k, row in enumerate(text.splitlines(), 1) if "1.55 ms" in row)
    assert (info.value.file, info.value.line, info.value.key) == (str(path), line, "projections.exc_exc.delay")


def test_spike_generator_indices_are_checked_before_building():
    net = Network(dt=1e-4)
    with pytest.raises(ConfigError, match="populations.g.params: spike_generator index 5 is out of range for 2"):
        net.add_population("g", 2, SpikeGenerator(times=[1e-3], indices=[5]))
    with pytest.raises(ConfigError, match="same neuron twice in one time step"):
        net.add_population("g", 2, SpikeGenerator(times=[1e-3, 1.01e-3], indices=[1, 1]))


def test_memory_is_estimated_and_refused_before_building(monkeypatch, tmp_path):
    """What will not fit in MemAvailable is refused in prepare, naming the key that needs it, before any run
    directory exists; the estimate follows what the builder allocates."""
    from biosim.engine import network as network_module
    from biosim.runner import run_experiment

    monkeypatch.setattr(network_module, "available_memory", lambda: 2 * 10**9)
    net = Network(dt=1e-4)
    net.add_population("p", 10**8, LIFCuba())
    with pytest.raises(ConfigError, match=r"populations.p.n: the network needs about 8.1 GB .* but 2 GB are av"):
        net.check_memory()
    with pytest.raises(ConfigError, match=r"projections.exc_exc.delay: the network needs about 80"):
        run_experiment("experiments/brunel.yaml", ["projections.exc_exc.delay=100 s"], out=tmp_path)
    assert not any(tmp_path.iterdir())

    small = cuba(1)
    sim = Simulation(small)
    estimate = small.memory_estimate()
    built = sum(p.nbytes() for p in sim.net.projections.values())
    assert 0.9 * built < sum(v for k, v in estimate.items() if k[0] == "projections") < 1.1 * built


# -- models: impossible parameters, defaults at rest -------------------------------------------------
@pytest.mark.parametrize(("make", "message"), [
    (lambda: LIFCuba(tau_m=-1e-3), "greater than 0"),
    (lambda: LIFDelta(v_th=10e-3, v_reset=10e-3), "v_reset (10 mV) must be below v_th (10 mV)"),
    (lambda: Izhikevich(c=40e-3), "c (40 mV) must be below v_peak (30 mV)"),
    (lambda: AdEx(delta_t=0.0), "greater than 0, got 0 mV"),
    (lambda: STDP(w_max=1.0, tau_minus=0.0), "greater than 0"),
    (lambda: RewardSTDP(w_max=1.0, w_min=1.0), "w_min (1) must be below w_max (1)"),
])
def test_impossible_model_and_rule_parameters_are_refused(make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make()


@pytest.mark.parametrize("model", [LIFCuba(), LIFCoba(), LIFDelta(), Izhikevich(), AdEx()],
                         ids=lambda m: m.registry_name)
def test_default_neurons_are_at_rest(model):
    net = Network(dt=1e-4)
    net.add_population("n", 5, model)
    net.record_spikes("n")
    assert Simulation(net).run(0.05).spike_stats["n"]["count"].sum() == 0


def test_truncated_spike_monitor_is_flagged_and_rates_stay_true(tmp_path):
    """issue 10: max_spikes=1000 once reported 0.31 Hz instead of 6 Hz, silently."""
    import json

    from biosim.runner import run_experiment

    common = ["duration=0.2 s", "plots=[]", "monitors.state=[]"]
    full, cut = (json.loads((run_experiment("experiments/cuba.yaml", common + extra, out=tmp_path / name)
                             / "metrics.json").read_text())
                 for name, extra in (("full", []), ("cut", ["monitors.max_spikes=1000"])))
    exc, exc_full = cut["populations"]["exc"], full["populations"]["exc"]
    assert exc["spikes_truncated"] and not exc_full["spikes_truncated"]
    assert exc["rate_hz"] == exc_full["rate_hz"] > 3 and exc["cv_isi"] == exc_full["cv_isi"]
    log = next((tmp_path / "cut").glob("*/run.log")).read_text()
    assert "spike monitor of 'exc' stopped at monitors.max_spikes = 1000" in log


def test_rates_of_populations_without_a_spike_monitor(tmp_path):
    """Rates and CVs come from per-neuron counters of every population, not only the spike-monitored ones."""
    import json

    from biosim.runner import run_experiment

    run_dir = run_experiment("experiments/cuba.yaml", ["duration=0.1 s", "plots=[]", "monitors.state=[]",
                                                       "monitors.spikes=[exc]"], out=tmp_path)
    inh = json.loads((run_dir / "metrics.json").read_text())["populations"]["inh"]
    assert inh["rate_hz"] > 1 and inh["spike_count"] > 0
    assert "inh: " in (run_dir / "run.log").read_text()


def test_summary_formats_numbers_and_tolerates_missing_ones():
    from biosim.networks.spiking.family import Spiking

    metrics = {"populations": {"exc": {"rate_hz": 12.345678, "cv_isi": float("nan"), "spike_count": 7},
                               "inh": {}}}
    assert Spiking().summary(metrics) == "exc: 12.35 Hz, CV ISI n/a, 7 spikes; inh: n/a Hz, CV ISI n/a, n/a spikes"


def test_memory_limit_of_a_container_is_honoured(monkeypatch, tmp_path):
    """cgroup v2 ``memory.max - memory.current`` lowers MemAvailable; "max" (no limit) and absent files do not."""
    from biosim import memory

    meminfo, limit, usage = tmp_path / "meminfo", tmp_path / "memory.max", tmp_path / "memory.current"
    meminfo.write_text("MemTotal: 9000000 kB\nMemAvailable: 8000000 kB\n")
    monkeypatch.setattr(memory, "MEMINFO", meminfo)
    monkeypatch.setattr(memory, "CGROUP_FILES", ((limit, usage), (tmp_path / "absent", tmp_path / "absent")))
    assert memory.available_memory() == 8_192_000_000
    limit.write_text("max\n"), usage.write_text("100\n")
    assert memory.available_memory() == 8_192_000_000
    limit.write_text("2000000000\n"), usage.write_text("500000000\n")
    assert memory.available_memory() == 1_500_000_000


def test_a_plug_in_connector_without_a_count_is_estimated_without_it(monkeypatch):
    from biosim.engine import network as network_module
    from biosim.engine.connectors import Connector

    class Custom(Connector):
        def connect(self, n_pre, n_post, same, rng):
            raise NotImplementedError

    monkeypatch.setattr(network_module, "available_memory", lambda: 1000)
    net = _net()
    net.connect("a", "a", target="ge", connector=Custom(), weight=1e-3, rule=STDP(w_max=1e-2))
    net.record_weights("a_to_a")
    assert ("projections", "a_to_a", "connector") in net.memory_estimate(1.0)
    with pytest.raises(ConfigError, match=r"needs at least .* not counting the synapses of a_to_a \(no expected"):
        net.check_memory()


def test_plastic_projections_beyond_int32_synapse_ids_are_refused():
    net = Network(dt=1e-4)
    net.add_population("big", 50_000, LIFCuba())
    net.connect("big", "big", target="ge", connector="all_to_all", weight=1e-3)  # static: int64 CSR is fine
    with pytest.raises(ConfigError, match=r"projections.plastic.connector: a plastic projection holds at most "
                                          r"2147483647 synapses"):
        net.connect("big", "big", target="ge", connector="all_to_all", weight=1e-3, rule=STDP(w_max=1e-2),
                    name="plastic")


def test_default_weight_snapshots_are_a_whole_number_of_steps():
    net = Network(dt=3e-4)
    net.add_population("a", 3, LIFCuba())
    net.connect("a", "a", target="ge", connector="all_to_all", weight=1e-3)
    net.record_weights("a_to_a")
    assert net.weight_records[0].every == 3333 * 3e-4
