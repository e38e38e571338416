"""Brunel (2000) AI state (g = 5, eta = 2): 12500 delta-synapse LIF neurons, 15.6 M synapses, D = 1.5 ms.

biosim vs Brian2 (cython runtime, cpp_standalone) vs NEST (iaf_psc_delta, 1 thread), one core each,
median of N runs; setup (build + compile/JIT) and simulation phase reported apart.
    python benchmarks/brunel.py [--duration 1] [--repeats 3] [--threads 2]
    python benchmarks/brunel.py --floors   # after a one-core run: ns per event and the floor model
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from harness import BRIAN2_PRELUDE, NEST_PRELUDE, RESULTS, compare_experiment, nest_timing, run_snippet

EXPERIMENT = Path(__file__).parents[1] / "experiments" / "brunel.yaml"

BRIAN2 = BRIAN2_PRELUDE + """
N_E, N_I, C_E, C_I, J, g = 10000, 2500, 1000, 250, 0.1 * mV, 5.0
D, tau, theta, V_r = 1.5 * ms, 20 * ms, 20 * mV, 10 * mV
nu_ext = 2.0 * theta / (J * C_E * tau)
OUT = C_E * (N_E + N_I) // N_E  # Brian2's generator syntax fixes out-degrees: 1250 gives mean in-degrees 1000, 250
P = NeuronGroup(N_E + N_I, "dv/dt = -v / tau : volt (unless refractory)", threshold="v > theta", reset="v = V_r",
                refractory=2 * ms, method="exact")
P.v = 0 * mV
exc = Synapses(P[:N_E], P, on_pre="v += J", delay=D)
exc.connect(j="k for k in sample(N_post, size=OUT)")
inh = Synapses(P[N_E:], P, on_pre="v += -g * J", delay=D)
inh.connect(j="k for k in sample(N_post, size=OUT)")
drive = PoissonInput(P, "v", C_E, nu_ext, weight=J)
M = SpikeMonitor(P)
{run}
print(json.dumps({{"setup_s": setup, "sim_s": sim, "rate_hz": M.num_spikes / 12500 / {duration}}}))
"""
NEST = NEST_PRELUDE + """
params = {{"C_m": 1.0, "tau_m": 20.0, "t_ref": 2.0, "E_L": 0.0, "V_reset": 10.0, "V_m": 0.0, "V_th": 20.0}}
E = nest.Create("iaf_psc_delta", 10000, params=params)
I = nest.Create("iaf_psc_delta", 2500, params=params)
noise = nest.Create("poisson_generator", params={{"rate": 2.0 * 20.0 / (0.1 * 1000 * 20.0) * 1000.0 * 1000}})
nest.Connect(noise, E + I, syn_spec={{"weight": 0.1, "delay": 1.5}})
nest.Connect(E, E + I, {{"rule": "fixed_indegree", "indegree": 1000}}, {{"weight": 0.1, "delay": 1.5}})
nest.Connect(I, E + I, {{"rule": "fixed_indegree", "indegree": 250}}, {{"weight": -0.5, "delay": 1.5}})
""" + nest_timing("E + I", 12500)


#: the floor model: biosim's own neuron update and Poisson drive kernels timed alone, and a bare scatter-add
#: of the same events (1250 sorted targets per spike, float64 ring row of 12500) at the AI rate
FLOORS = """
import numpy as np, numba
from biosim.engine.kernels import binomial_pmf, poisson_drive
from biosim.engine.neurons import LIFDelta, lif_delta_update
from biosim.streams import alias_table
n, degree, steps, rate_hz = 12500, 1250, 2000, {rate_hz}
@numba.njit  # a -c snippet has no file for Numba's cache; compiled before timing
def update(S, last, P, inp, flags, spk, steps):
    for t in range(steps):
        lif_delta_update(S, last, P, inp, t, flags, spk, 0, S.shape[1])
@numba.njit
def drive(target, threshold, alias, k0, shift, last, bits, steps):
    for t in range(steps):
        poisson_drive(7, target, threshold, alias, k0, shift, 1e-4, last, t, 20, bits, 0, target.shape[0])
@numba.njit
def scatter(ring, post, spikes, degree):
    for t in range(spikes.shape[0]):
        row = ring[(t + 15) % 16]
        for s in spikes[t]:
            for k in range(s * degree, (s + 1) * degree):
                row[post[k]] += 1e-4
        ring[t % 16, :] = 0.0
rng = np.random.default_rng(0)
S, last = np.zeros((2, n)), np.full(n, -2**30, np.int32)
flags, spk, inp = np.zeros(-(-n // 64) * 64, np.uint8), np.zeros(n, np.int32), np.zeros(1, np.uint8)
k0, pmf = binomial_pmf(1000, 2 * 20e-3 / (0.1e-3 * 1000 * 20e-3) * 1e-4)  # nu_ext = 2 nu_thr
threshold, alias, shift = alias_table(pmf)
bits = np.empty(n, np.uint64)
post = np.sort(rng.integers(0, n, (n, degree)), axis=1).ravel().astype(np.uint32)
spikes = rng.integers(0, n, (steps, round(n * rate_hz * 1e-4)))
ring = np.zeros((16, n))
update(S, last, P := LIFDelta().params(1e-4), inp, flags, spk, 1)
drive(S[0], threshold, alias, k0, np.uint64(shift), last, bits, 1); scatter(ring, post, spikes[:1], degree)
t = time.perf_counter(); update(S, last, P, inp, flags, spk, steps); t_update = time.perf_counter() - t
t = time.perf_counter(); drive(S[0], threshold, alias, k0, np.uint64(shift), last, bits, steps)
t_drive = time.perf_counter() - t
t = time.perf_counter(); scatter(ring, post, spikes, degree); t_scatter = time.perf_counter() - t
print(json.dumps({{"update_ns_per_neuron_step": t_update / (n * steps) * 1e9,
                  "drive_ns_per_draw": t_drive / (n * steps) * 1e9,
                  "scatter_ns_per_event": t_scatter / (spikes.size * degree) * 1e9}}))
"""


def floor_model(duration: float) -> None:
    """biosim's time per event and over the floor model (update + drive per neuron-step, scatter per event),
    from the last benchmark run (benchmarks/results/brunel.json)."""
    path = RESULTS / "brunel.json"
    payload = json.loads(path.read_text())
    biosim = payload["results"]["biosim"]
    floors = run_snippet(FLOORS.format(rate_hz=biosim["rate_hz"]))
    events = biosim["rate_hz"] * 12500 * duration * 1250
    floor_s = 1e-9 * (1e4 * duration * 12500 * (floors["update_ns_per_neuron_step"] + floors["drive_ns_per_draw"])
                      + events * floors["scatter_ns_per_event"])
    payload["floors"] = floors | {"events": events, "ns_per_event": biosim["sim_s"] / events * 1e9,
                                  "floor_s": floor_s, "biosim_over_floor": biosim["sim_s"] / floor_s}
    path.write_text(json.dumps(payload, indent=2))
    print(f"floors: update {floors['update_ns_per_neuron_step']:.3f} ns/neuron-step, drive "
          f"{floors['drive_ns_per_draw']:.2f} ns/draw, scatter {floors['scatter_ns_per_event']:.2f} ns/event; "
          f"biosim {payload['floors']['ns_per_event']:.2f} ns/event, {biosim['sim_s']:.3f} s vs floor model "
          f"{floor_s:.3f} s ({payload['floors']['biosim_over_floor']:.2f}x)")


def main() -> None:
    if "--floors" in sys.argv:  # after a one-core run: the floor model of its events
        floor_model(1.0)
        return
    compare_experiment("brunel", __doc__, EXPERIMENT, ["variant=C"], BRIAN2, NEST,
                       title="Brunel AI (g=5, eta=2), 12500 neurons, "
                             "{duration:g} s biological, 1 core, median of {repeats}",
                       nest_label="nest iaf_psc_delta 1 thread", duration=1.0)


if __name__ == "__main__":
    main()
