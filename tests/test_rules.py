"""Each plasticity rule against a slow, obvious reference on recorded spike trains.

The network: Poisson spike generators (pre) onto LIF neurons (post) through the plastic projection;
post spikes are forced by a teacher generator (teacher spikes that hit a refractory neuron are
lost, so the post trains include that edge case), and some pre spikes are placed on the same step
as post spikes. The reference recomputes every weight from the recorded spike times with explicit
sums of exponentials, processing a simultaneous pre and post spike as pre first (Brian2's order).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import poisson_times

from biosim.engine.connectors import AllToAll, OneToOne
from biosim.engine.network import Network
from biosim.engine.neurons import LIFCuba
from biosim.engine.simulation import Simulation
from biosim.engine.sources import SpikeGenerator
from biosim.rules.spiking_projection.rstdp import RewardSTDP
from biosim.rules.spiking_projection.stdp import STDP
from biosim.rules.spiking_projection.triplet import PRESETS, TripletSTDP

DT, DURATION, N_PRE, N_POST, W_MAX = 1e-4, 2.0, 12, 3, 1e-4


def spike_trains(rng, coincide=True):
    pre = [poisson_times(rng, 20.0, DURATION, 1e-4) for _ in range(N_PRE)]
    teacher = [poisson_times(rng, 15.0, DURATION, 1e-4) for _ in range(N_POST)]
    if coincide:  # a teacher spike at t makes the post neuron fire at t + dt: put pre spikes of neuron 0 there
        pre[0] = np.union1d(pre[0], np.round(teacher[0][:10] / 1e-4 + 1) * 1e-4)
    return pre, teacher


def generator(trains):
    times = np.concatenate(trains)
    indices = np.concatenate([np.full(len(t), k) for k, t in enumerate(trains)])
    return SpikeGenerator(times=times.tolist(), indices=indices.tolist())


def simulate(rule, rng, *, delay=0.0, dt=DT, modulator=None, coincide=True):
    pre, teacher = spike_trains(rng, coincide)
    net = Network(dt=dt, seed=0)
    net.add_population("pre", N_PRE, generator(pre))
    net.add_population("teacher", N_POST, generator(teacher))
    net.add_population("post", N_POST, LIFCuba(t_ref=3e-3, e_l=-70e-3, v_reset=-70e-3))
    net.connect("teacher", "post", target="v", connector=OneToOne(), weight=40e-3)
    if modulator is not None:
        net.add_population("dopamine", 1, generator([modulator]))
    w0 = np.random.default_rng(5).uniform(0.2 * W_MAX, 0.8 * W_MAX, N_PRE * N_POST)
    net.connect("pre", "post", target="ge", connector=AllToAll(), weight=w0, delay=delay, rule=rule,
                modulator="dopamine" if modulator is not None else None, name="plastic")
    net.record_spikes("pre", "post")
    sim = Simulation(net)
    rec = sim.run(DURATION)
    steps = {pop: (np.rint(t / dt).astype(np.int64), i) for pop, (t, i) in rec.spikes.items()}
    return sim.net.projections["plastic"].weights.reshape(N_PRE, N_POST), w0.reshape(N_PRE, N_POST), steps


def trains_of(steps, pop, n):
    s, i = steps[pop]
    return [np.sort(s[i == k]) for k in range(n)]


def trace(times, t, tau_steps, nearest, inclusive):
    """Trace at step t from spikes strictly before t (or up to t when ``inclusive``)."""
    prior = times[times <= t] if inclusive else times[times < t]
    if prior.size == 0:
        return 0.0
    if nearest:
        return math.exp(-(t - prior[-1]) / tau_steps)
    return float(np.exp(-(t - prior) / tau_steps).sum())


def events(pre, post):
    """(step, kind) in processing order: pre (0) before post (1) within a step."""
    return sorted([(t, 0) for t in pre] + [(t, 1) for t in post])


def replay(rule, w0, pre_trains, post_trains, change):
    """Every synapse's weight after replaying its spike pairs; ``change(kind, t, w, pre, post)`` is
    the weight change of one event, and the result is clipped to the rule's bounds."""
    w = w0.copy()
    for i, pre in enumerate(pre_trains):
        for j, post in enumerate(post_trains):
            x = w[i, j]
            for t, kind in events(pre, post):
                x = min(max(x + change(kind, t, x, pre, post), rule.w_min), rule.w_max)
            w[i, j] = x
    return w


def reference_stdp(rule: STDP, w0, pre_trains, post_trains, dt):
    nearest = rule.pairing == "nearest"
    mu = 0.0 if rule.weight_dependence == "additive" else rule.mu
    tp, tm = rule.tau_plus / dt, rule.tau_minus / dt

    def change(kind, t, x, pre, post):
        if kind == 0:
            f = 1.0 if mu == 0 else (x / rule.w_max) ** mu
            return -rule.a_minus * rule.w_max * f * trace(post, t, tm, nearest, inclusive=False)
        f = 1.0 if mu == 0 else ((rule.w_max - x) / rule.w_max) ** mu
        return rule.a_plus * rule.w_max * f * trace(pre, t, tp, nearest, inclusive=True)

    return replay(rule, w0, pre_trains, post_trains, change)


def reference_triplet(rule: TripletSTDP, w0, pre_trains, post_trains, dt):
    near = rule.pairing == "nearest"
    tau = {k: getattr(rule, k) / dt for k in ("tau_plus", "tau_minus", "tau_x", "tau_y")}

    def change(kind, t, x, pre, post):
        if kind == 0:
            o1 = trace(post, t, tau["tau_minus"], near, inclusive=False)
            r2 = trace(pre, t, tau["tau_x"], near, inclusive=False)
            return -rule.w_max * o1 * (rule.a2_minus + rule.a3_minus * r2)
        r1 = trace(pre, t, tau["tau_plus"], near, inclusive=True)
        o2 = trace(post, t, tau["tau_y"], near, inclusive=False)
        return rule.w_max * r1 * (rule.a2_plus + rule.a3_plus * o2)

    return replay(rule, w0, pre_trains, post_trains, change)


STDP_VARIANTS = [
    STDP(w_max=W_MAX),
    STDP(w_max=W_MAX, pairing="nearest", a_plus=0.02, tau_minus=30e-3),
    STDP(w_max=W_MAX, weight_dependence="multiplicative", mu=1.0),
    STDP(w_max=W_MAX, weight_dependence="multiplicative", mu=0.4, pairing="nearest"),
]


@pytest.mark.parametrize("rule", STDP_VARIANTS, ids=lambda r: f"{r.weight_dependence}-{r.pairing}-mu{r.mu}")
@pytest.mark.parametrize("delay", [0.0, 1.5e-3, "heterogeneous"])
def test_pair_stdp_matches_reference(rule, delay, rng):
    if delay == "heterogeneous":
        delay = np.random.default_rng(9).integers(0, 40, N_PRE * N_POST) * DT
    w, w0, steps = simulate(rule, rng, delay=delay)
    pre, post = trains_of(steps, "pre", N_PRE), trains_of(steps, "post", N_POST)
    assert sum(map(len, post)) > 40 and len(np.intersect1d(pre[0], post[0])) >= 5  # coincident spikes exist
    np.testing.assert_allclose(w, reference_stdp(rule, w0, pre, post, DT), rtol=0, atol=1e-12 * W_MAX)
    assert np.abs(w - w0).max() > 1e-3 * W_MAX  # learning happened


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_triplet_matches_reference(preset, rng):
    rule = TripletSTDP(preset=preset, w_max=W_MAX)
    w, w0, steps = simulate(rule, rng, delay=1e-3)
    pre, post = trains_of(steps, "pre", N_PRE), trains_of(steps, "post", N_POST)
    np.testing.assert_allclose(w, reference_triplet(rule, w0, pre, post, DT), rtol=0, atol=1e-12 * W_MAX)
    assert np.abs(w - w0).max() > 1e-4 * W_MAX


def test_triplet_presets_fill_fields_and_explicit_values_win():
    rule = TripletSTDP(preset="hippocampal_all_to_all_full", w_max=1.0, a3_plus=0.5)
    assert rule.tau_x == pytest.approx(0.946) and rule.tau_y == pytest.approx(0.027)
    assert rule.a3_plus == 0.5 and rule.a2_minus == pytest.approx(1.6e-3)
    with pytest.raises(ValueError, match="did you mean 'visual_cortex_nearest_full'"):
        TripletSTDP(preset="visual_cortex_nearest_ful", w_max=1.0)


def test_triplet_reduces_to_pair_stdp():
    """With a3 = 0 and equal time constants, triplet STDP is pair STDP."""
    pair = STDP(w_max=W_MAX, tau_plus=16.8e-3, tau_minus=33.7e-3, a_plus=5e-3, a_minus=7e-3)
    triplet = TripletSTDP(w_max=W_MAX, tau_plus=16.8e-3, tau_minus=33.7e-3, a2_plus=5e-3, a3_plus=0.0,
                          a2_minus=7e-3, a3_minus=0.0)
    w_pair = simulate(pair, np.random.default_rng(1))[0]
    w_triplet = simulate(triplet, np.random.default_rng(1))[0]
    np.testing.assert_allclose(w_pair, w_triplet, rtol=0, atol=1e-15)


def test_reward_stdp_matches_reference(rng):
    rule = RewardSTDP(w_max=W_MAX, tau_e=0.3, tau_d=0.1, eta=50.0, dopamine=1.0)
    dopamine = np.array([0.3, 0.7, 1.1, 1.5])
    w, w0, steps = simulate(rule, rng, modulator=dopamine)
    pre, post = trains_of(steps, "pre", N_PRE), trains_of(steps, "post", N_POST)
    n_steps = round(DURATION / DT)
    # reference: per-step dense update with explicit eligibility increments
    e = np.zeros_like(w0)
    ref = w0.copy()
    level = 0.0
    de, dd = math.exp(-DT / rule.tau_e), math.exp(-DT / rule.tau_d)
    dopamine_steps = set(np.rint(dopamine / DT).astype(int))
    pre_sets, post_sets = [set(p) for p in pre], [set(p) for p in post]
    for t in range(n_steps):
        for i in range(N_PRE):
            if t in pre_sets[i]:
                for j in range(N_POST):
                    e[i, j] -= rule.a_minus * W_MAX * trace(post[j], t, rule.tau_minus / DT, False, False)
        for j in range(N_POST):
            if t in post_sets[j]:
                for i in range(N_PRE):
                    e[i, j] += rule.a_plus * W_MAX * trace(pre[i], t, rule.tau_plus / DT, False, True)
        level = level * dd + (1.0 if t in dopamine_steps else 0.0)
        e *= de
        ref = np.clip(ref + rule.eta * DT * level * e, 0.0, W_MAX)
    np.testing.assert_allclose(w, ref, rtol=0, atol=1e-12 * W_MAX)
    assert np.abs(w - w0).max() > 1e-3 * W_MAX


def test_no_modulator_no_learning(rng):
    """R-STDP without reward leaves weights untouched (eligibility alone does not change w)."""
    rule = RewardSTDP(w_max=W_MAX)
    w, w0, _ = simulate(rule, rng, modulator=np.array([]))
    np.testing.assert_array_equal(w, w0)


@pytest.mark.parametrize("rule", [STDP(w_max=W_MAX), TripletSTDP(preset="visual_cortex_nearest_full", w_max=W_MAX)],
                         ids=["stdp", "triplet"])
def test_dt_robustness(rule):
    """Final weights at dt = 0.1 ms and 0.01 ms, same input spike times (on the 0.1 ms grid).

    The post neuron fires one step after its teacher spike, i.e. 0.09 ms earlier at the finer dt: every
    pair lag shifts by 0.09 ms (0.5% of tau), and a pair whose lag straddles zero flips between LTP and
    LTD (the window is discontinuous at 0). Stated tolerances, in units of w_max, against a mean learned
    change of about 3%: median |difference| <= 0.25%, mean <= 0.6%, max <= 4% (a few zero-lag flips).
    """
    w_coarse, w0 = simulate(rule, np.random.default_rng(3), dt=1e-4, coincide=False)[:2]
    w_fine = simulate(rule, np.random.default_rng(3), dt=1e-5, coincide=False)[0]
    diff = np.abs(w_fine - w_coarse) / W_MAX
    assert np.abs(w_coarse - w0).mean() > 0.02 * W_MAX
    assert np.median(diff) <= 2.5e-3 and diff.mean() <= 6e-3 and diff.max() <= 0.04
