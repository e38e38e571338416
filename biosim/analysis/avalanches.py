"""Neuronal avalanches (spec ``hebbian.md`` §2.3, the authors' ``AV_analysis.m``): population activity per bin,
a threshold at a percentile of it, avalanches as runs of supra-threshold bins (size S: the run's summed activity,
duration D: its length in bins), power-law fits of S (exponent tau) and D (alpha) by maximum likelihood with x_min
chosen as in Clauset, Shalizi & Newman 2009 (the ``powerlaw`` package), and the crackling-noise check
<S>(D) ~ D^((alpha - 1)/(tau - 1)).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Avalanches:
    """The avalanches of one activity trace."""

    sizes: np.ndarray  # S: summed activity of each run (spikes, for spike counts)
    durations: np.ndarray  # D: length of each run (bins), int
    starts: np.ndarray  # first bin of each run, int
    threshold: float  # activity per bin (spikes per bin); bins strictly above it are supra-threshold
    bin_width: float  # s


@dataclass(frozen=True)
class PowerLawFit:
    """A power law p(x) ~ x^-exponent fitted to the tail x >= xmin, and its comparison with a lognormal."""

    exponent: float  # tau for sizes, alpha for durations (dimensionless)
    sigma: float  # standard error of the exponent
    xmin: float  # lower cut-off (units of x), chosen by minimum KS distance unless fixed
    xmax: float | None  # upper cut-off (units of x); None: none
    n_tail: int  # samples in [xmin, xmax]
    ks_distance: float  # Kolmogorov-Smirnov distance D of the tail from the fit
    discrete: bool  # fitted as a discrete (integer) power law
    lognormal_ratio: float  # normalised log-likelihood ratio R (power law vs lognormal; > 0 favours the power law)
    lognormal_p: float  # p-value of R (its sign is significant when small)


@dataclass(frozen=True)
class Crackling:
    """The scaling of mean size with duration against the exponents' prediction."""

    slope: float  # least-squares slope of log <S>(D) against log D
    predicted: float  # (alpha - 1) / (tau - 1)
    intercept: float  # of log <S> at log D = 0 (natural logarithms)
    durations: int  # distinct durations D in the fit


@dataclass(frozen=True)
class AvalancheStatistics:
    """Avalanches of a trace with the fits of their sizes and durations and the crackling check."""

    avalanches: Avalanches
    sizes: PowerLawFit  # exponent tau
    durations: PowerLawFit  # exponent alpha
    crackling: Crackling


def activity_from_spikes(times: np.ndarray, duration: float, bin_width: float) -> np.ndarray:
    """Population activity: spikes (of all neurons, ``times`` s) per bin of ``bin_width`` s over [0, duration)."""
    if not bin_width > 0 or not duration > 0:
        raise ValueError(f"activity needs bin_width > 0 s and duration > 0 s (got {bin_width}, {duration})")
    bins = int(np.ceil(np.round(duration / bin_width, 6)))
    step = np.floor(np.round(np.asarray(times, np.float64) / bin_width, 6)).astype(np.int64)
    return np.bincount(step[(step >= 0) & (step < bins)], minlength=bins).astype(np.float64)


def activity_from_rate(rate: np.ndarray, dt: float, size: int, bin_width: float) -> np.ndarray:
    """Population activity from a population rate trace (Hz per step of ``dt`` s, ``size`` neurons): expected
    spikes per bin of ``bin_width`` s (a whole number of steps; a trailing partial bin is dropped)."""
    per_bin = round(bin_width / dt)
    if dt <= 0 or per_bin < 1 or abs(per_bin * dt - bin_width) > 1e-9 * bin_width:
        raise ValueError(f"bin_width {bin_width} s must be a whole number >= 1 of steps of dt = {dt} s")
    counts = np.asarray(rate, np.float64) * size * dt
    return counts[: counts.size // per_bin * per_bin].reshape(-1, per_bin).sum(axis=1)


def find_avalanches(activity: np.ndarray, bin_width: float, percentile: float = 35.0) -> Avalanches:
    """Runs of bins whose activity exceeds its ``percentile`` (the authors' 35th); none is empty arrays."""
    a = np.asarray(activity, np.float64)
    if a.ndim != 1 or a.size == 0 or not 0 <= percentile <= 100:
        raise ValueError(f"find_avalanches needs a non-empty 1-D activity and a percentile in [0, 100] "
                         f"(got shape {a.shape}, {percentile})")
    threshold = float(np.percentile(a, percentile))
    edges = np.diff(np.concatenate(([0], (a > threshold).astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # run = bins [start, end)
    cumulative = np.concatenate(([0.0], np.cumsum(a)))
    return Avalanches(sizes=cumulative[ends] - cumulative[starts], durations=ends - starts, starts=starts,
                      threshold=threshold, bin_width=float(bin_width))


def fit_power_law(x: np.ndarray, discrete: bool | None = None, xmin: float | tuple[float, float] | None = None,
                  xmax: float | None = None, compare_lognormal: bool = True) -> PowerLawFit:
    """Maximum-likelihood power law of the positive samples ``x`` with ``powerlaw.Fit``: ``xmin`` fixed, searched
    in a (low, high) range, or over all data (None: Clauset et al.'s minimum-KS choice; slow for 10^5 samples);
    ``discrete`` None: discrete when every sample is a whole number. With ``compare_lognormal`` the normalised
    likelihood ratio against a lognormal on the same tail (NaN otherwise)."""
    x = np.asarray(x, np.float64)
    x = x[x > 0]
    if np.unique(x).size < 3:
        raise ValueError(f"a power-law fit needs at least 3 distinct positive samples (got {np.unique(x).size})")
    import powerlaw

    discrete = bool(np.all(x == np.round(x))) if discrete is None else discrete
    with warnings.catch_warnings():  # powerlaw warns on every failed trial fit of the x_min search
        warnings.simplefilter("ignore")
        fit = powerlaw.Fit(np.sort(x), discrete=discrete, xmin=xmin, xmax=xmax, verbose=False)
        ratio, p = fit.distribution_compare("power_law", "lognormal", normalized_ratio=True) \
            if compare_lognormal else (np.nan, np.nan)
    if not np.isfinite(fit.xmin):
        raise ValueError("the power-law x_min search found no valid cut-off (too few distinct samples in range)")
    return PowerLawFit(exponent=float(fit.power_law.alpha), sigma=float(fit.power_law.standard_err),
                       xmin=float(fit.xmin), xmax=None if xmax is None else float(xmax), n_tail=int(fit.n),
                       ks_distance=float(fit.power_law.D), discrete=discrete, lognormal_ratio=float(ratio),
                       lognormal_p=float(p))


def crackling(sizes: np.ndarray, durations: np.ndarray, tau: float, alpha: float) -> Crackling:
    """Slope of log <S>(D) against log D over the distinct durations (least squares, each D weighted once), and
    the exponent relation's prediction (alpha - 1)/(tau - 1)."""
    durations = np.asarray(durations)
    if np.unique(durations).size < 2:
        raise ValueError("the crackling check needs avalanches of at least 2 distinct durations")
    values, inverse, counts = np.unique(durations, return_inverse=True, return_counts=True)
    mean_size = np.bincount(inverse, weights=np.asarray(sizes, np.float64)) / counts
    slope, intercept = np.polyfit(np.log(values), np.log(mean_size), 1)
    return Crackling(slope=float(slope), predicted=float((alpha - 1) / (tau - 1)), intercept=float(intercept),
                     durations=int(values.size))


def avalanche_statistics(activity: np.ndarray, bin_width: float, percentile: float = 35.0,
                         size_xmin: float | tuple[float, float] | None = None,
                         duration_xmin: float | tuple[float, float] | None = None) -> AvalancheStatistics:
    """:func:`find_avalanches` of ``activity`` (per bin of ``bin_width`` s), power laws of their sizes (tau) and
    durations (alpha, discrete), and the crackling check with those exponents. No avalanches: ValueError."""
    found = find_avalanches(activity, bin_width, percentile)
    if found.sizes.size == 0:
        raise ValueError(f"no avalanche: no bin exceeds the {percentile}th percentile of the activity")
    sizes = fit_power_law(found.sizes, xmin=size_xmin)
    durations = fit_power_law(found.durations, discrete=True, xmin=duration_xmin)
    return AvalancheStatistics(avalanches=found, sizes=sizes, durations=durations,
                               crackling=crackling(found.sizes, found.durations, sizes.exponent, durations.exponent))
