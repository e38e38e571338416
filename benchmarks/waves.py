"""Wave layers' speed, one core, a fresh process per measurement (issue 14):

1. The 2-D wave kernel (``physical/waves/fdtd.py``, one fused Numba loop over samples, steps and cells) in cell
   updates per second against a straightforward torch implementation of the same update (the 5-point Laplacian as
   ``conv2d``, the speed, damping and update as tensor operations, CPU, one thread) and against the memory-bandwidth
   bound of the update (bytes it must move per cell update over the copy bandwidth measured here with NumPy). Both
   give the same field (checked to 1e-12, relative); Kerr and saturable absorption on.
2. A PhyLL epoch on digits (phyll_digits.yaml, scattering physics and the no-physics digital stack) against a
   backprop epoch of the same digital net (2 x 128, batch 64, layer_local backprop, one step per batch); PhyLL with
   the experiment's 5 Adam steps per batch and with one; median of 3 processes, each epoch with its evaluation
   (PhyLL's: 10 label passes per item).
    python benchmarks/waves.py
"""

from __future__ import annotations

import json
import statistics

from harness import RESULTS, run_experiment_metrics, run_snippet

KERNEL = """
import numpy as np, torch
torch.set_num_threads(1)
from biosim.physical.waves.wave import Wave2D
size, steps, batch = {size}, {steps}, {batch}
layer = Wave2D(size=size, steps=steps, outputs=16, kerr=0.5, absorption=0.2, u_th=0.01)
medium = layer.build(32, np.random.default_rng(0))
x = np.random.default_rng(1).uniform(0, 1, (batch, 32))
signals = medium.signals(x)
medium.run(signals[:1, :2])  # load the compiled kernel
start = time.perf_counter()
_, traces = medium.run(signals, keep_traces=True)
numba_s = time.perf_counter() - start

def torch_run(signals):
    c0, kerr, b0, sat = (torch.tensor(a) for a in (medium.c0, medium.kerr, medium.damping, medium.saturable))
    dt, cap = medium.dt, 1 / (medium.dt * np.sqrt(2))
    lap_kernel = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=torch.float64)[None, None]
    src, prb = torch.tensor(medium.sources), torch.tensor(medium.probes)
    sig = torch.tensor(signals)
    B, T = sig.shape[:2]
    u_prev = torch.zeros(B, 1, size, size, dtype=torch.float64)
    u = torch.zeros_like(u_prev)
    inner = (slice(None), 0, slice(1, -1), slice(1, -1))
    out = torch.zeros(B, T, len(prb), dtype=torch.float64)
    for t in range(T):
        lap = torch.nn.functional.conv2d(u, lap_kernel)[:, 0]
        v = u[inner]
        c = torch.clamp(c0[1:-1, 1:-1] + kerr[1:-1, 1:-1] * v * v, max=cap)
        b = b0[1:-1, 1:-1] + sat[1:-1, 1:-1] / (1 + (v / medium.u_th) ** 2)
        a = 0.5 * b * dt
        new = torch.zeros_like(u)
        new[inner] = (2 * v - (1 - a) * u_prev[inner] + (c * dt) ** 2 * lap) / (1 + a)
        new[:, 0, src[:, 0], src[:, 1]] += dt * dt * sig[:, t]
        u_prev, u = u, new
        out[:, t] = u[:, 0, prb[:, 0], prb[:, 1]]
    return out

torch_run(signals[:1, :2])
start = time.perf_counter()
reference = torch_run(signals)
torch_s = time.perf_counter() - start
error = float(np.abs(reference.numpy() - traces).max() / np.abs(traces).max())
a = np.ones(2**25)  # 256 MiB: the copy bandwidth (read + write)
b = np.empty_like(a)
np.copyto(b, a)
start = time.perf_counter()
for _ in range(5):
    np.copyto(b, a)
copy_s = (time.perf_counter() - start) / 5
bandwidth = 2 * a.nbytes / copy_s
updates = batch * steps * (size - 2) ** 2
# per cell update: read u_prev, c0, kerr, damping, saturable and u (neighbours cached), write u_next: 7 doubles
bound = bandwidth / (7 * 8)
print(json.dumps({{"numba_updates_per_s": updates / numba_s, "torch_updates_per_s": updates / torch_s,
                   "bandwidth_bound_updates_per_s": bound, "copy_bandwidth_GBps": bandwidth / 1e9,
                   "relative_difference": error}}))
"""


EPOCHS = {
    "phyll_scattering": ("phyll_digits.yaml", []),
    "phyll_no_physics": ("phyll_digits.yaml", ["variant=no_physics"]),
    "phyll_no_physics_one_step": ("phyll_digits.yaml", ["variant=no_physics", "steps_per_batch=1"]),
    "backprop_same_net": ("ff_digits.yaml", ["rule=backprop", "hidden=[128, 128]", "batch_size=64", "lr=0.003",
                                             "threads=1"]),
}


def main() -> None:
    results = {}
    for size, steps, batch in ((64, 200, 8), (256, 800, 1)):  # 800 steps: the waves reach the far probes
        r = run_snippet(KERNEL.format(size=size, steps=steps, batch=batch))
        results[f"kernel_{size}"] = r
        print(f"{size} x {size}: numba {r['numba_updates_per_s']:.3g} cell updates/s, torch conv2d "
              f"{r['torch_updates_per_s']:.3g} ({r['numba_updates_per_s'] / r['torch_updates_per_s']:.1f}x), "
              f"bandwidth bound {r['bandwidth_bound_updates_per_s']:.3g} "
              f"({r['numba_updates_per_s'] / r['bandwidth_bound_updates_per_s']:.0%} of it; copy "
              f"{r['copy_bandwidth_GBps']:.1f} GB/s); same field to {r['relative_difference']:.1e}", flush=True)
    for name, (file, overrides) in EPOCHS.items():
        runs = [run_experiment_metrics(file, overrides + ["epochs=5"], ["epochs_per_s", "test_accuracy"])
                for _ in range(3)]
        r = {"epochs_per_s": statistics.median(run["epochs_per_s"] for run in runs),
             "test_accuracy": runs[0]["test_accuracy"], "runs": runs}
        results[name] = r
        print(f"{name:<18} {r['epochs_per_s']:.2f} epochs/s (test accuracy after 5 epochs {r['test_accuracy']:.3f})",
              flush=True)
    for name, steps in (("phyll_no_physics", "the experiment's steps"), ("phyll_no_physics_one_step", "one step")):
        ratio = results["backprop_same_net"]["epochs_per_s"] / results[name]["epochs_per_s"]
        print(f"a PhyLL epoch (no physics, {steps} per batch) takes {ratio:.2f}x a backprop epoch of the same "
              f"digital net", flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "waves.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
