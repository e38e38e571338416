"""Numba kernels of the built-in ``dendritic_segments`` rules (``biosim.rules.dendritic_segments``), on the
segment store of ``segments``; each reads its rule's parameter record by name. Contract: ``target``."""

from __future__ import annotations

from numba import njit

from biosim.networks.dendritic.segments import adapt, grow_synapses


@njit(cache=True)
def permanence_learn(st, seg, prev_active, winners, n_winners, n_active_potential, p, max_synapses, scratch, rng):
    """``htm_permanence``: reinforce synapses from previously active cells, weaken and prune the others, then
    grow towards previous winners up to ``p.max_new`` active potential synapses."""
    adapt(st, seg, prev_active, p.increment, p.decrement, 0.0)
    if p.max_new > n_active_potential:
        grow_synapses(st, seg, winners, n_winners, p.max_new - n_active_potential, p.initial, max_synapses, scratch,
                      rng)


@njit(cache=True)
def permanence_punish(st, seg, prev_active, p):
    """``htm_permanence``: a wrongly predicting segment's synapses from active cells lose ``p.predicted_decrement``."""
    if p.predicted_decrement > 0.0:
        adapt(st, seg, prev_active, -p.predicted_decrement, 0.0, 0.0)


@njit(cache=True)
def one_shot_learn(st, seg, prev_active, winners, n_winners, n_active_potential, p, max_synapses, scratch, rng):
    """``one_shot_segments``: grow towards previous winners at ``p.permanence``; nothing else changes."""
    if p.max_new > n_active_potential:
        grow_synapses(st, seg, winners, n_winners, p.max_new - n_active_potential, p.permanence, max_synapses,
                      scratch, rng)


@njit(cache=True)
def no_punish(st, seg, prev_active, p):
    """Rules that never punish."""
