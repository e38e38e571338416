"""Dense Hebbian Monte Carlo throughput, one core, warm kernel cache (a fresh process per measurement):

* spin-flip attempts per second of biosim's fused Numba chain (Glauber, random order, beta = 2, supervised storage,
  N = 1000, M = 1, r = 1) against a straightforward vectorised NumPy implementation of the same dynamics (one
  attempt at a time, the energy difference vectorised over the stored patterns), and their ratio, for K = 10 ... 1000;
* the cost per attempt against K for P = 2 and P = 4: it grows linearly in K (a least-squares line, and the cost
  ratio between K = 1000 and K = 100) and hardly depends on P, whereas the coupling tensor would cost N^(P-1) per
  spin (10^3 vs 10^9 here).
    python benchmarks/dense_hebbian.py
"""

from __future__ import annotations

import json

import numpy as np
from harness import RESULTS, run_snippet

SNIPPET = """
import numpy as np
from biosim.networks.dense_hebbian import montecarlo as mc, patterns
from biosim.rules.dense_hebbian import Supervised
from biosim.streams import stream
N, K, P, sweeps, numpy_attempts = {N}, {K}, {P}, {sweeps}, {numpy_attempts}
data = patterns.draw(N, K, 1, 1.0, stream(1, "archetypes"), stream(1, "examples"))
stored = Supervised().implementation("numba", examples=list(data.eta), P=P, R=1.0)
start = data.xi[:1]
mc.run_chains(stored, P, data.xi, start, np.full(1, 2.0), [stream(1, "warm-up")])  # loads the compiled chain
t0 = time.perf_counter()
traces = mc.run_chains(stored, P, data.xi, start, np.full(sweeps, 2.0), [stream(1, "chain 0")])
numba_s = time.perf_counter() - t0

def numpy_chain(S, scale, c, P, sigma, beta, attempts, rng):
    \"\"\"The same Glauber dynamics in NumPy: one attempt at a time, dE vectorised over the L stored patterns.\"\"\"
    N = sigma.size
    ST = np.ascontiguousarray(S.T).astype(np.int64)
    A = S.astype(np.int64) @ sigma.astype(np.int64)
    inv = 1.0 / (N * scale)
    accepted = 0
    for _ in range(attempts):
        i = rng.integers(N)
        s = sigma[i]
        new = A - 2 * s * ST[i]
        dE = -c * N * np.sum((new * inv) ** P - (A * inv) ** P)
        if rng.random() < 1.0 / (1.0 + np.exp(beta * dE)):
            A, sigma[i] = new, -s
            accepted += 1
    return accepted

sigma = start[0].copy()
t0 = time.perf_counter()
numpy_chain(stored.S, stored.scale, stored.coefficient, P, sigma, 2.0, numpy_attempts, np.random.default_rng(1))
numpy_s = time.perf_counter() - t0
print(json.dumps({{"N": N, "K": K, "P": P, "numba_attempts_per_s": sweeps * N / numba_s,
                  "numpy_attempts_per_s": numpy_attempts / numpy_s,
                  "numba_ns_per_attempt": numba_s / (sweeps * N) * 1e9,
                  "accepted_fraction": float(traces.accepted[0]) / (sweeps * N)}}))
"""

KS = (10, 30, 100, 300, 1000)


def main() -> None:
    run_snippet(SNIPPET.format(N=1000, K=10, P=2, sweeps=1, numpy_attempts=10))  # compile the kernels
    rows = []
    for P in (2, 4):
        for K in KS:
            sweeps = max(10, 20_000 // K)
            rows.append(run_snippet(SNIPPET.format(N=1000, K=K, P=P, sweeps=sweeps, numpy_attempts=20_000)))
            r = rows[-1]
            print(f"P = {P}, K = {K:>5}: numba {r['numba_attempts_per_s']:.3e} attempts/s "
                  f"({r['numba_ns_per_attempt']:.1f} ns each), numpy {r['numpy_attempts_per_s']:.3e}, ratio "
                  f"{r['numba_attempts_per_s'] / r['numpy_attempts_per_s']:.0f}", flush=True)
    fits = {}
    for P in (2, 4):
        ks = np.array([r["K"] for r in rows if r["P"] == P], float)
        ns = np.array([r["numba_ns_per_attempt"] for r in rows if r["P"] == P])
        slope, intercept = np.polyfit(ks, ns, 1)
        fits[P] = {"ns_per_attempt_per_pattern": slope, "ns_per_attempt_at_K0": intercept,
                   "max_relative_residual": float(np.max(np.abs(slope * ks + intercept - ns) / ns)),
                   "cost_ratio_K1000_over_K100": float(ns[-1] / ns[2])}
        print(f"P = {P}: {slope:.2f} ns per stored pattern + {intercept:.1f} ns per attempt "
              f"(max residual {fits[P]['max_relative_residual']:.1%}); cost(K=1000) / cost(K=100) = "
              f"{fits[P]['cost_ratio_K1000_over_K100']:.2f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dense_hebbian.json").write_text(json.dumps({"rows": rows, "linear_fits": fits}, indent=2))
    print(f"wrote {RESULTS / 'dense_hebbian.json'}")


if __name__ == "__main__":
    main()
