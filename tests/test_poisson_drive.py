"""The Poisson drive's counts: Binomial(n, p) probabilities against SciPy's, the alias table exact to 2^-64, and
the drawn counts' mean, variance, distribution (chi-square, Kolmogorov-Smirnov distance) and independence."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from biosim.engine.kernels import binomial_pmf, poisson_drive
from biosim.engine.network import Network
from biosim.engine.neurons import LIFDelta
from biosim.engine.simulation import Simulation
from biosim.streams import alias_table, stream_key

CASES = [(1000, 2e-3), (10, 0.5), (100, 1e-3), (3, 0.999), (100_000, 0.05), (5, 0.0)]


@pytest.mark.parametrize(("n", "p"), CASES)
def test_binomial_pmf_is_scipys_with_negligible_tails(n, p):
    k0, pmf = binomial_pmf(n, p)
    np.testing.assert_allclose(pmf, stats.binom.pmf(k0 + np.arange(pmf.size), n, p), rtol=1e-12, atol=1e-300)
    assert 1.0 - stats.binom.pmf(k0 + np.arange(pmf.size), n, p).sum() < 1e-14  # nothing kept out


def test_binomial_pmf_does_not_underflow_for_large_means():
    """(1 - p)^n underflows for n p > 745: the old k = 0 start gave an all-zero table there."""
    k0, pmf = binomial_pmf(10_000, 0.2)
    assert k0 > 1500 and abs(np.sum((k0 + np.arange(pmf.size)) * pmf) - 2000.0) < 1e-8


@pytest.mark.parametrize(("n", "p"), CASES)
def test_alias_table_gives_each_count_its_probability_exactly(n, p):
    _k0, pmf = binomial_pmf(n, p)
    threshold, alias, shift = alias_table(pmf)
    capacity, mass = 2**shift, [0] * threshold.size
    assert threshold.size == 2 ** (64 - shift) >= max(2, pmf.size)
    for j in range(threshold.size):
        mass[j] += int(threshold[j])
        mass[int(alias[j])] += capacity - int(threshold[j])
    assert sum(mass) == 2**64 and not any(mass[pmf.size:])
    np.testing.assert_allclose(np.array(mass[:pmf.size], dtype=float) / 2.0**64, pmf, rtol=0, atol=2e-16)


def _draw(n: int, p: float, neurons: int, steps: int, key: int = 7) -> np.ndarray:
    """Counts (steps x neurons) drawn by the kernel with weight 1, one step at a time."""
    k0, pmf = binomial_pmf(n, p)
    threshold, alias, shift = alias_table(pmf)
    last, bits = np.full(neurons, -(10**9), np.int64), np.empty(neurons, np.uint64)
    counts = np.zeros((steps, neurons))
    for t in range(steps):
        poisson_drive(key, counts[t], threshold, alias, k0, np.uint64(shift), 1.0, last, t, 0, bits, 0, neurons)
    return counts


@pytest.mark.parametrize(("n", "p"), [(1000, 2e-3), (1000, 2e-2), (40, 0.3), (10_000, 0.05)])
def test_drawn_counts_follow_the_binomial_distribution(n, p):
    counts = _draw(n, p, 2000, 100).ravel()
    size, mean, var = counts.size, n * p, n * p * (1 - p)
    assert abs(counts.mean() - mean) < 5 * np.sqrt(var / size)
    # the sample variance's standard error: sqrt((mu4 - var^2) / size), mu4 of the binomial
    mu4 = var * (1 + 3 * (n - 2) * p * (1 - p))
    assert abs(counts.var() - var) < 5 * np.sqrt((mu4 - var**2) / size)
    k = np.arange(int(counts.max()) + 1)
    observed, expected = np.bincount(counts.astype(int)), stats.binom.pmf(k, n, p) * size
    keep = expected > 5
    rest_obs, rest_exp = observed[~keep].sum(), size - expected[keep].sum()
    assert stats.chisquare(np.append(observed[keep], rest_obs), np.append(expected[keep], rest_exp)).pvalue > 1e-4
    ks = np.max(np.abs(np.cumsum(observed) / size - stats.binom.cdf(k, n, p)))
    assert ks < 1.95 / np.sqrt(size)  # the KS distance's 0.1% level (conservative for a discrete law)


def test_counts_are_independent_across_neurons_steps_and_keys():
    a = _draw(1000, 2e-3, 500, 400)
    b = _draw(1000, 2e-3, 500, 400, key=8)
    bound = 5 / np.sqrt(a.size)
    for x, y in ((a[:, 1:], a[:, :-1]), (a[1:], a[:-1]), (a, b)):
        assert abs(np.corrcoef(x.ravel(), y.ravel())[0, 1]) < bound


def test_refractory_neurons_get_no_drive_and_the_rest_the_same_counts():
    k0, pmf = binomial_pmf(1000, 2e-2)
    threshold, alias, shift = alias_table(pmf)
    bits = np.empty(100, np.uint64)
    free, gated = np.zeros(100), np.zeros(100)
    last = np.full(100, -(10**9), np.int64)
    poisson_drive(3, free, threshold, alias, k0, np.uint64(shift), 0.5, last, 10, 20, bits, 0, 100)
    last[::2] = 5  # refractory: 10 - 5 < 20
    poisson_drive(3, gated, threshold, alias, k0, np.uint64(shift), 0.5, last, 10, 20, bits, 0, 100)
    assert not gated[::2].any() and np.array_equal(gated[1::2], free[1::2]) and free.all()
    blocks = np.zeros(100)
    for lo, hi in ((0, 64), (64, 100)):  # two threads' blocks: each neuron's count is the same
        poisson_drive(3, blocks, threshold, alias, k0, np.uint64(shift), 0.5, last, 10, 20, bits, lo, hi)
    assert np.array_equal(blocks, gated)


def test_a_network_drive_is_fixed_by_seed_and_restarts_identically():
    """The drive's key is the stream ``drive/<population>/<target>`` of the seed; the counter is the step."""
    def run(seed):
        net = Network(dt=1e-4, seed=seed)
        net.add_population("lif", 200, LIFDelta(t_ref=2e-3))
        net.add_poisson_drive("lif", "v", 500, 20.0, 0.2e-3)
        net.record_spikes("lif")
        sim = Simulation(net)
        first = sim.run(0.1).spikes["lif"]
        first = (first[0].copy(), first[1].copy())
        sim.restart()
        return first, sim.run(0.1).spikes["lif"]

    (t1, i1), (t2, i2) = run(4)
    assert i1.size > 100 and np.array_equal(i1, i2) and np.array_equal(t1, t2)
    assert not np.array_equal(run(5)[0][1][:50], i1[:50])
    assert stream_key(4, "drive/lif/v") != stream_key(5, "drive/lif/v")
