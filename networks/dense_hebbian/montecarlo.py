"""Monte Carlo of dense Hebbian networks: Glauber or Metropolis dynamics on the P-body energy
H(sigma) = -c N sum_nu (A_nu / (N s_nu))^P with integer overlaps A_nu = S_nu . sigma.

The energy difference of flipping spin i costs O(L) (L stored patterns), never O(N^(P-1)):
dE = -c N sum_nu [((A_nu - 2 S_nu,i sigma_i) / (N s_nu))^P - (A_nu / (N s_nu))^P]. An accepted flip updates the
overlaps exactly, A_nu -= 2 S_nu,i sigma_i, and recomputes from them the terms (A_nu / (N s_nu))^P of the current
state, so an attempt evaluates one power per pattern and nothing drifts. One fused kernel runs all sweeps of one
chain (random-order or sequential sweeps, a beta per sweep: annealing), recording Mattis magnetisations,
example-average overlaps and the energy every ``record_every`` sweeps; each chain draws from its own
``np.random.Generator``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numba import njit

from biosim.networks.dense_hebbian.target import StoredPatterns
from biosim.streams import randint

GLAUBER, METROPOLIS = 0, 1
RANDOM, SEQUENTIAL = 0, 1
DYNAMICS = {"glauber": GLAUBER, "metropolis": METROPOLIS}
ORDERS = {"random": RANDOM, "sequential": SEQUENTIAL}


@njit(cache=True, inline="always")
def power(x, P):
    """x^P for an even P >= 2 (Numba's ``**`` with a run-time exponent calls pow)."""
    x2 = x * x
    result = x2
    for _ in range(P // 2 - 1):
        result *= x2
    return result


@njit(cache=True)
def delta_energy(ST, A, terms, inv, coef_n, P, i, s):
    """Energy difference of flipping spin i (now ``s``): ST int [N, L] stored patterns by spin, A int64 [L]
    overlaps, terms [L] = (A_nu / (N s_nu))^P (see ``pattern_terms``), inv [L] = 1 / (N s_nu), coef_n = c N."""
    row = ST[i]
    total = 0.0
    for nu in range(A.shape[0]):
        total += power((A[nu] - 2 * row[nu] * s) * inv[nu], P) - terms[nu]
    return -coef_n * total


@njit(cache=True)
def pattern_terms(A, inv, P, terms):
    """terms_nu = (A_nu / (N s_nu))^P, recomputed from the exact overlaps (no drift) after each accepted flip."""
    for nu in range(A.shape[0]):
        terms[nu] = power(A[nu] * inv[nu], P)


@njit(cache=True)
def energy(A, inv, coef_n, P):
    """H = -c N sum_nu (A_nu / (N s_nu))^P."""
    total = 0.0
    for nu in range(A.shape[0]):
        total += power(A[nu] * inv[nu], P)
    return -coef_n * total


@njit(cache=True)
def accept(dE, beta, dynamics, rng):
    """Whether a flip of energy difference dE is accepted at inverse temperature beta (inf: T = 0, where a tie
    dE = 0 is the rule's limit: Glauber 1/2, Metropolis always)."""
    if dynamics == METROPOLIS:
        if dE <= 0.0:
            return True
        if beta == np.inf:
            return False
        return rng.random() < np.exp(-beta * dE)
    if beta == np.inf:
        if dE == 0.0:
            return rng.random() < 0.5
        return dE < 0.0
    return rng.random() < 1.0 / (1.0 + np.exp(beta * dE))


@njit(cache=True)
def _record(sigma, A, inv, coef_n, P, xi, label, label_inv, m_out, n_out, e_out, k):
    N = sigma.shape[0]
    for mu in range(xi.shape[0]):
        total = 0
        for j in range(N):
            total += xi[mu, j] * sigma[j]
        m_out[k, mu] = total / N
    n_out[k] = 0.0
    for nu in range(A.shape[0]):
        n_out[k, label[nu]] += A[nu] * label_inv[label[nu]]
    e_out[k] = energy(A, inv, coef_n, P) / N


@njit(cache=True)
def run_chain(ST, inv, coef_n, P, sigma, A, betas, dynamics, order, record_every, xi, label, label_inv,
              m_out, n_out, e_out, rng):
    """All sweeps of one chain, in place on ``sigma`` (int8 [N]) and ``A`` (int64 [L]); sweep t runs at
    ``betas[t]``, N attempts each. Records (m_mu = xi^mu . sigma / N, n_mu = eta_bar^mu . sigma / N, H / N) at the
    start and after every ``record_every`` sweeps into ``m_out`` [records, K], ``n_out`` [records, classes] (``label``
    in [0, classes)), ``e_out`` [records].
    Returns the number of accepted flips."""
    N, L = sigma.shape[0], A.shape[0]
    terms = np.empty(L)
    pattern_terms(A, inv, P, terms)
    _record(sigma, A, inv, coef_n, P, xi, label, label_inv, m_out, n_out, e_out, 0)
    accepted = 0
    for t in range(betas.shape[0]):
        beta = betas[t]
        for k in range(N):
            i = k if order == SEQUENTIAL else randint(rng, N)
            s = sigma[i]
            if accept(delta_energy(ST, A, terms, inv, coef_n, P, i, s), beta, dynamics, rng):
                row = ST[i]
                for nu in range(L):
                    A[nu] -= 2 * row[nu] * s
                pattern_terms(A, inv, P, terms)
                sigma[i] = -s
                accepted += 1
        if (t + 1) % record_every == 0:
            _record(sigma, A, inv, coef_n, P, xi, label, label_inv, m_out, n_out, e_out, (t + 1) // record_every)
    return accepted


@dataclass
class Traces:
    """What the chains recorded: row k is after ``k * record_every`` sweeps (row 0: the start)."""

    m: np.ndarray  # [chains, records, K] Mattis magnetisations xi^mu . sigma / N
    n: np.ndarray  # [chains, records, classes] overlaps with the example averages eta_bar^mu . sigma / N
    energy: np.ndarray  # [chains, records] H / N
    accepted: np.ndarray  # int [chains]: accepted flips
    final: np.ndarray  # int8 [chains, N]: the last states
    overlaps: np.ndarray  # int64 [chains, L]: the incrementally kept A_nu at the end
    done: int  # chains run (fewer than asked when stopped)
    seconds: float  # wall time of the chains, s (the compiled kernel already loaded)


def beta_schedule(beta: float, sweeps: int, beta0: float | None = None, schedule: str = "linear") -> np.ndarray:
    """Inverse temperature per sweep: constant ``beta``, or annealed from ``beta0`` to ``beta`` (linear or
    geometric in beta)."""
    if beta0 is None or sweeps == 1:
        return np.full(sweeps, float(beta))
    if schedule == "geometric":
        return np.geomspace(beta0, beta, sweeps)
    return np.linspace(beta0, beta, sweeps)


def _narrowest(S: np.ndarray) -> type:
    """The narrowest signed integer type that holds every entry of ``S`` (int8 for +-1 examples)."""
    top = int(np.abs(S).max(initial=0))
    return next(t for t in (np.int8, np.int16, np.int32) if top <= np.iinfo(t).max)


def run_chains(stored: StoredPatterns, P: int, xi: np.ndarray, starts: np.ndarray, betas: np.ndarray,
               rngs: list[np.random.Generator], dynamics: str = "glauber", order: str = "random",
               record_every: int = 1, stop: Callable[[], bool] = lambda: False) -> Traces:
    """Run one chain per start state (int8 [chains, N]) with its own generator; ``xi`` (int8 [K, N]) are the
    archetypes whose Mattis magnetisations are recorded, the stored patterns' labels the classes of the
    example-average overlaps. ``stop()`` is asked between chains."""
    chains, N = starts.shape
    K, classes = xi.shape[0], int(stored.label.max()) + 1
    records = betas.size // record_every + 1
    ST = np.ascontiguousarray(stored.S.T, dtype=_narrowest(stored.S))  # by spin; narrow: less memory traffic
    inv = 1.0 / (N * stored.scale.astype(np.float64))
    label_inv = 1.0 / (N * np.bincount(stored.label, weights=stored.scale))
    coef_n = float(stored.coefficient) * N
    m, n = np.full((chains, records, K), np.nan), np.full((chains, records, classes), np.nan)
    e = np.full((chains, records), np.nan)
    accepted = np.zeros(chains, np.int64)
    final = starts.astype(np.int8, copy=True)
    overlaps = np.zeros((chains, stored.S.shape[0]), np.int64)
    done = 0
    S = stored.S.astype(np.int64)  # once: every chain's starting overlaps A = S . sigma

    def chain(c: int, sigma: np.ndarray, betas: np.ndarray, m: np.ndarray, n: np.ndarray, e: np.ndarray) -> int:
        A = S @ sigma.astype(np.int64)
        accepted = run_chain(ST, inv, coef_n, P, sigma, A, betas, DYNAMICS[dynamics], ORDERS[order], record_every,
                             xi, stored.label, label_inv, m, n, e, rngs[c])
        overlaps[c] = A
        return accepted

    if chains:  # load the compiled kernel for these argument types before the clock starts (0 sweeps: no draws)
        chain(0, final[0].copy(), betas[:0], m[0].copy(), n[0].copy(), e[0].copy())
    start = time.perf_counter()
    for c in range(chains):
        if stop():
            break
        accepted[c] = chain(c, final[c], betas, m[c], n[c], e[c])
        done += 1
    return Traces(m, n, e, accepted, final, overlaps, done, time.perf_counter() - start)
