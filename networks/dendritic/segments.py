"""Dendritic SDR neurons: cells with many distal segments, each a set of permanence synapses onto
presynaptic cells (Hawkins & Ahmad 2016). A segment is active (an NMDA spike) when at least
``activation_threshold`` of its connected synapses (permanence >= ``connected``) see active cells, and
matching when at least ``min_threshold`` of all its synapses do; a cell with an active segment is
predictive.

Storage is a ``Segments`` tuple of arrays, so creating and destroying segments and synapses is O(1) and
computing activity reads, for each active presynaptic cell, one contiguous block:
* segments of a cell: ``cell_head`` -> ``seg_next``; synapses of a segment: ``seg_head`` -> ``syn_next``;
* synapses from a presynaptic cell: the block ``pool_*[pre_start : pre_start + pre_len]`` (synapse id,
  segment, permanence), which moves to a block twice as large at the pool's top when full (amortised
  O(1)); ``syn_slot`` is a synapse's position there, and removal moves the block's last entry into it;
* freed segments and synapses are chained through ``seg_next`` / ``syn_next`` from ``free[FREE_SEG]`` /
  ``free[FREE_SYN]``; ``free[N_FREE_SEG]``, ``free[N_FREE_SYN]`` count them.
Capacity grows (and the pool is compacted) between compiled calls (``grow``) when a step could run out.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from biosim.streams import partial_shuffle

NONE = -1
FREE_SEG, FREE_SYN, N_FREE_SEG, N_FREE_SYN, CLOCK, POOL_TOP, LONGEST = range(7)
MIN_BLOCK = 4


class Segments(NamedTuple):
    cell_head: np.ndarray  # int32[cells]: first segment of each cell, or NONE
    cell_count: np.ndarray  # int32[cells]: segments per cell
    pre_start: np.ndarray  # int64[cells]: start of each presynaptic cell's block in the pool
    pre_len: np.ndarray  # int32[cells]: synapses in the block
    pre_cap: np.ndarray  # int32[cells]: capacity of the block
    seg_cell: np.ndarray  # int32[S]: owner cell (NONE when free)
    seg_next: np.ndarray  # int32[S]: next segment of the same cell, or next free segment
    seg_head: np.ndarray  # int32[S]: first synapse of the segment
    seg_count: np.ndarray  # int32[S]: synapses on the segment
    seg_used: np.ndarray  # int64[S]: clock value when it was last active or created (least-recently-used)
    syn_seg: np.ndarray  # int32[N]: segment of the synapse (NONE when free)
    syn_pre: np.ndarray  # int32[N]: presynaptic cell
    syn_next: np.ndarray  # int32[N]: next synapse of the same segment, or next free synapse
    syn_slot: np.ndarray  # int64[N]: position in the pool
    pool_syn: np.ndarray  # int32[P]: synapse ids, by presynaptic block
    pool_seg: np.ndarray  # int32[P]: their segments
    pool_perm: np.ndarray  # float32[P]: their permanences in [0, 1]
    free: np.ndarray  # int64[7]: free-list heads and counts, the clock, the pool's top, the longest block


def _chain(n: int, start: int = 0) -> np.ndarray:
    """Free list start..start+n-1 linked in order, ending with NONE."""
    nxt = np.arange(start + 1, start + n + 1, dtype=np.int32)
    nxt[-1] = NONE
    return nxt


def empty(cells: int, segments: int = 1024, synapses: int = 16384) -> Segments:
    """A store for ``cells`` cells with room for ``segments`` segments and ``synapses`` synapses."""
    return Segments(
        cell_head=np.full(cells, NONE, np.int32), cell_count=np.zeros(cells, np.int32),
        pre_start=np.zeros(cells, np.int64), pre_len=np.zeros(cells, np.int32), pre_cap=np.zeros(cells, np.int32),
        seg_cell=np.full(segments, NONE, np.int32), seg_next=_chain(segments),
        seg_head=np.full(segments, NONE, np.int32),
        seg_count=np.zeros(segments, np.int32), seg_used=np.zeros(segments, np.int64),
        syn_seg=np.full(synapses, NONE, np.int32), syn_pre=np.zeros(synapses, np.int32),
        syn_next=_chain(synapses), syn_slot=np.zeros(synapses, np.int64),
        pool_syn=np.zeros(2 * synapses, np.int32), pool_seg=np.zeros(2 * synapses, np.int32),
        pool_perm=np.zeros(2 * synapses, np.float32),
        free=np.array([0, 0, segments, synapses, 0, 0, 0], np.int64))


def grow(store: Segments, min_free_segments: int, min_free_synapses: int) -> Segments:
    """Return ``store`` with at least the given numbers of free segments and synapses (doubling), and a
    pool with room for that many new synapses even if each one moves the longest block."""
    segments, synapses = store.seg_cell.size, store.syn_seg.size
    add_seg = max(0, min_free_segments - int(store.free[N_FREE_SEG]))
    add_syn = max(0, min_free_synapses - int(store.free[N_FREE_SYN]))
    add_seg = max(add_seg, segments) if add_seg else 0
    add_syn = max(add_syn, synapses) if add_syn else 0
    free = store.free.copy()
    fields = store._asdict()
    if add_seg:
        nxt = _chain(add_seg, segments)
        nxt[-1] = free[FREE_SEG] if free[N_FREE_SEG] else NONE
        fields.update(seg_cell=np.concatenate([store.seg_cell, np.full(add_seg, NONE, np.int32)]),
                      seg_next=np.concatenate([store.seg_next, nxt]),
                      seg_head=np.concatenate([store.seg_head, np.full(add_seg, NONE, np.int32)]),
                      seg_count=np.concatenate([store.seg_count, np.zeros(add_seg, np.int32)]),
                      seg_used=np.concatenate([store.seg_used, np.zeros(add_seg, np.int64)]))
        free[FREE_SEG], free[N_FREE_SEG] = segments, free[N_FREE_SEG] + add_seg
    if add_syn:
        nxt = _chain(add_syn, synapses)
        nxt[-1] = free[FREE_SYN] if free[N_FREE_SYN] else NONE
        fields.update(syn_seg=np.concatenate([store.syn_seg, np.full(add_syn, NONE, np.int32)]),
                      syn_pre=np.concatenate([store.syn_pre, np.zeros(add_syn, np.int32)]),
                      syn_next=np.concatenate([store.syn_next, nxt]),
                      syn_slot=np.concatenate([store.syn_slot, np.zeros(add_syn, np.int64)]))
        free[FREE_SYN], free[N_FREE_SYN] = synapses, free[N_FREE_SYN] + add_syn
    fields["free"] = free
    grown = Segments(**fields)  # the old store must not be used any more: some arrays are shared
    room = min_free_synapses * (2 * int(free[LONGEST]) + MIN_BLOCK)
    if free[POOL_TOP] + room > grown.pool_syn.size:
        size = max(2 * (int(grown.pre_cap.sum()) + room), grown.pool_syn.size)
        pool = np.zeros(size, np.int32), np.zeros(size, np.int32), np.zeros(size, np.float32)
        free[POOL_TOP] = _compact(grown, *pool)  # rewrites pre_start and syn_slot of ``grown``
        grown = grown._replace(pool_syn=pool[0], pool_seg=pool[1], pool_perm=pool[2])
    return grown


@njit(cache=True)
def _compact(st, pool_syn, pool_seg, pool_perm):
    """Copy every presynaptic block, in cell order and at its capacity, into the new pool arrays (updating
    ``pre_start`` and ``syn_slot``); returns the new top."""
    top = 0
    for cell in range(st.pre_start.shape[0]):
        start = st.pre_start[cell]
        for k in range(st.pre_len[cell]):
            syn = st.pool_syn[start + k]
            pool_syn[top + k], pool_seg[top + k], pool_perm[top + k] = syn, st.pool_seg[start + k], st.pool_perm[
                start + k]
            st.syn_slot[syn] = top + k
        st.pre_start[cell] = top
        top += st.pre_cap[cell]
    return top


@njit(cache=True)
def permanence(st, syn):
    return st.pool_perm[st.syn_slot[syn]]


# -- synapses ---------------------------------------------------------------------------------------
@njit(cache=True)
def create_synapse(st, seg, pre, perm):
    if st.free[N_FREE_SYN] == 0 or st.free[POOL_TOP] + max(MIN_BLOCK, 2 * st.pre_len[pre]) > st.pool_syn.shape[0]:
        raise MemoryError("segment store full: call grow() between compiled calls")
    syn = st.free[FREE_SYN]
    st.free[FREE_SYN] = st.syn_next[syn]
    st.free[N_FREE_SYN] -= 1
    st.syn_seg[syn], st.syn_pre[syn] = seg, pre
    st.syn_next[syn] = st.seg_head[seg]
    st.seg_head[seg] = syn
    st.seg_count[seg] += 1
    n, start = st.pre_len[pre], st.pre_start[pre]
    if n == st.pre_cap[pre]:  # move the block to a twice larger one at the pool's top
        top = st.free[POOL_TOP]
        for k in range(n):
            moved = st.pool_syn[start + k]
            st.pool_syn[top + k], st.pool_seg[top + k], st.pool_perm[top + k] = moved, st.pool_seg[start + k], \
                st.pool_perm[start + k]
            st.syn_slot[moved] = top + k
        st.pre_cap[pre] = max(MIN_BLOCK, 2 * n)
        st.pre_start[pre] = start = top
        st.free[POOL_TOP] = top + st.pre_cap[pre]
    slot = start + n
    st.pool_syn[slot], st.pool_seg[slot], st.pool_perm[slot] = syn, seg, perm
    st.syn_slot[syn] = slot
    st.pre_len[pre] = n + 1
    st.free[LONGEST] = max(st.free[LONGEST], n + 1)
    return syn


@njit(cache=True)
def destroy_synapse(st, syn):
    seg, pre = st.syn_seg[syn], st.syn_pre[syn]
    prev, cur = NONE, st.seg_head[seg]  # unlink from the segment (short list)
    while cur != syn:
        prev, cur = cur, st.syn_next[cur]
    if prev == NONE:
        st.seg_head[seg] = st.syn_next[syn]
    else:
        st.syn_next[prev] = st.syn_next[syn]
    st.seg_count[seg] -= 1
    slot, last = st.syn_slot[syn], st.pre_start[pre] + st.pre_len[pre] - 1  # the block's last entry fills the gap
    moved = st.pool_syn[last]
    st.pool_syn[slot], st.pool_seg[slot], st.pool_perm[slot] = moved, st.pool_seg[last], st.pool_perm[last]
    st.syn_slot[moved] = slot
    st.pre_len[pre] -= 1
    st.syn_seg[syn] = NONE
    st.syn_next[syn] = st.free[FREE_SYN]
    st.free[FREE_SYN] = syn
    st.free[N_FREE_SYN] += 1


@njit(cache=True)
def destroy_weakest(st, seg, n):
    """Destroy the ``n`` synapses of ``seg`` with the lowest permanence (room for new ones)."""
    for _ in range(n):
        weakest, low = NONE, 2.0
        syn = st.seg_head[seg]
        while syn != NONE:
            if permanence(st, syn) < low:
                weakest, low = syn, permanence(st, syn)
            syn = st.syn_next[syn]
        if weakest == NONE:
            return
        destroy_synapse(st, weakest)


# -- segments ---------------------------------------------------------------------------------------
@njit(cache=True)
def destroy_segment(st, seg):
    while st.seg_head[seg] != NONE:
        destroy_synapse(st, st.seg_head[seg])
    cell = st.seg_cell[seg]
    prev, cur = NONE, st.cell_head[cell]
    while cur != seg:
        prev, cur = cur, st.seg_next[cur]
    if prev == NONE:
        st.cell_head[cell] = st.seg_next[seg]
    else:
        st.seg_next[prev] = st.seg_next[seg]
    st.cell_count[cell] -= 1
    st.seg_cell[seg] = NONE
    st.seg_next[seg] = st.free[FREE_SEG]
    st.free[FREE_SEG] = seg
    st.free[N_FREE_SEG] += 1


@njit(cache=True)
def create_segment(st, cell, max_per_cell):
    """A new empty segment on ``cell``; the cell's least recently used segment makes room if needed."""
    while st.cell_count[cell] >= max_per_cell:
        oldest, stamp = NONE, np.iinfo(np.int64).max
        seg = st.cell_head[cell]
        while seg != NONE:
            if st.seg_used[seg] < stamp:
                oldest, stamp = seg, st.seg_used[seg]
            seg = st.seg_next[seg]
        destroy_segment(st, oldest)
    if st.free[N_FREE_SEG] == 0:
        raise MemoryError("segment store full: call grow() between compiled calls")
    seg = st.free[FREE_SEG]
    st.free[FREE_SEG] = st.seg_next[seg]
    st.free[N_FREE_SEG] -= 1
    st.seg_cell[seg], st.seg_head[seg], st.seg_count[seg] = cell, NONE, 0
    st.seg_used[seg] = st.free[CLOCK]
    st.seg_next[seg] = st.cell_head[cell]
    st.cell_head[cell] = seg
    st.cell_count[cell] += 1
    return seg


# -- activity -----------------------------------------------------------------------------------------
@njit(cache=True)
def compute_activity(st, active_cells, connected, n_connected, n_potential, touched):
    """Count, per segment, the synapses from ``active_cells`` (``n_potential``) and those of them that
    are connected (``n_connected``), visiting only the synapses of active cells. Counters of the
    segments touched by the previous call are cleared first; returns how many segments were touched
    (their ids in ``touched[:count]``)."""
    count = 0
    for seg in touched:
        if seg == NONE:
            break
        n_connected[seg] = 0
        n_potential[seg] = 0
    for cell in active_cells:
        start = st.pre_start[cell]
        for slot in range(start, start + st.pre_len[cell]):
            seg = st.pool_seg[slot]
            if n_potential[seg] == 0:
                touched[count] = seg
                count += 1
            n_potential[seg] += 1
            if st.pool_perm[slot] >= connected:
                n_connected[seg] += 1
    if count < touched.shape[0]:
        touched[count] = NONE
    return count


@njit(cache=True)
def adapt(st, seg, prev_active, increment, decrement, prune_below):
    """Hebbian permanence update of one segment: synapses from previously active cells (``prev_active``
    is a 0/1 mask over presynaptic cells) gain ``increment``, the others lose ``decrement``; clipped
    to [0, 1]; synapses that fall to ``prune_below`` or less are destroyed."""
    syn = st.seg_head[seg]
    while syn != NONE:
        nxt = st.syn_next[syn]
        slot = st.syn_slot[syn]
        perm = st.pool_perm[slot] + (increment if prev_active[st.syn_pre[syn]] else -decrement)
        perm = min(max(perm, 0.0), 1.0)
        if perm <= prune_below:
            destroy_synapse(st, syn)
        else:
            st.pool_perm[slot] = perm
        syn = nxt


@njit(cache=True)
def grow_synapses(st, seg, candidates, n_candidates, n_new, perm, max_per_segment, scratch, rng):
    """Connect ``seg`` to up to ``n_new`` random cells (drawn with ``rng``) of ``candidates[:n_candidates]``
    that it has no synapse from yet, at permanence ``perm``; the weakest synapses make room beyond
    ``max_per_segment``. ``scratch`` is a zeroed uint8 mask over presynaptic cells, left zeroed."""
    syn = st.seg_head[seg]
    while syn != NONE:
        scratch[st.syn_pre[syn]] = 1
        syn = st.syn_next[syn]
    pool = np.empty(n_candidates, np.int32)
    size = 0
    for k in range(n_candidates):
        if not scratch[candidates[k]]:
            pool[size] = candidates[k]
            size += 1
    syn = st.seg_head[seg]
    while syn != NONE:
        scratch[st.syn_pre[syn]] = 0
        syn = st.syn_next[syn]
    n_new = min(n_new, size)
    overflow = st.seg_count[seg] + n_new - max_per_segment
    if overflow > 0:
        destroy_weakest(st, seg, overflow)
    chosen = pool[:size]
    partial_shuffle(rng, chosen, n_new)
    for m in range(n_new):
        create_synapse(st, seg, chosen[m], perm)
    return n_new
