"""Ahmad & Hawkins error probabilities: exact formulas vs an independent rational reference, the
spec's reference table (to its printed precision) and Monte-Carlo simulation."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from biosim.networks.dendritic import montecarlo as mc
from biosim.networks.dendritic import theory

# spec sdr.md section 1.3: (n, a, s, theta, printed exact value)
E1_TABLE = [
    (300, 64, 24, 12, "1.0946e-3"), (500, 64, 24, 12, "5.6957e-6"), (500, 128, 24, 12, "7.3679e-3"),
    (700, 128, 24, 12, "3.2011e-4"), (1100, 256, 24, 12, "3.5055e-3"), (1500, 256, 24, 12, "1.8651e-4"),
    (4000, 128, 24, 12, "1.3432e-12"), (2000, 500, 24, 12, "6.8808e-3"), (2048, 40, 24, 12, "1.1773e-15"),
    (2048, 40, 20, 10, "3.91e-13"), (2048, 40, 16, 8, "1.17e-10"), (2048, 40, 12, 6, "3.20e-8"),
    (4000, 64, 24, 12, "2.2289e-16"), (2000, 32, 2, 1, "3.1752e-2"), (2000, 32, 10, 5, "1.8071e-7"),
    (2000, 32, 20, 10, "3.9043e-14"), (16000, 4000, 30, 15, "2.7252e-3"), (10000, 300, 24, 12, "8.3758e-13"),
    (200000, 2000, 10, 10, "9.7794e-21"), (200000, 2000, 20, 10, "1.6499e-15"),
    (100000, 2000, 6, 6, "6.353e-11"), (100000, 2000, 8, 8, "2.525e-14"), (100000, 2000, 10, 10, "1.002e-17"),
    (100000, 2000, 12, 6, "5.294e-8"), (100000, 2000, 16, 8, "2.817e-10"), (100000, 2000, 20, 10, "1.542e-12"),
    (100000, 2000, 24, 12, "8.587e-15"),
]


def printed_tolerance(text: str) -> float:
    """Relative half-unit of the last printed digit, e.g. '1.0946e-3' -> 0.5e-4 / 1.0946."""
    mantissa = text.split("e")[0]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return 0.5 * 10.0 ** -decimals / float(mantissa)


def reference_false_match(n: int, a: int, s: int, theta: int) -> Fraction:
    """Independent form: by symmetry, P(a random s-subset hits >= theta of a fixed a cells); terms by
    the ratio recursion of the hypergeometric pmf, all in exact rationals."""
    term = Fraction(math.comb(n - a, s), math.comb(n, s))  # b = 0
    total = Fraction(0)
    for b in range(0, min(a, s) + 1):
        if b >= theta:
            total += term
        term *= Fraction((a - b) * (s - b), (b + 1) * (n - a - s + b + 1))
    return total


@pytest.mark.parametrize(("n", "a", "s", "theta", "printed"), E1_TABLE)
def test_false_match_exact_against_rational_reference_and_spec(n, a, s, theta, printed):
    exact = theory.false_match(n, a, s, theta)
    assert float(exact) == pytest.approx(float(reference_false_match(n, a, s, theta)), rel=1e-9)
    assert float(exact) == pytest.approx(float(printed), rel=printed_tolerance(printed))


def test_far_tail_is_exact_beyond_float_range():
    assert theory.false_match(10**6, 2, 2, 2) == Fraction(2, 10**6 * (10**6 - 1))  # C(2,2) / C(1e6, 2)
    # every one of s = 200 synapses active: prod_i (a - i) / (n - i), about 1e-400 (floats stop at 1e-308)
    n, a, s = 200000, 2000, 200
    expected = sum(math.log10(a - i) - math.log10(n - i) for i in range(s))
    p = theory.false_match(n, a, s, s)
    assert float(p) == 0.0 and p > 0
    assert theory.log10(p) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("a", "s", "theta", "v", "printed"), [
    (128, 30, 8, 64, "7.354e-4"), (128, 30, 12, 64, "7.1699e-2"), (128, 30, 16, 64, "0.58250"),
    (128, 30, 12, 32, "2.163e-7"), (128, 30, 16, 32, "5.901e-4"),
])
def test_false_negative_against_spec(a, s, theta, v, printed):
    assert float(theory.false_negative(a, s, theta, v)) == pytest.approx(float(printed),
                                                                         rel=printed_tolerance(printed))


def test_union_size_distribution_is_a_distribution_with_the_expected_mean():
    n, k, m = 1000, 30, 10
    counts = theory.union_size_counts(n, k, m)
    total = math.comb(n, k) ** m
    assert sum(counts.values()) == total
    mean = Fraction(sum(j * w for j, w in counts.items()), total)
    assert float(mean) == pytest.approx(theory.expected_union_size(n, k, m), rel=1e-12)


@pytest.mark.parametrize(("m", "exact", "approx"), [(5, "1.2397e-4", "1.2043e-4"), (10, "1.8710e-2", "1.8789e-2"),
                                                    (20, "0.43028", "0.42938")])
def test_union_input_form_against_spec(m, exact, approx):
    got = theory.union_false_match(1000, 30, 20, 10, m, form="input")
    assert float(got) == pytest.approx(float(exact), rel=printed_tolerance(exact))
    got = theory.union_false_match(1000, 30, 20, 10, m, form="input", method="approx")
    assert float(got) == pytest.approx(float(approx), rel=printed_tolerance(approx))


@pytest.mark.parametrize(("m", "exact"), [(1, "5.3035e-20"), (5, "2.3840e-8"), (10, "1.2857e-4")])
def test_union_segment_form_against_spec(m, exact):
    got = theory.union_false_match(10000, 200, 25, 15, m)
    assert float(got) == pytest.approx(float(exact), rel=printed_tolerance(exact))


def test_classifier_bound_and_exact_against_spec():
    for theta, bound, exact in ((4, "0.14469", "0.13473"), (5, "2.8265e-3", "2.8225e-3")):
        got_bound, got_exact = theory.classifier_false_match(100, 7, theta, 500)
        assert float(got_bound) == pytest.approx(float(bound), rel=printed_tolerance(bound))
        assert float(got_exact) == pytest.approx(float(exact), rel=printed_tolerance(exact))


def test_threshold_medians_against_spec_table():
    table = {3: "1.73e-2", 4: "1.99e-3", 5: "1.71e-4", 6: "1.20e-5", 7: "6.57e-7", 8: "3.33e-8", 9: "1.35e-9",
             10: "4.80e-11", 12: "3.41e-14", 14: "9.34e-18", 16: "1.43e-21", 20: "3.90e-30", 24: "2.07e-39"}
    medians = theory.threshold_medians(table)
    for theta, printed in table.items():
        assert medians[theta] == pytest.approx(float(printed), rel=printed_tolerance(printed))
    assert min(t for t in table if medians[t] <= 1e-7) == 8  # the paper's "minimum NMDA threshold"


# -- Monte Carlo (issue acceptance: 1e6 random patterns per check) ------------------------------------
def test_montecarlo_false_match_within_5_percent():
    rate = mc.false_match_trials(np.random.default_rng(11), 500, 128, 24, 12, 10**6) / 10**6
    assert rate == pytest.approx(float(theory.false_match(500, 128, 24, 12)), rel=0.05)


def test_montecarlo_false_negative_within_3_percent():
    rate = mc.false_negative_trials(np.random.default_rng(12), 6000, 128, 30, 12, 64, 10**6) / 10**6
    assert rate == pytest.approx(float(theory.false_negative(128, 30, 12, 64)), rel=0.03)


def test_montecarlo_union_within_3_percent_of_markov_chain():
    rate = mc.union_trials(np.random.default_rng(13), 1000, 30, 20, 10, 10, mc.FORM_INPUT, 10**6) / 10**6
    exact = float(theory.union_false_match(1000, 30, 20, 10, 10, form="input"))
    assert rate == pytest.approx(exact, rel=0.03)


@pytest.mark.parametrize(("kernel", "args", "exact"), [
    (mc.false_match_trials, (60, 10, 8, 3), theory.false_match(60, 10, 8, 3)),
    (mc.false_negative_trials, (200, 20, 10, 6, 8), theory.false_negative(20, 10, 6, 8)),
    (mc.union_trials, (80, 6, 5, 3, 4, mc.FORM_SEGMENT), theory.union_false_match(80, 6, 5, 3, 4)),
    (mc.union_trials, (80, 6, 5, 3, 4, mc.FORM_INPUT), theory.union_false_match(80, 6, 5, 3, 4, form="input")),
    (mc.classifier_trials, (40, 5, 3, 20), theory.classifier_false_match(40, 5, 3, 20)[1]),
])
def test_every_kernel_agrees_with_theory_on_small_settings(kernel, args, exact):
    """Small n makes every probability large, so 2e5 trials resolve it to about 1% (|z| < 4)."""
    trials = 200_000
    rate, p = kernel(np.random.default_rng(5), *args, trials) / trials, float(exact)
    assert 0.01 < p < 0.99
    assert abs(rate - p) < 4 * math.sqrt(p * (1 - p) / trials)
