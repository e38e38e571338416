"""Small Numba kernels the fused loop calls for inputs, delays and plasticity traces."""

from __future__ import annotations

import numpy as np
from numba import njit

from biosim.streams import GOLDEN, mix


@njit(cache=True)
def apply_current_steps(i_ext, steps, values, cursor, c, t, lo, hi):
    """Step currents: from step ``steps[k]`` on, the ``i_ext`` of neurons ``lo`` to ``hi - 1`` is ``values[k]``
    (``cursor[c]``: the next step change for thread ``c``, which owns those neurons)."""
    k = cursor[c]
    while k < steps.shape[0] and steps[k] <= t:
        i_ext[lo:hi] = values[k]
        k += 1
    cursor[c] = k


@njit(cache=True)
def apply_timed_input(i_ext, values, t, lo, hi):
    """A replayed input: the ``i_ext`` of neurons ``lo`` to ``hi - 1`` is their part of row ``t`` of ``values``
    (steps x n), the last row after it."""
    i_ext[lo:hi] = values[min(t, values.shape[0] - 1), lo:hi]


def binomial_pmf(n: int, p: float, tail: float = 1e-20) -> tuple[int, np.ndarray]:
    """(k0, pmf): the probabilities of k0, k0 + 1, ... under Binomial(n, p), with the terms below ``tail``
    dropped at both ends. The terms come from the ratio of neighbours outwards from the mode and are normalised
    by their sum, so no term underflows for any mean (``(1 - p)^n`` at k = 0 does for n p > 745)."""
    if p <= 0.0:
        return 0, np.ones(1)
    mode = min(n, int((n + 1) * p))
    odds = p / (1.0 - p)
    up, down = [1.0], [1.0]
    for k in range(mode, n):
        up.append(up[-1] * (n - k) / (k + 1) * odds)
        if up[-1] < tail:
            break
    for k in range(mode, 0, -1):
        down.append(down[-1] * k / ((n - k + 1) * odds))
        if down[-1] < tail:
            break
    terms = np.array(down[:0:-1] + up)
    return mode - len(down) + 1, terms / terms.sum()


@njit(cache=True, error_model="numpy")
def poisson_drive(key, target, threshold, alias, k0, shift, weight, last, t, ref, bits, lo, hi):
    """Add ``weight`` x a Binomial count to elements ``lo`` to ``hi - 1`` of ``target`` whose neuron is not refractory
    (``t - last[i] >= ref``: ``last`` the last spike or refractory step; ``ref = 0`` accepts all). Neuron i's
    count at step t comes from the alias table (``biosim.streams.alias_table`` of the counts from ``k0`` on) and
    the 64-bit hash of (``key``, t, i): a pure function of the counters, so independent of visiting order. The
    hashes are written to ``bits`` (one per neuron) first, in a loop LLVM vectorises, then looked up."""
    _drive_block(mix(np.uint64(key) + GOLDEN * np.uint64(t)), lo, target[lo:hi], last[lo:hi], bits[lo:hi],
                 threshold, alias, k0, shift, weight, t, ref)


@njit(cache=True, error_model="numpy")
def _drive_block(base, lo, target, last, bits, threshold, alias, k0, shift, weight, t, ref):
    """``poisson_drive`` on one block, passed as slices so that LLVM vectorises the hash loop."""
    for i in range(bits.shape[0]):
        bits[i] = mix(base + GOLDEN * np.uint64(lo + i))
    low = (np.uint64(1) << shift) - np.uint64(1)
    for i in range(bits.shape[0]):
        r = bits[i]
        j = np.int64(r >> shift)
        k = j if (r & low) < threshold[j] else alias[j]
        if t - last[i] >= ref:
            target[i] += (k + k0) * weight


@njit(cache=True)
def propagate(spk, nb, bounds, T, seg, c, uidx, w, wmask, target, last, t, ref):
    """Each spike of the step (``nb[b]`` of block ``b`` in ``spk[bounds[b]:]``) adds its synapses' weights to
    ``target`` (a state row, or a ring-buffer row for one delay) over this thread's post block
    (``seg[i, c]:seg[i, c + 1]`` of row ``i``; ``uidx`` the targets as unsigned, which skips Numba's
    negative-index wraparound). Synapse ``s`` has weight ``w[s & wmask]`` (``wmask`` 0: ``w[0]`` for all);
    input to a refractory target (``t - last[j] < ref``; ``ref = 0``: none) is dropped."""
    for b in range(T):
        for q in range(nb[b]):
            i = spk[bounds[b] + q]
            lo, hi = seg[i, c], seg[i, c + 1]
            if ref:
                for s in range(lo, hi):
                    j = uidx[s]
                    if t - last[j] >= ref:
                        target[j] += w[s & wmask]
            elif wmask:
                for s in range(lo, hi):
                    target[uidx[s]] += w[s]
            else:
                _add_constant(target, uidx[lo:hi], w[0])


@njit(cache=True, inline="always")
def _add_constant(target, uidx, weight):
    for s in range(uidx.shape[0]):
        target[uidx[s]] += weight


@njit(cache=True)
def propagate_delayed(spk, nb, bounds, T, seg, c, uidx, w, wmask, delay, ring, t):
    """:func:`propagate` with a delay per synapse: weight ``w[s & wmask]`` goes into ring-buffer row
    ``(t + delay[s]) % depth`` (delivered by :func:`deliver`)."""
    depth = ring.shape[0]
    for b in range(T):
        for q in range(nb[b]):
            i = spk[bounds[b] + q]
            for s in range(seg[i, c], seg[i, c + 1]):
                ring[(t + delay[s]) % depth, uidx[s]] += w[s & wmask]


@njit(cache=True)
def propagate_queued(spk, nb, bounds, T, seg, c, uidx, w, wmask, delay, ring, queue_j, queue_w, queue_n, t):
    """:func:`propagate_delayed` through write-combining queues: synapse ``s``'s (target, weight) is appended to
    this thread's queue of ring row ``(t + delay[s]) % depth`` (``queue_j``, ``queue_w``: thread x row x capacity;
    ``queue_n``: thread x row), and a full queue is added into its row (:func:`flush_queue`). The ring receives
    the same additions in the same order as from ``propagate_delayed``, but one row at a time, which stays in
    cache, instead of scattered over the whole ring."""
    depth, capacity = ring.shape[0], queue_j.shape[2]
    base = t % depth
    for b in range(T):
        for q in range(nb[b]):
            i = spk[bounds[b] + q]
            for s in range(seg[i, c], seg[i, c + 1]):
                slot = base + delay[s]
                if slot >= depth:
                    slot -= depth
                n = queue_n[c, slot]
                if n == capacity:
                    flush_queue(ring[slot], queue_j[c, slot], queue_w[c, slot], n)
                    n = 0
                queue_j[c, slot, n] = uidx[s]
                queue_w[c, slot, n] = w[s & wmask]
                queue_n[c, slot] = n + 1


@njit(cache=True)
def flush_queue(row, targets, weights, n):
    """Add the first ``n`` queued weights into ``row`` at their targets, in order."""
    for e in range(n):
        row[targets[e]] += weights[e]


@njit(cache=True)
def deliver_queued(ring, slot, queue_j, queue_w, queue_n, target, last, t, ref, c, lo, hi):
    """:func:`deliver` after this thread's queue of row ``slot`` is added into the row."""
    flush_queue(ring[slot], queue_j[c, slot], queue_w[c, slot], queue_n[c, slot])
    queue_n[c, slot] = 0
    _deliver_block(ring[slot, lo:hi], target[lo:hi], last[lo:hi], t, ref)


@njit(cache=True)
def deliver(ring, slot, target, last, t, ref, lo, hi):
    """Add the delayed input due now (ring buffer row ``slot``) to elements ``lo`` to ``hi - 1`` of ``target``
    and clear them in the row; input to refractory neurons (``t - last[i] < ref``) is discarded."""
    _deliver_block(ring[slot, lo:hi], target[lo:hi], last[lo:hi], t, ref)


@njit(cache=True)
def _deliver_block(row, target, last, t, ref):
    for i in range(row.shape[0]):
        if row[i] != 0.0:
            if t - last[i] >= ref:
                target[i] += row[i]
            row[i] = 0.0


@njit(cache=True)
def count_spikes(spk, n, t, count, last, isi_sum, isi_sq):
    """Per-neuron spike counters of the ``n`` neurons in ``spk`` spiking at step ``t``: count, last spike step,
    sum and sum of squares of the inter-spike intervals (steps). Never truncated, unlike the spike monitor."""
    for q in range(n):
        i = spk[q]
        if count[i]:
            isi = t - last[i]
            isi_sum[i] += isi
            isi_sq[i] += float(isi) * float(isi)
        count[i] += 1
        last[i] = t


@njit(cache=True)
def decay_traces(traces, factors):
    """Multiply each trace row ``m`` by ``factors[m]`` (its decay over one step)."""
    for m in range(traces.shape[0]):
        f = factors[m]
        row = traces[m]
        for i in range(row.shape[0]):
            row[i] *= f


@njit(cache=True)
def bump_traces(traces, nearest, spk, n):
    """A spike adds 1 to each trace, or sets it to 1 for nearest-spike traces."""
    for m in range(traces.shape[0]):
        for q in range(n):
            i = spk[q]
            traces[m, i] = 1.0 if nearest[m] else traces[m, i] + 1.0
