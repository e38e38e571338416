"""Small Numba kernels the fused loop calls for inputs, delays and plasticity traces."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def apply_current_steps(i_ext, steps, values, cursor, t):
    """Step currents: from step ``steps[k]`` on, every neuron's ``i_ext`` is ``values[k]``."""
    k = cursor[0]
    while k < steps.shape[0] and steps[k] <= t:
        i_ext[:] = values[k]
        k += 1
    cursor[0] = k


@njit(cache=True)
def apply_timed_input(i_ext, values, t):
    """A replayed input: every neuron's ``i_ext`` is row ``t`` of ``values`` (steps x n), the last row after it."""
    i_ext[:] = values[min(t, values.shape[0] - 1)]


def binomial_cdf(n: int, p: float, tail: float = 1e-17) -> np.ndarray:
    """Cumulative probabilities of Binomial(n, p), cut where the terms past the mean fall below
    ``tail``; the last entry is set to 1, so inversion sampling is exact up to ~1e-16 in probability.
    ``p`` (rate x dt) must lie in [0, 1): ``Network.add_poisson_drive`` checks it."""
    pmf = [(1.0 - p) ** n]
    for k in range(n):
        term = pmf[-1] * (n - k) / (k + 1) * p / (1.0 - p)
        if k + 1 > n * p and term < tail:
            break
        pmf.append(term)
    cdf = np.cumsum(pmf)
    cdf[-1] = 1.0
    return cdf


@njit(cache=True)
def poisson_drive(rng, target, cdf, weight, last, t, ref):
    """Add ``weight`` x (a Binomial count drawn from ``rng`` by inversion of ``cdf``) to every element of
    ``target`` whose neuron is not refractory (``t - last[i] >= ref``: ``last`` the last spike or refractory
    step; ``ref = 0`` accepts all)."""
    for i in range(target.shape[0]):
        u = rng.random()
        count = 0
        while u > cdf[count]:
            count += 1
        if count and t - last[i] >= ref:
            target[i] += count * weight


@njit(cache=True)
def deliver(ring, slot, target, last, t, ref):
    """Add the delayed input due now (ring buffer row ``slot``) to ``target`` and clear the row;
    input to refractory neurons (``t - last[i] < ref``) is discarded."""
    row = ring[slot]
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
