"""Plasticity written as Brian2 Synapses equations: pair and triplet STDP as equations give the hand-written
kernels' spikes and weights (1e-12), on both backends; wrong rules get one clear error naming the key."""

from __future__ import annotations

import numpy as np
import pytest
from test_brian2 import assert_plasticity_agrees, song_network

from biosim.config import Source, load_experiment, validate_params
from biosim.engine.connectors import AllToAll
from biosim.engine.network import Network
from biosim.engine.neurons import LIFCoba
from biosim.engine.simulation import Simulation
from biosim.engine.sources import SpikeGenerator
from biosim.errors import ConfigError
from biosim.networks.spiking.family import build_spiking
from biosim.rules.spiking_projection.equations import EquationRule
from biosim.rules.spiking_projection.stdp import STDP
from biosim.rules.spiking_projection.triplet import TripletSTDP

TRACES = """w : 1
dapre/dt = -apre / tau_plus : 1 (event-driven)
dapost/dt = -apost / tau_minus : 1 (event-driven)"""
PAIR = EquationRule(equations=TRACES, on_pre="apre += 1\nw = clip(w - a_minus * w_max * apost, 0, w_max)",
                    on_post="apost += 1\nw = clip(w + a_plus * w_max * apre, 0, w_max)",
                    parameters={"tau_plus": "20 ms", "tau_minus": "20 ms", "a_plus": 0.01, "a_minus": 0.0105,
                                "w_max": 0.05})
# nearest-spike pairing (a trace reset to 1) and soft bounds; the statement order puts the bump after the update
NEAREST = EquationRule(equations=TRACES,
                       on_pre="w = clip(w - a_minus * w_max * (w / w_max)**mu * apost, 0, w_max)\napre = 1",
                       on_post="w = clip(w + a_plus * w_max * ((w_max - w) / w_max)**mu * apre, 0, w_max)\napost = 1",
                       parameters={"tau_plus": "20 ms", "tau_minus": "20 ms", "a_plus": 0.01, "a_minus": 0.0105,
                                   "w_max": 0.05, "mu": 1.0})
TRIPLET = EquationRule(
    equations="""w : 1
                 dr1/dt = -r1 / tau_plus : 1 (event-driven)
                 dr2/dt = -r2 / tau_x : 1 (event-driven)
                 do1/dt = -o1 / tau_minus : 1 (event-driven)
                 do2/dt = -o2 / tau_y : 1 (event-driven)""",
    on_pre="w = clip(w - w_max * o1 * (a2_minus + a3_minus * r2), 0, w_max); r1 += 1; r2 += 1",
    on_post="w = clip(w + w_max * r1 * (a2_plus + a3_plus * o2), 0, w_max); o1 += 1; o2 += 1",
    parameters={"tau_plus": "16.8 ms", "tau_minus": "33.7 ms", "tau_x": "101 ms", "tau_y": "114 ms",
                "a2_plus": 0.0, "a3_plus": 6.5e-3, "a2_minus": 7.1e-3, "a3_minus": 0.0, "w_max": 0.05})
PAIRS = {
    "pair": (STDP(w_max=0.05, a_plus=0.01, a_minus=0.0105), PAIR),
    "nearest-multiplicative": (STDP(w_max=0.05, weight_dependence="multiplicative", pairing="nearest"), NEAREST),
    "triplet": (TripletSTDP(preset="visual_cortex_all_to_all_minimal", w_max=0.05), TRIPLET),
}


@pytest.mark.parametrize("case", PAIRS)
def test_stdp_written_as_equations_gives_the_hand_written_weights(case):
    hand, written = PAIRS[case]
    runs = [Simulation(song_network(rule)[0]).run(2.0) for rule in (hand, written)]
    assert runs[0].spikes["neuron"][0].size > 20
    np.testing.assert_array_equal(runs[0].spikes["neuron"][0], runs[1].spikes["neuron"][0])
    w0 = song_network(hand)[1]
    w_hand, w_written = (run.weights["syn"]["w"][-1] for run in runs)
    assert np.abs(w_hand - w0).max() > 1e-3
    np.testing.assert_allclose(w_written, w_hand, rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", PAIRS)
def test_equation_rules_agree_with_brian2_on_the_same_text(case):
    assert_plasticity_agrees(PAIRS[case][1])


# Izhikevich (2007)-style eligibility: STDP moves a per-synapse tag c, which decays (clock-driven) and drives w
ELIGIBILITY = EquationRule(
    equations=TRACES.replace("w : 1", "dw/dt = eta * c / tau_c : 1 (clock-driven)")
    + "\ndc/dt = -c / tau_c : 1 (clock-driven)",
    on_pre="apre += 1\nc += -a_minus * apost", on_post="apost += 1\nc += a_plus * apre",
    parameters={"tau_plus": "20 ms", "tau_minus": "20 ms", "tau_c": "200 ms", "a_plus": 0.01, "a_minus": 0.012,
                "eta": 0.05})


@pytest.mark.parametrize("method", [None, "euler", "rk4"])
def test_clock_driven_synaptic_dynamics_agree_with_brian2(method):
    """Clock-driven per-synapse variables (an eligibility tag and the weight it drives), integrated every step
    by Brian2's state updater of the same text: weights equal to 1e-12 on both backends."""
    assert_plasticity_agrees(ELIGIBILITY.model_copy(update={"method": method}), min_change=1e-4)


def test_clock_driven_decay_without_spikes_is_exact():
    """No spikes at all: dw/dt = -w / tau integrated exactly leaves w0 exp(-T / tau)."""
    rule = EquationRule(equations="dw/dt = -w / tau : 1 (clock-driven)", method="exact",
                        parameters={"tau": "50 ms"})
    net = Network(dt=1e-4, seed=1)
    net.add_population("inputs", 3, SpikeGenerator(times=[], indices=[]))
    net.add_population("neuron", 1, LIFCoba())
    net.connect("inputs", "neuron", target="ge", connector=AllToAll(), weight=[0.1, 0.2, 0.3], rule=rule,
                name="syn")
    net.record_weights("syn", every=0.1)
    rec = Simulation(net).run(0.1)
    np.testing.assert_allclose(rec.weights["syn"]["w"][-1], np.array([0.1, 0.2, 0.3]) * np.exp(-2.0), rtol=1e-12)


def test_two_equation_rules_in_one_network_each_run_their_own_kernels():
    """Pair STDP onto one neuron and triplet STDP onto another, in one network: each projection's weights are
    those it reaches alone."""
    def network(rules: dict) -> Network:
        net, w0 = song_network(STDP(w_max=0.05))
        for name, rule in rules.items():
            net.add_population(f"post_{name}", 1, LIFCoba(tau_m=10e-3, v_th=-54e-3, v_reset=-60e-3, e_l=-74e-3))
            net.connect("inputs", f"post_{name}", target="ge", connector=AllToAll(), weight=w0, rule=rule,
                        name=name)
            net.record_weights(name, every=2.0)
        return net

    rules = {"pair": PAIR, "triplet": TRIPLET}
    together = Simulation(network(rules)).run(2.0)
    for name, rule in rules.items():
        alone = Simulation(network({name: rule})).run(2.0)
        np.testing.assert_array_equal(together.weights[name]["w"][-1], alone.weights[name]["w"][-1])
    assert not np.array_equal(together.weights["pair"]["w"][-1], together.weights["triplet"]["w"][-1])


def test_a_rule_object_with_the_wrong_weight_unit_is_refused_by_connect():
    rule = EquationRule(equations="w : volt\ndapre/dt = -apre / tau : 1 (event-driven)", on_pre="apre += 1",
                        parameters={"tau": "20 ms"})
    net, _ = song_network(STDP(w_max=0.05))
    with pytest.raises(ConfigError, match="'w' is declared in voltage but the projection's target takes weights "
                                          "in dimensionless"):
        net.connect("inputs", "neuron", target="ge", connector=AllToAll(), weight=0.01, rule=rule, name="bad")


def test_per_synapse_variables_are_kept_per_synapse():
    """A variable without dynamics lives in each synapse: here it counts the synapse's presynaptic spikes."""
    rule = EquationRule(equations=TRACES + "\ncount : 1", on_pre="apre += 1\ncount += 1",
                        on_post="apost += 1", parameters={"tau_plus": "20 ms", "tau_minus": "20 ms"})
    net, _ = song_network(rule)
    sim = Simulation(net)
    sim.run(2.0)
    (proj,) = sim.net.projections.values()
    counts = np.bincount(net.populations["inputs"].model.indices, minlength=200)
    np.testing.assert_array_equal(proj.plasticity["syn"][0], counts)


WRONG = {
    "unknown name": (dict(on_post="w = clip(w + apre, 0, w_maxx)"), "on_post",
                     "unknown name 'w_maxx' (did you mean 'w_max'?)"),
    "statement units": (dict(on_post="w += tau_plus"), "on_post", "w is in 1 (dimensionless) but 'tau_plus' is in s"),
    "rate unit": (dict(equations="w : 1\ndapre/dt = -apre : 1 (event-driven)"), "equations",
                  "a rate: divide by a time constant?"),
    "no weight": (dict(equations="dapre/dt = -apre / tau_plus : 1 (event-driven)"), "equations",
                  "declare the synaptic weight as 'w : <unit>'"),
    "both sides": (dict(on_post="apre += 1"), "on_post", "apre is changed also in on_pre"),
    "not a constant bump": (dict(on_pre="apre += w"), "on_pre", "changed by one kind of spike by a constant"),
    "not a trace": (dict(equations="w : 1\ndapre/dt = (1 - apre) / tau_plus : 1 (event-driven)"), "equations",
                    "compiles an event-driven variable as a trace"),
    "no flag": (dict(equations="w : 1\ndapre/dt = -apre / tau_plus : 1"), "equations",
                "mark it '(event-driven)' (integrated between spikes) or '(clock-driven)'"),
    "trace in clock-driven": (dict(equations="w : 1\ndapre/dt = -apre / tau_plus : 1 (event-driven)\n"
                                             "dc/dt = (apre - c) / tau_plus : 1 (clock-driven)"), "equations",
                              "should not depend on the event-driven variable 'apre'"),
    "unknown method": (dict(method="rk5"), "method", "unknown method 'rk5' (did you mean 'rk4'?)"),
    "neuron variable": (dict(on_pre="apre += 1\nv_post += w"), "on_pre", "the rule cannot read 'v_post'"),
    "random": (dict(on_pre="apre += rand()"), "on_pre", "rand() is not available"),
    "bad unit": (dict(parameters={"tau_plus": "20 mss", "w_max": 0.05}), "parameters.tau_plus",
                 "unknown unit 'mss'"),
    "negative tau": (dict(parameters={"tau_plus": "-20 ms", "w_max": 0.05}), "parameters", "must be > 0"),
    "weight unit": (dict(equations="w : volt\ndapre/dt = -apre / tau_plus : 1 (event-driven)",
                         on_pre="apre += 1", on_post=""), "equations", "'w' is declared in voltage but the "
                                                                        "projection's target takes weights in "
                                                                        "dimensionless"),
}


@pytest.mark.parametrize("case", WRONG)
def test_wrong_rules_get_one_clear_error(case):
    changes, key, fragment = WRONG[case]
    fields = {"equations": "w : 1\ndapre/dt = -apre / tau_plus : 1 (event-driven)",
              "on_pre": "apre += 1", "on_post": "w = clip(w + apre, 0, w_max)",
              "parameters": {"tau_plus": "20 ms", "w_max": 0.05}} | changes
    with pytest.raises(ConfigError) as err:
        validate_params(EquationRule, fields, Source(), ("projections", "p", "rule"),
                        {"weight_dimension": "dimensionless"})
    assert err.value.key == f"projections.p.rule.{key}", str(err.value)
    assert fragment in str(err.value)


def test_song_demo_with_its_rule_written_as_equations_gives_the_same_weights():
    """``stdp_song2000_equations.yaml`` differs from the demo in its rule key only: same spikes, same weights."""
    runs = []
    for name in ("stdp_song2000", "stdp_song2000_equations"):
        exp, source = load_experiment(f"experiments/{name}.yaml", ["duration='3 s'", "monitors.state=[]"])
        runs.append(Simulation(build_spiking(exp, source)).run(exp.duration))
    assert runs[1].spikes["neuron"][0].size > 20
    np.testing.assert_array_equal(runs[0].spikes["neuron"][0], runs[1].spikes["neuron"][0])
    np.testing.assert_allclose(runs[1].weights["inputs_neuron"]["w"], runs[0].weights["inputs_neuron"]["w"],
                               rtol=0, atol=1e-12)
