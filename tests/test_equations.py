"""Neuron models written as equations: the built-ins re-expressed, Brian2 agreement on the same text (each
scenario written once, run on both backends), integration methods, noise, errors and the kernel cache."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import poisson_times
from scipy import stats
from test_brian2 import BACKENDS, both

from biosim.config import validate_params
from biosim.engine.connectors import OneToOne
from biosim.engine.equations import EquationNeuron
from biosim.engine.equations.functions import randn
from biosim.engine.network import Network, Uniform
from biosim.engine.neurons import AdEx, Izhikevich, LIFCoba, LIFCuba, LIFDelta
from biosim.engine.simulation import Simulation
from biosim.engine.sources import SpikeGenerator
from biosim.errors import ConfigError

LIF = """dv/dt = (e_l - v + r_m * (i_syn + i_ext)) / tau_m : volt (unless refractory)
di_syn/dt = -i_syn / tau_syn : amp
tau_m : second (constant)
i_ext : amp"""
LIF_PARAMS = {"e_l": "-65 mV", "r_m": "100 Mohm", "tau_syn": "5 ms", "v_th": "-50 mV", "v_reset": "-65 mV"}


def lif(method: str = "exact", **changes) -> EquationNeuron:
    fields = {"equations": LIF, "threshold": "v > v_th", "reset": "v = v_reset", "refractory": "2 ms",
              "method": method, "parameters": LIF_PARAMS} | changes
    return EquationNeuron(**fields)


IZHIKEVICH = EquationNeuron(
    equations="""dv/dt = (0.04 * v**2 / mV + 5 * v + 140 * mV - u + i_ext) / ms : volt
                 du/dt = a * (b * v - u) : volt
                 i_ext : volt""",
    threshold="v >= 30 * mV", reset="v = c\nu += d", method="rk4",
    parameters={"a": "20 Hz", "b": 0.2, "c": "-65 mV", "d": "8 mV"})
QIF_HEUN = EquationNeuron(
    equations="""dv/dt = (k * (v - v_r) * (v - v_t) + i_ext) / c_m : volt
                 i_ext : amp""",
    threshold="v > v_peak", reset="v = v_r", method="heun",
    parameters={"k": "0.7 nS/mV", "v_r": "-60 mV", "v_t": "-40 mV", "c_m": "100 pF", "v_peak": "35 mV"})
# refractory while x > 0.5: a condition, not a period (Brian2's ``refractory='x > 0.5'``)
CONDITION = EquationNeuron(
    equations="""dv/dt = (e_l - v + r_m * i_ext) / tau_m : volt (unless refractory)
                 dx/dt = -x / tau_x : 1
                 i_ext : amp""",
    threshold="v > v_th", reset="v = e_l\nx = 1", refractory="x > 0.5", method="euler",
    parameters={"e_l": "-65 mV", "r_m": "100 Mohm", "tau_m": "10 ms", "tau_x": "4 ms", "v_th": "-50 mV"})

# model, initial state, target of the input spikes and its weight, step current (i_ext units), rtol for v
SCENARIOS = {
    "exact": (lif("exact"), {"v": -65e-3, "tau_m": [10e-3]}, "i_syn", 40e-12, 0.2e-9, 1e-9),
    "exponential_euler": (lif("exponential_euler"), {"v": -65e-3, "tau_m": [10e-3]}, "i_syn", 40e-12, 0.2e-9,
                          1e-9),
    "euler": (lif("euler"), {"v": -65e-3, "tau_m": [10e-3]}, "i_syn", 40e-12, 0.2e-9, 1e-9),
    "rk2": (lif("rk2"), {"v": -65e-3, "tau_m": [10e-3]}, "i_syn", 40e-12, 0.2e-9, 1e-9),
    "rk4": (IZHIKEVICH, {"v": -65e-3, "u": -13e-3}, "v", 4e-3, 12e-3, 1e-7),
    "heun": (QIF_HEUN, {"v": -60e-3}, "v", 3e-3, 80e-12, 1e-7),
    "condition": (CONDITION, {"v": -65e-3}, "v", 2e-3, 0.2e-9, 1e-9),
}


def single_neuron(model, init, target, weight, current) -> Network:
    rng = np.random.default_rng(0)
    times = poisson_times(rng, 200.0, 0.3, 1e-4)
    net = Network(dt=1e-4, seed=0)
    net.add_population("input", 1, SpikeGenerator(times=times.tolist(), indices=[0] * len(times)))
    net.add_population("neuron", 1, model, init=init)
    net.connect("input", "neuron", target=target, connector=OneToOne(), weight=weight)
    net.add_current_steps("neuron", [(0.1, current), (0.2, 0.0)])
    net.record_spikes("neuron")
    net.record_state("neuron", ["v"], [0], 1e-4)
    return net


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_equation_models_agree_with_brian2_on_the_same_text(scenario):
    model, init, target, weight, current, rtol = SCENARIOS[scenario]
    runs = both(single_neuron(model, {k: np.array(v) if isinstance(v, list) else v for k, v in init.items()},
                              target, weight, current), 0.3)
    v_biosim, v_brian2 = (runs[b].states["neuron.v"]["values"][:, 0] for b in BACKENDS)
    assert runs["biosim"].spikes["neuron"][0].size >= 3, "the scenario must make the neuron spike"
    np.testing.assert_array_equal(runs["biosim"].spikes["neuron"][0], runs["brian2"].spikes["neuron"][0])
    np.testing.assert_allclose(v_biosim, v_brian2, rtol=rtol, atol=rtol * 1e-3)


BUILTINS = [(LIFCuba(t_ref=5e-3, e_l=-49e-3), "ge", 4e-3, 8e-3), (LIFCoba(t_ref=5e-3), "ge", 0.3, 8e-3),
            (LIFDelta(t_ref=2e-3), "v", 3e-3, 15e-3), (Izhikevich(), "i_syn", 8e-3, 6e-3),
            (AdEx(), "i_syn", 300e-12, 1.0e-9)]


@pytest.mark.parametrize(("model", "target", "weight", "current"), [b for b in BUILTINS if not b[0].generated],
                         ids=lambda x: getattr(x, "registry_name", None))
def test_builtin_models_written_as_equations_give_the_same_spikes(model, target, weight, current):
    """A built-in with a hand-written kernel and its own description compiled by the equation path; 20 neurons
    with different drive. (The built-ins whose generated kernels are faster run them: see the next test; they
    are checked against Brian2 in test_brian2.py.)"""
    runs = []
    for m in (model, EquationNeuron.from_model(model)):
        rng = np.random.default_rng(0)
        times = poisson_times(rng, 200.0, 0.3, 1e-4)
        net = Network(dt=1e-4, seed=0)
        net.add_population("input", 1, SpikeGenerator(times=times.tolist(), indices=[0] * len(times)))
        net.add_population("neuron", 20, m, init=model.default_state())
        net.connect("input", "neuron", target=target, connector="all_to_all", weight=np.linspace(0.5, 1.5, 20) * weight)
        net.add_current_steps("neuron", [(0.1, current), (0.2, 0.0)])
        net.record_spikes("neuron")
        net.record_state("neuron", ["v"], list(range(20)), 1e-4)
        runs.append(Simulation(net).run(0.3))
    (a, b) = runs
    assert a.spikes["neuron"][0].size > 50
    for k in range(2):
        np.testing.assert_array_equal(a.spikes["neuron"][k], b.spikes["neuron"][k])
    np.testing.assert_allclose(a.states["neuron.v"]["values"], b.states["neuron.v"]["values"], rtol=1e-9,
                               atol=1e-14)


def test_generated_builtins_with_different_kernels_each_run_their_own():
    """Two lif_coba populations in one network, one refractory and one not (different generated kernels): each
    spikes as it does alone."""
    def network(models: dict) -> Network:
        net = Network(dt=1e-4, seed=0)
        for name, model in models.items():
            net.add_population(name, 20, model, init=model.default_state())
            net.add_current_steps(name, [(0.0, 0.02)])
            net.record_spikes(name)
        return net

    models = {"refractory": LIFCoba(t_ref=5e-3), "free": LIFCoba(t_ref=0.0)}
    assert models["refractory"].registry_key != models["free"].registry_key
    together = Simulation(network(models)).run(0.2)
    for name, model in models.items():
        alone = Simulation(network({name: model})).run(0.2)
        assert alone.spikes[name][0].size > 20
        np.testing.assert_array_equal(together.spikes[name][0], alone.spikes[name][0])


def test_model_names_cannot_clash_with_the_kernels_own():
    """A parameter called 'step' and a variable 'n' read by the reset (HH's gating variable) compile and run as
    written; 'ref' (a field of the record) is refused by name."""
    model = EquationNeuron(equations="dv/dt = (e_l - v + n) / step : volt\ndn/dt = -n / step : volt",
                           threshold="v > v_th", reset="v = e_l\nn += 2 * mV + n * 0", refractory="2 ms",
                           parameters={"e_l": "-50 mV", "step": "10 ms", "v_th": "-51 mV"})
    net = Network(dt=1e-4)
    net.add_population("p", 1, model, init={"v": -60e-3})
    net.record_spikes("p")
    rec = Simulation(net).run(0.1)
    assert rec.spikes["p"][0].size >= 3  # refractory 2 ms: a clash with the kernel's step counter would break it
    assert np.diff(rec.spikes["p"][0]).min() >= 2e-3 - 1e-12
    with pytest.raises(ValueError, match="'ref' is a field of biosim's compiled parameter record"):
        EquationNeuron(equations="dv/dt = -v / ref : volt", threshold="v > 1 * mV", parameters={"ref": "1 ms"})


def test_random_draws_of_different_call_sites_never_share_uniforms():
    """randn takes the uniforms of two sites: a rand() after xi in the same model gets a third."""
    from biosim.engine.equations.generate import generate

    model = NOISY.model_copy(update={"threshold": "v > v_th and rand() < 0.9"})
    source = generate(model.code)
    sites = [int(x) for x in re.findall(r"_randn\(_noise_key, _step, i, (\d+)\)", source)]
    uniform = [int(x) for x in re.findall(r"_rand\(_noise_key, _step, i, (\d+)\)", source)]
    assert sites and uniform and not {*sites, *(s + 1 for s in sites)} & set(uniform)


def test_a_refractory_condition_may_read_subexpressions():
    model = CONDITION.model_copy(update={"equations": CONDITION.equations + "\nx_high = x > 0.5 : boolean",
                                         "refractory": "x_high"})
    runs = [Simulation(single_neuron(m, {"v": -65e-3}, "v", 2e-3, 0.2e-9)).run(0.3) for m in (CONDITION, model)]
    assert runs[0].spikes["neuron"][0].size >= 3
    np.testing.assert_array_equal(runs[0].spikes["neuron"][0], runs[1].spikes["neuron"][0])


def test_copies_compile_their_own_text():
    import copy

    changed = lif().model_copy(update={"threshold": "v > -55 * mV"})
    assert changed.code.threshold == "v > -55 * mV"
    assert copy.deepcopy(changed).code.threshold == "v > -55 * mV"


NOISY = EquationNeuron(
    equations="dv/dt = (mu - v) / tau + sigma * sqrt(2 / tau) * xi : volt (unless refractory)",
    threshold="v > v_th", reset="v = v_r", refractory="2 ms", method="euler",
    parameters={"mu": "-52 mV", "tau": "10 ms", "sigma": "4 mV", "v_th": "-50 mV", "v_r": "-60 mV"})


def _noisy_network(model, n: int = 4000, seed: int = 0) -> Network:
    net = Network(dt=1e-4, seed=seed)
    net.add_population("neurons", n, model, init={"v": Uniform(-60e-3, -50e-3)})
    net.record_spikes("neurons")
    return net


@pytest.mark.parametrize("method", ["euler", "milstein"])
def test_noisy_model_matches_brian2_statistics(method):
    """White noise (xi): Euler-Maruyama and Milstein; mean rate and CV within 2% of Brian2's (other draws)."""
    model = NOISY.model_copy(update={"method": method})
    runs = both(_noisy_network(model), 2.0)
    summary = {b: (runs[b].spike_stats["neurons"]) for b in BACKENDS}
    ours, theirs = (_rate_and_cv(runs[b], 2.0) for b in BACKENDS)
    assert 5.0 < ours[0] < 40.0, summary
    assert ours[0] == pytest.approx(theirs[0], rel=0.02)
    assert ours[1] == pytest.approx(theirs[1], rel=0.02)


def _rate_and_cv(rec, duration: float) -> tuple[float, float]:
    from biosim.analysis import population_summary

    summary = population_summary(*rec.spikes["neurons"], rec.sizes["neurons"], duration)
    return summary["rate_hz"], summary["cv_isi"]


def test_same_seed_same_noise_and_another_seed_other_noise():
    spikes = [Simulation(_noisy_network(NOISY, 200, seed)).run(0.2).spikes["neurons"][0] for seed in (1, 1, 2)]
    np.testing.assert_array_equal(spikes[0], spikes[1])
    assert not np.array_equal(spikes[0], spikes[2])


def test_counter_based_normal_draws_are_standard_normal_and_independent():
    draws = np.array([randn(12345, step, i, 0) for step in range(200) for i in range(500)])
    assert abs(draws.mean()) < 4 / np.sqrt(draws.size)
    assert draws.var() == pytest.approx(1.0, abs=4 * np.sqrt(2 / draws.size))
    assert stats.kstest(draws, "norm").pvalue > 1e-3
    assert abs(np.corrcoef(draws[:-1], draws[1:])[0, 1]) < 4 / np.sqrt(draws.size)
    other_site = np.array([randn(12345, step, i, 2) for step in range(200) for i in range(500)])
    assert abs(np.corrcoef(draws, other_site)[0, 1]) < 4 / np.sqrt(draws.size)


def test_shared_parameter_change_does_not_recompile():
    model = lif()
    changed = lif(parameters={**LIF_PARAMS, "v_th": "-52 mV"})
    assert model.kernels()[0] is changed.kernels()[0]
    assert model.params(1e-4).v_th != changed.params(1e-4).v_th


def test_a_second_process_neither_analyses_nor_compiles_again(tmp_path):
    script = textwrap.dedent("""
        import sys
        from biosim.engine.equations import EquationNeuron
        from biosim.engine.network import Network
        from biosim.engine.simulation import Simulation
        model = EquationNeuron(equations="dv/dt = (e_l - v) / tau : volt\\ni_ext : volt", threshold="v > -50*mV",
                               reset="v = e_l", parameters={"e_l": "-40 mV", "tau": "7 ms"})
        net = Network(dt=1e-4)
        net.add_population("p", 10, model)
        net.record_spikes("p")
        Simulation(net).run(0.01)
        update = model.kernels()[0]
        print("brian2" in sys.modules, sum(update.stats.cache_misses.values()))
    """)
    env = {**os.environ, "BIOSIM_CACHE_DIR": str(tmp_path), "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    outputs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
               .stdout.split() for _ in range(2)]
    assert outputs[0][0] == "True"  # the first process analysed the text with Brian2
    assert outputs[1] == ["False", "0"]  # the second read the analysis and the machine code from the cache


# -- errors: one message before any compute, naming the key, the equation and what is wrong ---------------------
WRONG = {
    "dimension mismatch": (dict(equations="dv/dt = (e_l - v + i_syn) / tau_m : volt\ni_syn : amp"), "equations",
                           "'e_l - v' has unit V; 'i_syn' has unit A"),
    "rate unit": (dict(equations="dv/dt = e_l - v : volt"), "equations",
                  "is in V but dv/dt is in V/s (a rate: divide by a time constant?)"),
    "unknown name": (dict(equations="dv/dt = (e_l - v) / tau_mm : volt"), "equations",
                     "unknown name 'tau_mm' (did you mean 'tau_m'?)"),
    "unknown in threshold": (dict(threshold="v > v_thr"), "threshold", "unknown name 'v_thr' (did you mean 'v_th'?)"),
    "missing threshold": (dict(threshold=None), "threshold", "required key is missing"),
    "not boolean": (dict(threshold="v + v_th"), "threshold", "is not a boolean condition"),
    "threshold units": (dict(threshold="v > 1 * amp"), "threshold", "'v' is in V, '1 * amp' in A"),
    "reset units": (dict(reset="v = tau_m"), "reset", "v is in V but 'tau_m' is in s"),
    "reset target": (dict(reset="w = v_th"), "reset", "'w' is not one"),
    "nonlinear with exact": (dict(equations="dv/dt = (e_l - v)**2 / (mV * tau_m) : volt", method="exact"),
                             "method", "could not be separated into linear components"),
    "noise with exact": (dict(equations="dv/dt = (e_l - v) / tau_m + mV * xi / sqrt(ms) : volt", method="exact"),
                         "method", "Cannot solve stochastic equations"),
    "unknown method": (dict(method="rk5"), "method", "unknown method 'rk5' (did you mean 'rk4'?)"),
    "syntax": (dict(equations="dv/dt = (e_l - v / tau_m : volt"), "equations", "line 1"),
    "bad unit": (dict(equations="dv/dt = (e_l - v) / tau_m : volts"), "equations", "'volts'"),
    "parameter without unit": (dict(parameters={"e_l": "-60 mV", "tau_m": "10 mss", "v_th": "-50 mV"}),
                               "parameters.tau_m", "unknown unit 'mss'"),
    "refractory": (dict(refractory="2 mss"), "refractory", "or give a condition"),
    "shared flag": (dict(equations="dv/dt = (e_l - v) / tau_m : volt\nq : 1 (shared)"), "equations",
                    "flag 'shared' is not supported"),
    "units inside a threshold side": (dict(threshold="v + 1 * amp > v_th"), "threshold", "v + 1 * amp"),
    "units inside a reset": (dict(reset="v = e_l + 1 * amp"), "reset", "v = e_l + 1 * amp"),
    "spaced derivative": (dict(equations="dv / dt = e_l - v : volt"), "equations", "dv / dt = e_l - v"),
    "reserved parameter": (dict(parameters={"e_l": "-60 mV", "tau_m": "10 ms", "v_th": "-50 mV",
                                            "noise_key": 1}), "parameters.noise_key", "rename the parameter"),
}


@pytest.mark.parametrize("case", WRONG)
def test_wrong_models_get_one_clear_error(case):
    changes, key, fragment = WRONG[case]
    fields = {"equations": "dv/dt = (e_l - v) / tau_m : volt", "threshold": "v > v_th", "reset": "v = e_l",
              "parameters": {"e_l": "-60 mV", "tau_m": "10 ms", "v_th": "-50 mV"}} | changes
    fields = {k: v for k, v in fields.items() if v is not None}
    from biosim.config import Source

    with pytest.raises(ConfigError) as err:
        validate_params(EquationNeuron, fields, Source(), ("populations", "exc", "params"))
    assert err.value.key == f"populations.exc.params.{key}", str(err.value)
    assert fragment in str(err.value)


def test_vectorisable_exp_and_exprel_agree_with_numpy_and_scipy():
    from numba import njit
    from scipy.special import exprel as scipy_exprel

    from biosim.engine.equations.functions import exp, exprel

    @njit(error_model="numpy")
    def both_functions(xs):
        out = np.empty((2, xs.size))
        for i in range(xs.size):
            out[0, i], out[1, i] = exp(xs[i]), exprel(xs[i])
        return out

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-745.0, 709.78, 500_000), rng.uniform(-1.0, 1.0, 500_000),
                        np.linspace(-0.35, 0.35, 10_001)])
    ours, exact = both_functions(x), (np.exp(x), scipy_exprel(x))
    normal = exact[0] > np.finfo(float).tiny
    ulp = np.finfo(float).eps
    assert (np.abs(ours[0] - exact[0])[normal] / exact[0][normal]).max() <= 1.01 * ulp
    assert np.abs(ours[0] - exact[0])[~normal].max() <= 5e-324  # subnormal results: the last bit
    assert (np.abs(ours[1] - exact[1]) / np.abs(exact[1])).max() <= 3 * ulp
    edges = both_functions(np.array([0.0, np.nan, np.inf, -np.inf, 710.0, -746.0]))
    np.testing.assert_array_equal(edges[0], [1.0, np.nan, np.inf, 0.0, np.inf, 0.0])
    np.testing.assert_array_equal(edges[1], [1.0, np.nan, np.inf, 0.0, np.inf, 1.0 / 746.0])


def test_coba_hh_written_as_equations_gives_brian2s_spikes():
    """The COBAHH experiment (its equations unchanged), 800 neurons for 0.2 s: the same spikes on both backends."""
    from biosim.config import load_experiment
    from biosim.networks.spiking.family import build_spiking

    exp, source = load_experiment("experiments/coba_hh.yaml", ["populations.exc.n=640", "populations.inh.n=160",
                                                               "duration='0.2 s'", "monitors.state=[]"])
    runs = both(build_spiking(exp, source), exp.duration)
    for pop in ("exc", "inh"):
        assert runs["biosim"].spikes[pop][0].size > 100
        for k in range(2):
            np.testing.assert_array_equal(runs["biosim"].spikes[pop][k], runs["brian2"].spikes[pop][k])


def test_readme_adex_population_runs_and_gives_brian2s_spikes(tmp_path):
    """The README's hand-written AdEx file: it runs as shipped, and under a step current (inputs off) both
    backends give the same spikes, with spike-frequency adaptation (the second ISI longer than the first)."""
    from pathlib import Path

    from biosim.config import load_experiment
    from biosim.networks.spiking.family import build_spiking

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## Models written as equations", 1)[1]
    (tmp_path / "adex.yaml").write_text(section.split("```yaml\n", 1)[1].split("```", 1)[0])
    exp, source = load_experiment(str(tmp_path / "adex.yaml"), ["duration='0.5 s'", "monitors.state=[]"])
    rec = Simulation(build_spiking(exp, source)).run(exp.duration)
    assert 5.0 < rec.spikes["adex"][0].size / 100 / 0.5 < 80.0
    exp, source = load_experiment(str(tmp_path / "adex.yaml"), [
        "duration='0.5 s'", "monitors.state=[]", "projections={}", "populations.adex.init.v='-70.6 mV'",
        "populations.adex.current=[{at: '0.1 s', value: '0.8 nA'}]"])
    runs = both(build_spiking(exp, source), exp.duration)
    steps = runs["biosim"].spikes["adex"][0][runs["biosim"].spikes["adex"][1] == 0]
    assert steps.size >= 4 and np.diff(steps)[1] > np.diff(steps)[0]
    for k in range(2):
        np.testing.assert_array_equal(runs["biosim"].spikes["adex"][k], runs["brian2"].spikes["adex"][k])
