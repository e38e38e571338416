"""PSPM's kernels: the spike pairing by dynamic programming and one iteration's weight update (issue 12)."""

from __future__ import annotations

import numpy as np
import pytest

from biosim import registry
from biosim.networks.pspm.pairing import pair_spikes
from biosim.networks.pspm.target import PspmRuleKernels
from biosim.rules.pspm import Pspm, PspmControl, PspmParams, pair_window, pspm_update
from biosim.streams import randint


def pair(a, b, w):
    model, target, cost = pair_spikes(np.array(a, np.int64), np.array(b, np.int64), w)
    return model.tolist(), target.tolist(), int(cost)


# -- pairing ------------------------------------------------------------------------------------------------
def test_pairing_of_empty_trains():
    assert pair([], [], 5) == ([], [], 0)
    assert pair([3, 9], [], 5) == ([True, True], [], 12)
    assert pair([], [4], 5) == ([], [True], 6)


def test_all_paired_costs_the_shifts():
    assert pair([10, 20, 30], [12, 19, 35], 5) == ([False] * 3, [False] * 3, 2 + 1 + 5)


def test_shifts_past_the_window_are_unpaired():
    assert pair([10], [16], 5) == ([True], [True], 12)  # 6 > w: two unpaired spikes, 2 (w + 1)
    assert pair([10], [15], 5) == ([False], [False], 5)  # at the window's edge: paired
    assert pair([10, 50], [14, 60], 5) == ([False, True], [False, True], 4 + 12)


def test_ties_pair_the_later_spike():
    # the model spike at 10 is 3 from both target spikes: it pairs with the later one
    assert pair([10], [7, 13], 5) == ([False], [True, False], 3 + 6)
    # the target spike at 5 is 5 from both model spikes: the later one pairs
    assert pair([0, 10], [5], 5) == ([True, False], [False], 6 + 5)
    # no pairing of the last spikes (10, 20): the later model spike is left unpaired before the later target spike
    assert pair([0, 10], [5, 20], 5) == ([False, True], [False, True], 5 + 12)


def test_a_spike_that_could_pair_with_two_takes_the_one_that_frees_the_other():
    # model 10 could pair with 8 or 12; pairing it with 12 lets 3 pair with 8 (window 5): cost 5 + 2
    assert pair([3, 10], [8, 12], 5) == ([False, False], [False, False], 7)


def brute_force_cost(a, b, w):
    """The least cost over every matching (crossing or not) of ``a`` with ``b``: exhaustive."""
    best = (len(a) + len(b)) * (w + 1)

    def search(k, used, cost):
        nonlocal best
        if k == len(a):
            best = min(best, cost + (len(b) - len(used)) * (w + 1))
            return
        search(k + 1, used, cost + w + 1)
        for j, t in enumerate(b):
            if j not in used and abs(a[k] - t) <= w:
                search(k + 1, used | {j}, cost + abs(a[k] - t))

    search(0, frozenset(), 0)
    return best


def test_pairing_cost_is_the_minimum_over_all_matchings():
    rng = np.random.default_rng(7)
    for _ in range(300):
        a = np.sort(rng.choice(40, rng.integers(0, 7), replace=False))
        b = np.sort(rng.choice(40, rng.integers(0, 7), replace=False))
        w = int(rng.integers(0, 10))
        model, target, cost = pair_spikes(a, b, w)
        assert cost == brute_force_cost(a.tolist(), b.tolist(), w)
        # the masks describe a matching of that cost: as many paired on each side, each unpaired costs w + 1
        assert (~model).sum() == (~target).sum()
        shifts = np.abs(a[~model] - b[~target])
        assert (shifts <= w).all()
        assert shifts.sum() + (model.sum() + target.sum()) * (w + 1) == cost


# -- the update: a slow, obvious reference ------------------------------------------------------------------
def reference_update(S, S_ref, W, inhibitory, it, p, rng):
    """Loops over neurons, spikes and presynaptic neurons, in the kernel's draw order."""
    N = W.shape[0]
    w = max(p.w_pair_first - it // p.shrink_every, 0)
    counts = [0, 0, 0, 0]

    def dale(post, pre):
        W[post, pre] = min(W[post, pre], 0.0) if inhibitory[pre] else max(W[post, pre], 0.0)

    for i in range(N):
        a, b = np.flatnonzero(S[:, i]), np.flatnonzero(S_ref[:, i])
        model, target, cost = pair_spikes(a, b, w)
        counts[0] += int((~model).sum())
        counts[1] += int(model.sum())
        counts[2] += int(target.sum())
        counts[3] += int(cost)
        for sign, times, unpaired in ((-1.0, a, model), (1.0, b, target)):
            for t, lonely in zip(times, unpaired, strict=True):
                if not lonely or t <= p.z:
                    continue
                pool = []
                for step in range(t - p.z, t):
                    pool += [x for x in np.flatnonzero(S[step]) if x not in pool]
                for x in pool:
                    q = p.eps * randint(rng, 10)
                    post, pre = (randint(rng, N), randint(rng, N)) if p.control else (i, x)
                    W[post, pre] += sign * q
                    dale(post, pre)
    W += p.c * (int(S_ref.sum()) - int(S.sum()))
    for post in range(N):
        for pre in range(N):
            dale(post, pre)
    return tuple(counts)


def network(seed, N=12, steps=200, rate=0.06):
    """Random model and target rasters (the target a jittered, thinned and padded copy), signed weights."""
    rng = np.random.default_rng(seed)
    inhibitory = np.arange(N) >= N - max(N // 5, 1)
    S = (rng.random((steps, N)) < rate).astype(np.uint8)
    S_ref = np.zeros_like(S)
    t, n = np.nonzero(S)
    keep = rng.random(t.size) < 0.8
    S_ref[np.clip(t[keep] + rng.integers(-4, 5, keep.sum()), 0, steps - 1), n[keep]] = 1
    S_ref[rng.random((steps, N)) < rate / 3] = 1
    W = rng.integers(0, 1000, (N, N)) * 1.5e-6 * np.where(inhibitory, -1.0, 1.0)
    return S, S_ref, W, inhibitory


@pytest.mark.parametrize("rule", [Pspm(), PspmControl()])
def test_the_kernel_equals_the_reference(rule):
    S, S_ref, W, inhibitory = network(1)
    kernels = rule.implementation("numba")
    p = kernels.params._replace(eps=2e-4)  # large enough that some weights clip
    W_kernel, W_ref = W.copy(), W.copy()
    counts = kernels.update(S, S_ref, W_kernel, inhibitory, 20, p, np.random.default_rng(3))
    expected = reference_update(S, S_ref, W_ref, inhibitory, 20, p, np.random.default_rng(3))
    assert tuple(int(c) for c in counts) == expected
    assert min(expected[:3]) > 5  # paired and unpaired spikes of both kinds, so all branches ran
    np.testing.assert_array_equal(W_kernel, W_ref)
    assert (W_kernel != W).mean() > 0.2
    assert ((W_kernel == 0) & (W != 0)).any()  # some clipped to Dale


def test_hand_worked_pools():
    """z = 15: neuron 0's unpaired model spikes at 15 (not > z) and 30; neuron 1 spikes at 14, 20 and 25 (twice in
    [15, 30): one draw), neuron 2 at 30 (not before 30) and 10 (outside [15, 30)); self-connections count."""
    S = np.zeros((40, 3), np.uint8)
    S[[15, 30], 0] = 1
    S[[14, 20, 25], 1] = 1
    S[[10, 30], 2] = 1
    W = np.full((3, 3), 1e-3)
    p = Pspm(c=0.0).implementation("numba").params
    rng = np.random.default_rng(5)
    counts = pspm_update(S, S, W, np.zeros(3, np.bool_), 0, p, rng)  # identical trains: nothing
    assert tuple(int(c) for c in counts) == (7, 0, 0, 0)
    S_ref = S.copy()
    S_ref[:, 0] = 0
    counts = pspm_update(S, S_ref, W, np.zeros(3, np.bool_), 0, p, rng)
    assert tuple(int(c) for c in counts) == (5, 2, 0, 2 * 15)
    expected = np.full((3, 3), 1e-3)
    draws = np.floor(np.random.default_rng(5).random(2) * 10)  # the first call drew nothing
    expected[0, [0, 1]] -= p.eps * draws  # the pool of t = 30: neuron 0 itself (at 15), then neuron 1 (at 20)
    np.testing.assert_array_equal(W, expected)
    W_bool = np.full((3, 3), 1e-3)  # boolean rasters read the same
    pspm_update(S.astype(bool), S_ref.astype(bool), W_bool, np.zeros(3, np.bool_), 0, p, np.random.default_rng(5))
    np.testing.assert_array_equal(W_bool, expected)


def test_dale_holds_after_every_update():
    S, S_ref, W, inhibitory = network(2)
    rng = np.random.default_rng(4)
    for rule in (Pspm(eps=1e-3), PspmControl(eps=1e-3)):
        kernels = rule.implementation("numba")
        W_run = W * 0.01  # small weights, so that many clip
        for it in range(5):
            pspm_update(S, S_ref, W_run, inhibitory, it, kernels.params, rng)
            assert (W_run[:, ~inhibitory] >= 0).all() and (W_run[:, inhibitory] <= 0).all()
        assert (W_run == 0).mean() > 0.02  # clipping was needed


def test_homeostasis_moves_every_weight_by_the_same_amount_before_clipping():
    S, S_ref, W, inhibitory = network(3)
    diff = int(S_ref.sum()) - int(S.sum())
    assert diff != 0
    p = Pspm(eps=0.0, c=3e-4 / abs(diff)).implementation("numba").params
    W_new = W.copy()
    pspm_update(S, S_ref, W_new, inhibitory, 0, p, np.random.default_rng(0))
    shifted = W + p.c * diff
    clipped = np.where(inhibitory, shifted > 0, shifted < 0)  # those that crossed zero against Dale
    assert 0 < clipped.sum() < 0.5 * clipped.size
    np.testing.assert_allclose((W_new - W)[~clipped], p.c * diff, rtol=1e-9, atol=0)
    np.testing.assert_array_equal(W_new[clipped], 0.0)


def test_identical_trains_change_nothing():
    S, _, W, inhibitory = network(4)
    for rule in (Pspm(), PspmControl()):
        W_new = W.copy()
        counts = pspm_update(S, S.copy(), W_new, inhibitory, 0, rule.implementation("numba").params,
                             np.random.default_rng(0))
        assert tuple(int(c) for c in counts) == (int(S.sum()), 0, 0, 0)
        np.testing.assert_array_equal(W_new, W)


# -- the rules ----------------------------------------------------------------------------------------------
def test_rules_plug_into_their_target_with_the_papers_defaults():
    target = registry.get("target", "pspm_weights")
    assert target.implementation is PspmRuleKernels and target.backends == ("numba",)
    for name, cls, control in (("pspm", Pspm, False), ("pspm_control", PspmControl, True)):
        assert registry.get("rule", name) is cls and cls.plugs_into == "pspm_weights"
        kernels = cls().implementation("numba")
        assert isinstance(kernels, PspmRuleKernels) and kernels.update is pspm_update
        assert kernels.params == PspmParams(8e-7, 15, 14, 15, 5e-11, control)


def test_the_pairing_window_shrinks_from_14_to_5_steps_over_150_iterations():
    p = Pspm().implementation("numba").params
    windows = [pair_window(it, p.w_pair_first, p.shrink_every) for it in range(150)]
    assert windows[0] == windows[14] == 14 and windows[15] == 13 and windows[149] == 5
    assert pair_window(10_000, 14, 15) == 0
