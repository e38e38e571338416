"""Small Numba kernels the fused loop calls for inputs, delays and plasticity traces."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def seed_numba(seed):
    """Seed Numba's generator (one per process), used by connectors and the fused loop."""
    np.random.seed(seed)


@njit(cache=True)
def apply_current_steps(i_ext, steps, values, cursor, t):
    """Step currents: from step ``steps[k]`` on, every neuron's ``i_ext`` is ``values[k]``."""
    k = cursor[0]
    while k < steps.shape[0] and steps[k] <= t:
        i_ext[:] = values[k]
        k += 1
    cursor[0] = k


@njit(cache=True)
def poisson_drive(target, n_sources, p, weight, last, t, ref):
    """Add ``weight`` x Binomial(n_sources, p) to every element of ``target`` whose neuron is not
    refractory (``t - last[i] >= ref``; ``ref = 0`` accepts all)."""
    for i in range(target.shape[0]):
        count = np.random.binomial(n_sources, p)
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
def decay_traces(traces, factors):
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
