"""Rate Hebbian training throughput, one core, warm kernel caches (a fresh process per measurement): samples per
second of the fused Numba loop (``RateNetwork.train``) against a plain NumPy loop over batches of the same updates
(dW = eta (Y^T X - T(Y^T Y) W) / B, the matrix form of the Oja family), on the same inputs, for the Oja subspace rule
and Sanger's GHA at n = 50, k = 5 (hebbian_pca.yaml) and n = 64, k = 8 (patches), batches of 1, 10 and 100. The
two give the same weights (checked to 1e-9, relative).
    python benchmarks/rate_hebbian.py
"""

from __future__ import annotations

import json

from harness import RESULTS, run_snippet

CASE = """
import numpy as np
from biosim.networks.rate_hebbian.model import Projection, RateNetwork
from biosim.registry import get
rule = get("rule", "{rule}")(eta=0.002)
rng = np.random.default_rng(0)
X = rng.standard_normal(({samples}, {n}))
W0 = rng.standard_normal(({k}, {n})) * 0.1
net = RateNetwork(Projection.dense(W0.copy()), rule.implementation("numba"))
net.train(X[:{batch}], {batch})  # load the compiled loop
net = RateNetwork(Projection.dense(W0.copy()), rule.implementation("numba"))
start = time.perf_counter()
net.train(X, {batch})
fused = time.perf_counter() - start
part = np.tril if "{rule}" == "sanger" else (lambda m: m)
W = W0.copy()
start = time.perf_counter()
for s in range(0, X.shape[0], {batch}):
    x = X[s:s + {batch}]
    y = x @ W.T
    W += rule.eta * (y.T @ x - part(y.T @ y) @ W) / x.shape[0]
plain = time.perf_counter() - start
assert np.allclose(W, net.W.matrix(), rtol=1e-9, atol=1e-12)
print(json.dumps({{"fused_s": fused, "numpy_s": plain, "fused_samples_per_s": X.shape[0] / fused,
                  "numpy_samples_per_s": X.shape[0] / plain, "ratio": plain / fused}}))
"""


def main() -> None:
    results = []
    for rule in ("oja_subspace", "sanger"):
        for n, k in ((50, 5), (64, 8)):
            for batch in (1, 10, 100):
                samples = 20_000 if batch == 1 else 200_000
                r = run_snippet(CASE.format(rule=rule, n=n, k=k, batch=batch, samples=samples))
                results.append({"rule": rule, "n": n, "k": k, "batch": batch, "samples": samples, **r})
                print(f"{rule:<13} n={n:<3} k={k:<2} batch={batch:<4} fused {r['fused_samples_per_s']:>10.3e} "
                      f"samples/s, numpy {r['numpy_samples_per_s']:>10.3e}, numpy / fused time {r['ratio']:.1f}",
                      flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rate_hebbian.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
