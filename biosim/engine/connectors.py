"""Connectors build the CSR connectivity of a projection, sorted by presynaptic neuron.

``connect(n_pre, n_post, same, rng)`` returns ``(indptr int64[n_pre + 1], indices int32[n_syn], order)``:
the targets of pre neuron ``i`` are ``indices[indptr[i]:indptr[i + 1]]`` in increasing order, and
``order`` (or None) maps each CSR synapse to the position of its pair in user-given arrays.
Random connectors draw from ``rng`` (the network's ``connect`` stream, ``biosim.streams``).
``same`` tells whether pre and post are one population (then ``autapses`` decides i -> i).
``check(n_pre, n_post, same)`` refuses sizes the connector cannot meet, before anything is drawn;
``synapse_count`` is the exact number of synapses (None when drawn) and ``expected_synapses`` its mean (None when
unknown: a plug-in may define neither), for per-synapse values and memory estimates.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from pydantic import Field, model_validator

from biosim.params import Params
from biosim.registry import register
from biosim.streams import partial_shuffle

CSR = tuple[np.ndarray, np.ndarray, np.ndarray | None]


class Connector(Params):
    """Base of connectors: how the synapses of a projection are chosen."""

    def check(self, n_pre: int, n_post: int, same: bool) -> None:
        """Raise ValueError when the connector cannot connect these sizes (nothing to check by default)."""

    def synapse_count(self, n_pre: int, n_post: int, same: bool) -> int | None:
        """The number of synapses, or None when it is drawn at random."""
        return None

    def expected_synapses(self, n_pre: int, n_post: int, same: bool) -> float | None:
        """The mean number of synapses, or None when the connector cannot say (memory estimates leave it out)."""
        count = self.synapse_count(n_pre, n_post, same)
        return None if count is None else float(count)

    def connect(self, n_pre: int, n_post: int, same: bool, rng: np.random.Generator) -> CSR:
        """The CSR connectivity (see the module docstring), drawn from ``rng``."""
        raise NotImplementedError


def _pool(n: int, same: bool, autapses: bool) -> int:
    """Candidates per neuron: ``n``, less one when pre and post are one population without autapses."""
    return n - 1 if (same and not autapses) else n


@njit(cache=True)
def _sample_sorted(rng, k, size, skip, perm, out, lo):
    """Write k distinct values of range(size) without ``skip`` (-1: none), sorted, to out[lo:lo+k]; ``perm``
    holds a permutation of range(size) and keeps one of its first ``pool`` entries (range(pool)) there."""
    pool = size - 1 if skip >= 0 else size
    partial_shuffle(rng, perm[:pool], k)
    for m in range(k):
        value = perm[m]
        out[lo + m] = value + 1 if (skip >= 0 and value >= skip) else value
    out[lo:lo + k].sort()


@njit(cache=True)
def _fixed_probability(rng, n_pre, n_post, p, autapses, same):
    counts = np.empty(n_pre, np.int64)
    pool = n_post - 1 if (same and not autapses) else n_post
    for i in range(n_pre):
        counts[i] = rng.binomial(pool, p)
    indptr = np.zeros(n_pre + 1, np.int64)
    indptr[1:] = np.cumsum(counts)
    indices = np.empty(indptr[-1], np.int32)
    perm = np.arange(n_post).astype(np.int32)
    for i in range(n_pre):
        skip = i if (same and not autapses) else -1
        _sample_sorted(rng, counts[i], n_post, skip, perm, indices, indptr[i])
    return indptr, indices


@njit(cache=True)
def _fixed_outdegree(rng, n_pre, n_post, k, autapses, same):
    indptr = np.arange(n_pre + 1).astype(np.int64) * k
    indices = np.empty(n_pre * k, np.int32)
    perm = np.arange(n_post).astype(np.int32)
    for i in range(n_pre):
        skip = i if (same and not autapses) else -1
        _sample_sorted(rng, k, n_post, skip, perm, indices, indptr[i])
    return indptr, indices


@njit(cache=True)
def _fixed_indegree(rng, n_pre, n_post, k, autapses, same):
    sources = np.empty(n_post * k, np.int32)
    perm = np.arange(n_pre).astype(np.int32)
    for j in range(n_post):
        skip = j if (same and not autapses) else -1
        _sample_sorted(rng, k, n_pre, skip, perm, sources, j * k)
    counts = np.zeros(n_pre + 1, np.int64)
    for s in range(sources.shape[0]):
        counts[sources[s] + 1] += 1
    indptr = np.cumsum(counts)
    fill = indptr[:-1].copy()
    indices = np.empty(sources.shape[0], np.int32)
    for s in range(sources.shape[0]):  # stable counting sort: targets stay increasing per row
        i = sources[s]
        indices[fill[i]] = s // k
        fill[i] += 1
    return indptr, indices


@njit(cache=True)
def _fixed_total_number(rng, n_pre, n_post, n, autapses, same):
    """``n`` independent uniform pairs (multapses allowed). The row counts are one multinomial draw (a binomial
    per row of what is left); a row's ``k`` targets are ``floor(pool U_(m))`` for the order statistics U_(m) of
    ``k`` uniforms, drawn already sorted as normalised sums of ``k + 1`` exponential spacings (no sort)."""
    pool = n_post - 1 if (same and not autapses) else n_post
    indptr = np.zeros(n_pre + 1, np.int64)
    left = n
    for i in range(n_pre):
        count = rng.binomial(left, 1.0 / (n_pre - i)) if i < n_pre - 1 else left
        indptr[i + 1] = indptr[i] + count
        left -= count
    indices = np.empty(n, np.int32)
    spacings = np.empty(np.diff(indptr).max() + 1)
    for i in range(n_pre):
        lo, k = indptr[i], indptr[i + 1] - indptr[i]
        total = 0.0
        for m in range(k + 1):
            total += rng.standard_exponential()
            spacings[m] = total
        scale = pool / total
        for m in range(k):
            j = min(int(spacings[m] * scale), pool - 1)
            indices[lo + m] = j + 1 if (same and not autapses and j >= i) else j
    return indptr, indices


def _check_pool(k: int, n: int, same: bool, autapses: bool, what: str) -> None:
    pool = _pool(n, same, autapses)
    if k > pool:
        raise ValueError(f"{what} {k} exceeds the {pool} available neurons")


@register("connector", "all_to_all")
class AllToAll(Connector):
    """Every pre neuron to every post neuron."""

    autapses: bool = Field(True, description="connect i -> i when pre and post are one population")

    def synapse_count(self, n_pre: int, n_post: int, same: bool) -> int:
        return n_pre * _pool(n_post, same, self.autapses)

    def connect(self, n_pre: int, n_post: int, same: bool, rng: np.random.Generator) -> CSR:
        grid = np.tile(np.arange(n_post, dtype=np.int32), (n_pre, 1))
        if same and not self.autapses:
            keep = ~np.eye(n_pre, n_post, dtype=bool)
            return np.arange(n_pre + 1, dtype=np.int64) * (n_post - 1), grid[keep], None
        return np.arange(n_pre + 1, dtype=np.int64) * n_post, grid.ravel(), None


@register("connector", "one_to_one")
class OneToOne(Connector):
    """Pre neuron i to post neuron i (populations of equal size)."""

    def check(self, n_pre: int, n_post: int, same: bool) -> None:
        if n_pre != n_post:
            raise ValueError(f"one_to_one needs equal sizes, got {n_pre} and {n_post}")

    def synapse_count(self, n_pre: int, n_post: int, same: bool) -> int:
        return n_pre

    def connect(self, n_pre: int, n_post: int, same: bool, rng: np.random.Generator) -> CSR:
        return np.arange(n_pre + 1, dtype=np.int64), np.arange(n_post, dtype=np.int32), None


@register("connector", "fixed_probability")
class FixedProbability(Connector):
    """Each pair independently with probability p (no multapses)."""

    p: float = Field(..., ge=0.0, le=1.0, description="connection probability")
    autapses: bool = Field(True, description="connect i -> i when pre and post are one population")

    def expected_synapses(self, n_pre: int, n_post: int, same: bool) -> float:
        return self.p * n_pre * _pool(n_post, same, self.autapses)

    def connect(self, n_pre: int, n_post: int, same: bool, rng: np.random.Generator) -> CSR:
        return (*_fixed_probability(rng, n_pre, n_post, self.p, self.autapses, same), None)


@register("connector", "fixed_indegree")
class FixedIndegree(Connector):
    """Each post neuron receives exactly k distinct pre neurons."""

    k: int = Field(..., ge=0, description="in-degree")
    autapses: bool = Field(True, description="connect i -> i when pre and post are one population")

    def check(self, n_pre: int, n_post: int, same: bool) -> None:
        _check_pool(self.k, n_pre, same, self.autapses, "in-degree")

    def synapse_count(self, n_pre: int, n_post: int, same: bool) -> int:
        return self.k * n_post

    def connect(self, n_pre: int, n_post: int, same: bool, rng: np.random.Generator) -> CSR:
        return (*_fixed_indegree(rng, n_pre, n_post, self.k, self.autapses, same), None)


@register("connector", "fixed_outdegree")
class FixedOutdegree(Connector):
    """Each pre neuron projects to exactly k distinct post neurons."""

    k: int = Field(..., ge=0, description="out-degree")
    autapses: bool = Field(True, description="connect i -> i when pre and post are one population")

    def check(self, n_pre: int, n_post: int, same: bool) -> None:
        _check_pool(self.k, n_post, same, self.autapses, "out-degree")

    def synapse_count(self, n_pre: int, n_post: int, same: bool) -> int:
        return self.k * n_pre

    def connect(self, n_pre: int, n_post: int, same: bool, rng: np.random.Generator) -> CSR:
        return (*_fixed_outdegree(rng, n_pre, n_post, self.k, self.autapses, same), None)


@register("connector", "fixed_total_number")
class FixedTotalNumber(Connector):
    """Exactly ``n`` synapses, each between a pre and a post neuron drawn uniformly and independently, so a
    pair can be connected more than once (NEST's ``fixed_total_number`` with its default multapses)."""

    n: int = Field(..., ge=0, description="number of synapses")
    autapses: bool = Field(True, description="connect i -> i when pre and post are one population")

    def check(self, n_pre: int, n_post: int, same: bool) -> None:
        if self.n and _pool(n_post, same, self.autapses) < 1:
            raise ValueError("no pair to connect: one neuron without autapses")

    def synapse_count(self, n_pre: int, n_post: int, same: bool) -> int:
        return self.n

    def connect(self, n_pre: int, n_post: int, same: bool, rng: np.random.Generator) -> CSR:
        return (*_fixed_total_number(rng, n_pre, n_post, self.n, self.autapses, same), None)


@register("connector", "from_arrays")
class FromArrays(Connector):
    """Explicit synapses ``pre[s] -> post[s]`` (weights/delays given as lists follow the same order)."""

    pre: list[int]
    post: list[int]

    @model_validator(mode="after")
    def _same_length(self) -> FromArrays:
        if len(self.pre) != len(self.post):
            raise ValueError(f"pre ({len(self.pre)}) and post ({len(self.post)}) differ in length")
        return self

    def check(self, n_pre: int, n_post: int, same: bool) -> None:
        pre, post = self.pre, self.post
        if pre and (min(pre) < 0 or max(pre) >= n_pre or min(post) < 0 or max(post) >= n_post):
            raise ValueError(f"from_arrays index out of range for {n_pre} -> {n_post} neurons")

    def synapse_count(self, n_pre: int, n_post: int, same: bool) -> int:
        return len(self.pre)

    def connect(self, n_pre: int, n_post: int, same: bool, rng: np.random.Generator) -> CSR:
        pre = np.asarray(self.pre, dtype=np.int64)
        post = np.asarray(self.post, dtype=np.int32)
        order = np.lexsort((post, pre))
        indptr = np.zeros(n_pre + 1, np.int64)
        np.add.at(indptr, pre + 1, 1)
        return np.cumsum(indptr), post[order], order
