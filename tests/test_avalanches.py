"""Neuronal avalanches and power-law fits of biosim.analysis.avalanches, against the powerlaw package, a direct
maximum-likelihood fit and hand-worked traces."""

from __future__ import annotations

import time

import numpy as np
import powerlaw
import pytest
from scipy import optimize, special

from biosim.analysis.avalanches import (
    activity_from_rate,
    activity_from_spikes,
    avalanche_statistics,
    crackling,
    find_avalanches,
    fit_power_law,
)

TAU = 1.5
# powerlaw 2.0 reads its own deprecated Power_Law.sigma inside Fit (our wrapper silences it)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:powerlaw.*")


def discrete_power_law(rng: np.random.Generator, n: int, tau: float = TAU, xmin: int = 1) -> np.ndarray:
    """Exact samples of p(x) = x^-tau / zeta(tau, xmin), x = xmin, xmin + 1, ...: inverse CDF by bisection on the
    survival function P(X >= x) = zeta(tau, x) / zeta(tau, xmin) (samples beyond 2^50 are clipped there)."""
    u = rng.random(n)
    lo, hi = np.full(n, xmin, np.int64), np.full(n, 2**50, np.int64)  # P(X >= lo) >= u > P(X >= hi)
    for _ in range(51):
        mid = (lo + hi) // 2
        above = special.zeta(tau, mid) / special.zeta(tau, xmin) >= u
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    return lo


def direct_mle(x: np.ndarray, xmin: float) -> float:
    """The discrete power law's maximum-likelihood exponent on x >= xmin, written out (Hurwitz zeta norm)."""
    tail = x[x >= xmin]
    log_sum = np.log(tail).sum()
    return optimize.minimize_scalar(lambda a: a * log_sum + tail.size * np.log(special.zeta(a, xmin)),
                                    bounds=(1.01, 4.0), method="bounded", options={"xatol": 1e-10}).x


@pytest.fixture(scope="module")
def samples() -> np.ndarray:
    return discrete_power_law(np.random.default_rng(12), 10**5)


def test_fit_recovers_tau_from_1e5_samples_and_is_the_packages(samples):
    """n = 10^5 exact samples, tau = 1.5: the fit (x_min searched in [1, 20)) is within 0.02 of tau, equals
    powerlaw.Fit's, and its exponent is the written-out likelihood's maximum at that x_min."""
    start = time.perf_counter()
    fit = fit_power_law(samples, xmin=(1, 20), compare_lognormal=False)
    elapsed = time.perf_counter() - start
    package = powerlaw.Fit(samples, discrete=True, xmin=(1, 20), verbose=False)
    assert fit.discrete and abs(fit.exponent - TAU) < 0.02, (fit, elapsed)
    assert (fit.exponent, fit.xmin, fit.ks_distance, fit.sigma) == (
        package.power_law.alpha, package.xmin, package.power_law.D, package.power_law.standard_err)
    assert fit.exponent == pytest.approx(direct_mle(samples, fit.xmin), abs=1e-4)


@pytest.mark.slow
def test_fit_with_the_full_xmin_search(samples):
    """Clauset et al.'s search over every sample value (about 20 s for 10^5 samples)."""
    fit = fit_power_law(samples)
    assert abs(fit.exponent - TAU) < 0.02
    assert fit.lognormal_ratio > 0 or fit.lognormal_p > 0.1  # not worse than a lognormal


def test_lognormal_comparison_is_the_packages_and_tells_them_apart():
    rng = np.random.default_rng(13)
    power = discrete_power_law(rng, 3000)
    fit = fit_power_law(power, xmin=1.0)
    ratio, p = powerlaw.Fit(power, discrete=True, xmin=1.0, verbose=False).distribution_compare(
        "power_law", "lognormal", normalized_ratio=True)
    assert (fit.lognormal_ratio, fit.lognormal_p) == (ratio, p)
    assert fit.lognormal_ratio > 0 or fit.lognormal_p > 0.1
    lognormal = fit_power_law(rng.lognormal(2.0, 0.5, 3000), xmin=1.0)
    assert not lognormal.discrete
    assert lognormal.lognormal_ratio < 0 and lognormal.lognormal_p < 0.01


def test_find_avalanches_hand_worked():
    """Threshold = 35th percentile = 0 here: runs of positive bins, at the trace's ends too."""
    activity = np.array([2, 0, 3, 2, 0, 0, 0, 5, 0, 1, 1, 1])
    found = find_avalanches(activity, bin_width=4e-3)
    assert found.threshold == 0.0
    np.testing.assert_array_equal(found.sizes, [2, 5, 5, 3])
    np.testing.assert_array_equal(found.durations, [1, 2, 1, 3])
    np.testing.assert_array_equal(found.starts, [0, 2, 7, 9])
    high = find_avalanches(activity, 4e-3, percentile=90)  # threshold 2.9: only bins 3 and 5 exceed it
    assert high.threshold == pytest.approx(2.9)
    np.testing.assert_array_equal(high.sizes, [3, 5])
    none = find_avalanches(np.full(8, 3.0), 4e-3)
    assert none.sizes.size == none.durations.size == 0
    with pytest.raises(ValueError, match="no avalanche"):
        avalanche_statistics(np.full(8, 3.0), 4e-3)
    with pytest.raises(ValueError, match="non-empty"):
        find_avalanches(np.array([]), 4e-3)
    with pytest.raises(ValueError, match="at least 3 distinct"):
        fit_power_law(np.array([1, 1, 2]))


def test_activity_from_spikes_and_from_a_rate_agree():
    rng = np.random.default_rng(14)
    dt, size, steps = 1e-4, 50, 2000
    counts = rng.poisson(0.3, steps)
    times = np.repeat(np.arange(steps) * dt, counts)
    from_spikes = activity_from_spikes(times, steps * dt, bin_width=1e-3)
    assert from_spikes.size == 200 and from_spikes.sum() == counts.sum()
    np.testing.assert_allclose(activity_from_rate(counts / (size * dt), dt, size, 1e-3), from_spikes)
    with pytest.raises(ValueError, match="whole number"):
        activity_from_rate(counts / (size * dt), dt, size, 1.5e-4)


def test_crackling_slope_of_exact_scaling():
    durations = np.repeat(np.arange(1, 30), 3)
    sizes = 2.5 * durations**1.7
    check = crackling(sizes, durations, tau=1.5, alpha=1.85)
    assert check.slope == pytest.approx(1.7) and check.intercept == pytest.approx(np.log(2.5))
    assert check.predicted == pytest.approx(0.85 / 0.5) and check.durations == 29
    with pytest.raises(ValueError, match="2 distinct durations"):
        crackling(np.array([1.0, 2.0]), np.array([3, 3]), 1.5, 2.0)


def test_critical_branching_process_has_mean_field_exponents():
    """Critical Galton-Watson avalanches (Poisson(1) offspring, one per trace segment, separated by silence):
    tau ~ 3/2, alpha ~ 2, <S>(D) ~ D^2, the mean-field values."""
    rng = np.random.default_rng(15)
    trees, generations = 20000, 400
    z = np.ones(trees, np.int64)
    history = np.empty((generations, trees), np.int64)
    for g in range(generations):  # all trees advance together, one generation per step
        history[g], z = z, rng.poisson(z)
    activity = np.concatenate((history, np.zeros((generations, trees), np.int64))).T.ravel()
    stats = avalanche_statistics(activity, 1e-3, size_xmin=(1, 30), duration_xmin=(1, 30))
    assert stats.avalanches.sizes.size == trees
    assert stats.sizes.exponent == pytest.approx(1.5, abs=0.05)
    assert stats.durations.exponent == pytest.approx(2.0, abs=0.15)
    assert stats.crackling.predicted == pytest.approx(2.0, abs=0.25)
    assert stats.crackling.slope == pytest.approx(stats.crackling.predicted, abs=0.15)  # 1.86 vs 1.90 here
