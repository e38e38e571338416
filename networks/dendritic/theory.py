"""Exact error probabilities of dendritic segments on sparse distributed representations (Ahmad & Hawkins 2016).

n cells, a of them active (a random a-subset); a segment has s synapses onto distinct cells and fires when
at least theta of them are active. Every probability is computed with Python's big integers and
returned as an exact ``Fraction`` (``float()`` of it is correctly rounded down to 1e-308; ``log10`` goes
further), so values like 1e-40 carry no cancellation or underflow error.

* E1 ``false_match``: a random pattern activates >= theta of a segment's s synapses (hypergeometric tail).
* E2 ``false_negative``: v of a learned pattern's a cells are replaced by v cells from outside it and the
  segment (s synapses subsampled from the pattern) keeps fewer than theta active synapses.
* E3 ``union_false_match``: M patterns on one segment (``form="segment"``: the segment holds the union of
  M subsamples of s synapses) or M patterns active at once (``form="input"``: the input is the union of M
  patterns of a cells); the paper's expected-size approximation or the exact mixture over the
  distribution of the union size (a Markov chain over the number of distinct cells).
* E4 ``classifier_false_match``: a probe matching any of M stored patterns; union bound and exact value.
* E5 ``threshold_medians``: the median of E1 over the authors' grid of cortical parameters, per theta.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from fractions import Fraction
from typing import Literal

UnionForm = Literal["segment", "input"]
UnionMethod = Literal["exact", "approx"]


def _check(n: int, **sizes: int) -> None:
    for name, value in sizes.items():
        if value < 0 or value > n:
            raise ValueError(f"{name} = {value} must lie in [0, n = {n}]")


def _tail_counts(n: int, a: int, s: int) -> list[int]:
    """``counts[b]`` = number of a-subsets of n cells that hit exactly b of s fixed cells."""
    return [math.comb(s, b) * math.comb(n - s, a - b) for b in range(min(s, a) + 1)]


def false_match(n: int, a: int, s: int, theta: int) -> Fraction:
    """E1: P(|random a-subset of n  intersect  s fixed cells| >= theta); symmetric in a and s."""
    _check(n, a=a, s=s)
    counts = _tail_counts(n, a, s)
    return Fraction(sum(counts[max(theta, 0):]), math.comb(n, a))


def false_negative(a: int, s: int, theta: int, v: int) -> Fraction:
    """E2: P(fewer than theta of the s synapses stay active) when v of the a pattern cells are replaced
    by cells outside the pattern; the s synapses are a subsample of the pattern. Independent of n."""
    _check(a, s=s, v=v)
    lost = [math.comb(s, b) * math.comb(a - s, v - b) for b in range(min(s, v) + 1)]
    return Fraction(sum(lost[max(s - theta + 1, 0):]), math.comb(a, v))


def union_size_counts(n: int, k: int, m: int) -> dict[int, int]:
    """Number of sequences of m random k-subsets of n cells whose union has j cells, for every j
    (the counts sum to C(n, k)^m). Markov chain: adding a subset to a union of i cells adds j - i new
    cells in C(i, k - (j - i)) * C(n - i, j - i) ways."""
    _check(n, k=k)
    counts = {0: 1}
    for _ in range(m):
        grown: dict[int, int] = {}
        for i, ways in counts.items():
            for new in range(max(0, k - i), min(k, n - i) + 1):
                j = i + new
                grown[j] = grown.get(j, 0) + ways * math.comb(i, k - new) * math.comb(n - i, new)
        counts = grown
    return counts


def expected_union_size(n: int, k: int, m: int) -> float:
    """E[|union of m random k-subsets of n|] = n (1 - (1 - k/n)^m), the paper's approximation input."""
    return n * (1.0 - (1.0 - k / n) ** m)


def union_false_match(n: int, a: int, s: int, theta: int, m: int, *, form: UnionForm = "segment",
                      method: UnionMethod = "exact") -> Fraction:
    """E3: false match with m patterns in a union; see the module docstring for ``form``.

    ``approx`` replaces the union by its expected size, rounded (the authors' ``falseMatchvsM`` and
    ``falseMatchDendritevsMPatterns``); ``exact`` averages E1 over the exact union-size distribution."""
    grown = s if form == "segment" else a
    if method == "approx":
        size = round(expected_union_size(n, grown, m))
        return false_match(n, a, size, theta) if form == "segment" else false_match(n, size, s, theta)
    weights = union_size_counts(n, grown, m)
    total = sum(ways * (false_match(n, a, j, theta) if form == "segment" else false_match(n, j, s, theta))
                for j, ways in weights.items())
    return total / math.comb(n, grown) ** m


def classifier_false_match(n: int, w: int, theta: int, m: int) -> tuple[Fraction, Fraction]:
    """E4: a random w-of-n probe against m stored random w-of-n patterns, match at overlap >= theta.
    Returns (union bound m * fp, exact 1 - (1 - fp)^m for independent stored patterns)."""
    fp = false_match(n, w, w, theta)
    return min(Fraction(1), m * fp), 1 - (1 - fp) ** m


# The authors' grid for the NMDA-threshold result (compute_optimal_threshold.py): 5 x 6 x 7 = 210 settings.
THRESHOLD_GRID_N = (1000, 5000, 9000, 13000, 17000)
THRESHOLD_GRID_SPARSITY = (0.005, 0.01, 0.015, 0.02, 0.025, 0.03)
THRESHOLD_GRID_S = (20, 25, 30, 35, 40, 45, 50)


def threshold_medians(thetas: Iterable[int], ns: Iterable[int] = THRESHOLD_GRID_N,
                      sparsities: Iterable[float] = THRESHOLD_GRID_SPARSITY,
                      segment_sizes: Iterable[int] = THRESHOLD_GRID_S) -> dict[int, float]:
    """E5: for each theta, the median false-match probability over the (n, a = sparsity n, s) grid."""
    thetas = list(thetas)
    values: dict[int, list[float]] = {theta: [] for theta in thetas}
    for n in ns:
        for sparsity in sparsities:
            a = round(sparsity * n)
            for s in segment_sizes:
                counts, total = _tail_counts(n, a, s), math.comb(n, a)
                suffix = [0] * (len(counts) + 1)
                for b in range(len(counts) - 1, -1, -1):
                    suffix[b] = suffix[b + 1] + counts[b]
                for theta in thetas:
                    values[theta].append(float(Fraction(suffix[min(max(theta, 0), len(counts))], total)))
    return {theta: statistics.median(v) for theta, v in values.items()}


def log10(p: Fraction) -> float:
    """log10 of an exact probability, finite far below the float range (-inf for 0)."""
    if p == 0:
        return -math.inf
    return math.log10(p.numerator) - math.log10(p.denominator)
