"""Crossbar MVM throughput, one core, a fresh process per size (issue 15).

One analog matrix-vector product on tiles (differential pairs, 2% programming noise, 1% read noise drawn per MVM,
7-bit DAC, 9-bit ADC with bound management, tiles of 512 rows) through the Numba kernel (``tile.mvm``, read-noise
draws included) and the torch path (``analog.mvm_torch``, float64, as evaluation runs it), against a plain
matmul of the same shapes (NumPy float64 and torch float64/float32, one thread) and, where it could be built in its
own environment, aihwkit's ``AnalogLinear`` with its inference preset (set ``AIHWKIT_PYTHON`` to that
environment's interpreter). Rates are multiply-accumulates per second (batch x rows x columns per call / s), median
of 10 calls after a warm-up.
    python benchmarks/crossbar.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from harness import PRELUDE, RESULTS, run_snippet

SIZES = ((512, 512, 256), (2048, 1024, 256))  # rows (inputs), columns (outputs), batch

SNIPPET = """
import statistics
import numpy as np, torch
torch.set_num_threads(1)
from biosim.physical.crossbar.analog import AnalogMatmul
from biosim.physical.crossbar.device import Memristor
from biosim.physical.crossbar.tile import Crossbar
n, m, batch = {n}, {m}, {batch}
rng = np.random.default_rng(0)
W = rng.normal(0, 1 / np.sqrt(n), (n, m))
x = rng.uniform(-1, 1, (batch, n))
device = Memristor(g_max=25e-6, g_min=2.5e-6, programming="gaussian", sigma_programming=0.02, sigma_read=0.01)
layer = AnalogMatmul(torch.from_numpy(W), device, Crossbar(tile_rows=512))
layer.program(np.random.default_rng(1), np.random.default_rng(2))
layer.eval()
matrix = layer.matrix
xt64, xt32, Wt64, Wt32 = (torch.from_numpy(a) for a in (x, x.astype(np.float32), W, W.astype(np.float32)))

def timed(call):
    call()
    times = []
    for _ in range(10):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)

read = np.random.default_rng(3)
with torch.no_grad():
    seconds = {{"numpy_matmul_f64": timed(lambda: x @ W), "torch_matmul_f64": timed(lambda: xt64 @ Wt64),
               "torch_matmul_f32": timed(lambda: xt32 @ Wt32), "biosim_numba": timed(lambda: matrix(x, read)),
               "biosim_torch": timed(lambda: layer(xt64))}}
    y_numba = matrix(x, None)
    layer.read_rng = None
    y_torch = layer(xt64).numpy()
error = float(np.abs(y_numba - y_torch).max() / np.abs(y_numba).max())
macs = batch * n * m
print(json.dumps({{**{{k + "_macs_per_s": macs / s for k, s in seconds.items()}}, "paths_relative_difference": error,
                  "tiles": int(matrix.n_tiles)}}))
"""

AIHWKIT = """
import statistics
import numpy as np, torch
torch.set_num_threads(1)
from aihwkit.nn import AnalogLinear
from aihwkit.simulator.configs import InferenceRPUConfig
n, m, batch = {n}, {m}, {batch}
config = InferenceRPUConfig()
config.mapping.max_input_size = 512
layer = AnalogLinear(n, m, bias=False, rpu_config=config)
layer.eval()
x = torch.from_numpy(np.random.default_rng(1).uniform(-1, 1, (batch, n)).astype(np.float32))
with torch.no_grad():
    layer(x)
    times = []
    for _ in range(10):
        start = time.perf_counter()
        layer(x)
        times.append(time.perf_counter() - start)
import aihwkit
print(json.dumps({{"aihwkit_macs_per_s": batch * n * m / statistics.median(times), "version": aihwkit.__version__}}))
"""


def aihwkit(n: int, m: int, batch: int) -> dict:
    python = os.environ.get("AIHWKIT_PYTHON")
    if not python:
        return {"aihwkit": "not measured: set AIHWKIT_PYTHON to an interpreter with aihwkit (see the README)"}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    code = PRELUDE + AIHWKIT.format(n=n, m=m, batch=batch)
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env, timeout=1800)
    if out.returncode != 0:
        return {"aihwkit": f"failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    results = {}
    for n, m, batch in SIZES:
        r = run_snippet(SNIPPET.format(n=n, m=m, batch=batch)) | aihwkit(n, m, batch)
        results[f"{n}x{m}_batch{batch}"] = r
        base = r["numpy_matmul_f64_macs_per_s"]
        line = ", ".join(f"{k.removesuffix('_macs_per_s')} {v:.3g} MAC/s ({v / base:.2g}x)"
                         for k, v in r.items() if k.endswith("_macs_per_s"))
        print(f"{n} x {m}, batch {batch}, {r['tiles']} tile(s): {line}; Numba and torch paths agree to "
              f"{r['paths_relative_difference']:.1e}" + (f"; aihwkit: {r['aihwkit']}" if "aihwkit" in r else ""),
              flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "crossbar.json").write_text(json.dumps({"python": sys.version.split()[0], **results}, indent=2))


if __name__ == "__main__":
    main()
