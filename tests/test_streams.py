"""Named random streams and the two Numba samplers, checked against NumPy's own."""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy.stats import chisquare

from biosim.streams import partial_shuffle, randint, stream, streams


@njit(cache=True)
def _draw_ints(rng, n, count):
    out = np.empty(count, np.int64)
    for k in range(count):
        out[k] = randint(rng, n)
    return out


def test_streams_are_fixed_by_seed_and_name_and_independent_of_the_other_names():
    a = streams(7, "connect", "init")
    b = streams(7, "init", "drive0", "connect")  # other names, other order
    assert np.array_equal(a["connect"].random(5), b["connect"].random(5))
    assert np.array_equal(stream(7, "init").random(5), a["init"].random(5))
    assert not np.array_equal(stream(7, "init").random(5), stream(8, "init").random(5))
    assert not np.array_equal(stream(7, "init").random(5), stream(7, "connect").random(5))


def test_randint_is_uniform_like_numpy_integers():
    n, count = 7, 70_000
    ours = np.bincount(_draw_ints(stream(1, "t"), n, count), minlength=n)
    numpy = np.bincount(np.random.default_rng(1).integers(0, n, count), minlength=n)
    assert ours.sum() == count and ours.size == n  # never n itself
    for counts in (ours, numpy):
        assert chisquare(counts).pvalue > 1e-3


def test_partial_shuffle_draws_uniform_subsets_like_numpy_choice():
    """Every k-subset of 5 items (10 of them for k = 2) comes up equally often, as with Generator.choice."""
    rng, trials = stream(2, "t"), 20_000
    perm = np.arange(5)
    ours = {}
    for _ in range(trials):
        partial_shuffle(rng, perm, 2)
        key = tuple(sorted(perm[:2]))
        ours[key] = ours.get(key, 0) + 1
        assert sorted(perm) == list(range(5))  # still a permutation
    reference = np.random.default_rng(2)
    theirs = {}
    for _ in range(trials):
        key = tuple(sorted(reference.choice(5, 2, replace=False)))
        theirs[key] = theirs.get(key, 0) + 1
    assert set(ours) == set(theirs) and len(ours) == 10
    assert chisquare(list(ours.values())).pvalue > 1e-3
    assert chisquare(list(theirs.values())).pvalue > 1e-3


def test_randint_rejects_the_biased_draws_of_multiply_shift():
    """For n = 3 * 2**30, plain multiply-shift gives every third value two of the 2**32 inputs (probability
    1/2 for the residue class, not 1/3); the rejection step must make the residues uniform."""
    draws = _draw_ints(stream(3, "t"), 3 * 2**30, 60_000)
    assert draws.min() >= 0 and draws.max() < 3 * 2**30
    residues = np.bincount(draws % 3, minlength=3)
    assert chisquare(residues).pvalue > 1e-3
