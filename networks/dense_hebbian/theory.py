"""Analytic predictions for dense Hebbian networks (spec hebbian.md 3.2 and textbook Hopfield results).

* ``majority_magnetization``: at T = 0 and low load the retrieval state is sigma_i = sign(eta_bar_i), a majority vote
  over the M examples, for any P: m = P(S > 0) - P(S < 0), S a sum of M independent chi = +-1 (exact, binomial).
* ``mean_field``: P = 2 with R-normalisation, n = E[eta_bar tanh(beta eta_bar n / R)], m = E[xi tanh(beta eta_bar n /
  R)] over the exact distribution of eta_bar; retrieval vanishes at beta_c = 1 (the top eigenvalue of J is 1).
* ``crosstalk_load``: the T = 0 signal-to-noise estimate, retrieval needs N^(P-1) / (K (2P-3)!! (1 + rho)^P) >> 1,
  so alpha = K / N^(P-1) below 1 / ((2P-3)!! (1 + rho)^P) (an order of magnitude, not a sharp line).
* Hopfield lines (M = 1, r = 1, P = 2): the T = 0 capacity alpha_c = 0.138 and the spin-glass temperature
  T_g = 1 + sqrt(alpha) (Amit, Gutfreund & Sompolinsky 1985).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import binom

from biosim.networks.dense_hebbian.patterns import data_entropy, example_norm

HOPFIELD_ALPHA_C = 0.138  # AGS T = 0 storage capacity of the Hopfield model


def example_average_law(M: int, r: float) -> tuple[np.ndarray, np.ndarray]:
    """The exact law of eta_bar_i xi_i = S / M, S a sum of M chi = +-1 with P(chi = 1) = (1 + r)/2: (values, probs)."""
    b = np.arange(M + 1)
    return (2 * b - M) / M, binom.pmf(b, M, (1 + r) / 2)


def majority_magnetization(M: int, r: float) -> float:
    """m = P(S > 0) - P(S < 0): the Mattis magnetisation of sign(eta_bar) (ties count 0)."""
    values, probs = example_average_law(M, r)
    return float(probs[values > 0].sum() - probs[values < 0].sum())


def mean_field(beta: float, M: int, r: float, iterations: int = 10_000, tol: float = 1e-12) -> tuple[float, float]:
    """P = 2 retrieval solution (m, n) by fixed-point iteration from n = R (the retrieval side); beta = inf gives
    the majority vote. Returns (0, 0) in the paramagnetic phase."""
    values, probs = example_average_law(M, r)
    R = example_norm(M, r)
    n = R
    for _ in range(iterations):
        field = np.sign(values) if beta == math.inf else np.tanh(beta * values * n / R)
        new = float(np.sum(probs * values * field))
        if abs(new - n) < tol:
            n = new
            break
        n = new
    field = np.sign(values) if beta == math.inf else np.tanh(beta * values * n / R)
    return float(np.sum(probs * field)), n


def double_factorial(k: int) -> int:
    """k!! for odd k >= -1."""
    return math.prod(range(k, 0, -2)) if k > 0 else 1


def crosstalk_load(P: int, M: int, r: float) -> float:
    """The load alpha = K / N^(P-1) at which the T = 0 signal-to-noise estimate reaches 1."""
    return 1.0 / (double_factorial(2 * P - 3) * (1 + data_entropy(M, r)) ** P)


def hopfield_glass_beta(alpha: np.ndarray) -> np.ndarray:
    """beta_g = 1 / (1 + sqrt(alpha)): the paramagnet / spin-glass line of the Hopfield model (P = 2, M = 1, r = 1)."""
    return 1.0 / (1.0 + np.sqrt(alpha))
