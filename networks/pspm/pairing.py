"""The pairing of a model's spike train with its target's by dynamic programming (PSPM, arXiv 1810.03199).

An edit distance between two sorted trains of spike steps: pairing a model spike at ``t_o`` with a target spike at
``t_r`` costs ``|t_o - t_r|`` steps and is allowed only when that is at most the pairing window ``w``; leaving a
spike of either train unpaired costs ``w + 1``. Pairings keep the order of the spikes (no crossing pairs; on a line
uncrossing never costs more, so this is the minimum over all matchings).

Ties, as in the authors' C code (``pairSpikes`` in ``spikesMatchOptInputFixed.c``): the traceback runs from the last
spikes backwards and, among the moves that reach the minimum, prefers pairing the two current spikes, then leaving
the current model spike unpaired, then the current target spike. E.g. a model spike equidistant from two target
spikes pairs with the later one; model 0, 10 and target 5, 20 (w = 5) pair 0 with 5 rather than 10 with 5.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def pair_spikes(a, b, w):
    """Pair the model's spike steps ``a`` with the target's ``b`` (sorted int arrays) within window ``w`` (steps).

    Returns (model spikes unpaired, bool[len(a)]; target spikes unpaired, bool[len(b)]; total cost, steps)."""
    m, n = a.size, b.size
    unpaired = w + 1
    M = np.empty((m + 1, n + 1), np.int64)  # M[i, j]: least cost of the first i model and first j target spikes
    for i in range(m + 1):
        M[i, 0] = i * unpaired
    for j in range(n + 1):
        M[0, j] = j * unpaired
    for i in range(1, m + 1):
        for j in range(1, n + 1):
            best = min(M[i - 1, j], M[i, j - 1]) + unpaired
            d = abs(a[i - 1] - b[j - 1])
            if d <= w and M[i - 1, j - 1] + d < best:
                best = M[i - 1, j - 1] + d
            M[i, j] = best
    model_unpaired = np.zeros(m, np.bool_)
    target_unpaired = np.zeros(n, np.bool_)
    i, j = m, n
    while i > 0 and j > 0:
        d = abs(a[i - 1] - b[j - 1])
        if d <= w and M[i - 1, j - 1] + d == M[i, j]:
            i -= 1
            j -= 1
        elif M[i - 1, j] + unpaired == M[i, j]:
            model_unpaired[i - 1] = True
            i -= 1
        else:
            target_unpaired[j - 1] = True
            j -= 1
    model_unpaired[:i] = True
    target_unpaired[:j] = True
    return model_unpaired, target_unpaired, M[m, n]
