"""Rate Hebbian training throughput, one core, warm kernel caches (a fresh process per measurement): samples per
second of the fused Numba loop (``RateNetwork.train``, backend numba) and of the torch backend
(``TorchRateNetwork.train``: each batch's matrix-form update from the rule's torch builder) against a plain NumPy
loop over batches of the same updates (dW = eta (Y^T X - T(Y^T Y) W) / B, the matrix form of the Oja family), on
the same inputs, for the Oja subspace rule and Sanger's GHA at n = 50, k = 5 (hebbian_pca.yaml) and n = 64, k = 8
(patches), batches of 1, 10 and 100. All three give the same weights (checked to 1e-9, relative).
    python benchmarks/rate_hebbian.py
"""

from __future__ import annotations

import json

from harness import RESULTS, run_snippet

CASE = """
import numpy as np
import torch
torch.set_num_threads(1)
from biosim.networks.rate_hebbian.model import Projection, RateNetwork, TorchRateNetwork
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
net_torch = TorchRateNetwork(Projection.dense(W0.copy()), rule.implementation("torch"))
net_torch.train(X[:{batch}], {batch})  # first call: torch's own set-up
net_torch = TorchRateNetwork(Projection.dense(W0.copy()), rule.implementation("torch"))
start = time.perf_counter()
net_torch.train(X, {batch})
torch_s = time.perf_counter() - start
part = np.tril if "{rule}" == "sanger" else (lambda m: m)
W = W0.copy()
start = time.perf_counter()
for s in range(0, X.shape[0], {batch}):
    x = X[s:s + {batch}]
    y = x @ W.T
    W += rule.eta * (y.T @ x - part(y.T @ y) @ W) / x.shape[0]
plain = time.perf_counter() - start
assert np.allclose(W, net.W.matrix(), rtol=1e-9, atol=1e-12)
assert np.allclose(W, net_torch.W.matrix(), rtol=1e-9, atol=1e-12)
print(json.dumps({{"fused_s": fused, "torch_s": torch_s, "numpy_s": plain, "fused_samples_per_s": X.shape[0] / fused,
                  "torch_samples_per_s": X.shape[0] / torch_s, "numpy_samples_per_s": X.shape[0] / plain,
                  "ratio": plain / fused, "torch_ratio": plain / torch_s}}))
"""


def main() -> None:
    results = []
    for rule in ("oja_subspace", "sanger"):
        for n, k in ((50, 5), (64, 8)):
            for batch in (1, 10, 100):
                samples = 20_000 if batch == 1 else 200_000
                r = run_snippet(CASE.format(rule=rule, n=n, k=k, batch=batch, samples=samples))
                results.append({"rule": rule, "n": n, "k": k, "batch": batch, "samples": samples, **r})
                print(f"{rule:<13} n={n:<3} k={k:<2} batch={batch:<4} samples/s: numba {r['fused_samples_per_s']:>9.3e}"
                      f", torch {r['torch_samples_per_s']:>9.3e}, numpy {r['numpy_samples_per_s']:>9.3e}; numpy time / "
                      f"numba {r['ratio']:.2f}, / torch {r['torch_ratio']:.2f}", flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rate_hebbian.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
