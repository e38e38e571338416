"""Monte-Carlo kernels: simulate dendritic segments on random SDRs and count matches (Numba, cache=True).

Each kernel draws everything afresh in every trial (patterns, segment synapses, noise) from the generator it
is given (``rng``, one ``biosim.streams`` stream per study point), and touches only the drawn cells: a trial
costs O(a + s) whatever n is. Random k-subsets come from a partial Fisher-Yates shuffle
(``biosim.streams.partial_shuffle``) of a persistent permutation, which yields a uniform k-subset from any
starting order. ``mark`` is a zeroed uint8 scratch of n cells, left zeroed.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from biosim.streams import partial_shuffle, randint

FORM_SEGMENT, FORM_INPUT = 0, 1  # union forms, as in sdr_theory.union_false_match


@njit(cache=True)
def _set(mark, cells, value):
    for c in cells:
        mark[c] = value


@njit(cache=True)
def _count(mark, cells):
    hits = 0
    for c in cells:
        hits += mark[c]
    return hits


@njit(cache=True)
def false_match_trials(rng, n, a, s, theta, trials):
    """E1: a segment on s random cells, a random a-cell pattern; count trials with >= theta active synapses."""
    perm, mark = np.arange(n, dtype=np.int32), np.zeros(n, np.uint8)
    segment = np.empty(s, np.int32)
    hits = 0
    for _ in range(trials):
        partial_shuffle(rng, perm, s)
        segment[:] = perm[:s]
        _set(mark, segment, 1)
        partial_shuffle(rng, perm, a)
        hits += _count(mark, perm[:a]) >= theta
        _set(mark, segment, 0)
    return hits


@njit(cache=True)
def false_negative_trials(rng, n, a, s, theta, v, trials):
    """E2: learn a random a-cell pattern on a segment of s synapses subsampled from it, then replace v
    of its cells by v cells from outside it; count trials where fewer than theta synapses stay active."""
    perm, mark = np.arange(n, dtype=np.int32), np.zeros(n, np.uint8)
    pattern, segment, added = np.empty(a, np.int32), np.empty(s, np.int32), np.empty(v, np.int32)
    misses = 0
    for _ in range(trials):
        partial_shuffle(rng, perm, a)
        pattern[:] = perm[:a]
        partial_shuffle(rng, pattern, s)
        segment[:] = pattern[:s]
        _set(mark, pattern, 2)  # 2: in the pattern, so not eligible as a noise cell
        partial_shuffle(rng, pattern, v)  # pattern[:v] are the replaced cells, pattern[v:] stay active
        for k in range(v):  # v distinct cells from outside the pattern, by rejection (a << n)
            c = randint(rng, n)
            while mark[c] != 0:
                c = randint(rng, n)
            mark[c] = 3
            added[k] = c
        _set(mark, pattern, 0)
        _set(mark, pattern[v:], 1)
        _set(mark, added, 1)  # the noisy input: kept cells and added cells
        misses += _count(mark, segment) < theta
        _set(mark, pattern, 0)
        _set(mark, added, 0)
    return misses


@njit(cache=True)
def union_trials(rng, n, a, s, theta, m, form, trials):
    """E3: ``FORM_SEGMENT``: one segment holds the synapses of m patterns (m random s-cell subsamples,
    coinciding synapses merge), probed by a random a-cell pattern; ``FORM_INPUT``: the input is the union
    of m random a-cell patterns, seen by a segment on s random cells. Counts false matches."""
    perm, mark = np.arange(n, dtype=np.int32), np.zeros(n, np.uint8)
    grown, other = (s, a) if form == FORM_SEGMENT else (a, s)
    union = np.empty(m * grown, np.int32)
    hits = 0
    for _ in range(trials):
        size = 0
        for _p in range(m):
            partial_shuffle(rng, perm, grown)
            for c in perm[:grown]:
                if mark[c] == 0:
                    mark[c] = 1
                    union[size] = c
                    size += 1
        partial_shuffle(rng, perm, other)
        hits += _count(mark, perm[:other]) >= theta
        _set(mark, union[:size], 0)
    return hits


@njit(cache=True)
def classifier_trials(rng, n, w, theta, m, trials):
    """E4: m stored random w-cell patterns, a random w-cell probe; count probes matching any stored one."""
    perm, mark = np.arange(n, dtype=np.int32), np.zeros(n, np.uint8)
    stored, probe = np.empty((m, w), np.int32), np.empty(w, np.int32)
    hits = 0
    for _ in range(trials):
        for p in range(m):
            partial_shuffle(rng, perm, w)
            stored[p] = perm[:w]
        partial_shuffle(rng, perm, w)
        probe[:] = perm[:w]
        _set(mark, probe, 1)
        for p in range(m):
            if _count(mark, stored[p]) >= theta:
                hits += 1
                break
        _set(mark, probe, 0)
    return hits
