"""Brunel (2000) AI state (g = 5, eta = 2): 12500 delta-synapse LIF neurons, 15.6 M synapses, D = 1.5 ms.

biosim vs Brian2 (cython runtime, cpp_standalone) vs NEST (iaf_psc_delta, 1 thread), one core each,
median of N runs; setup (build + compile/JIT) and simulation phase reported apart.
    python benchmarks/brunel.py [--duration 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import compare

EXPERIMENT = Path(__file__).parents[1] / "experiments" / "brunel.yaml"

BIOSIM = """
t0 = time.perf_counter()
from biosim.config import load_experiment
from biosim.networks.spiking.family import build_spiking
from biosim.engine.simulation import Simulation
exp, src = load_experiment("{experiment}", ["variant=C", "monitors.state=[]", "monitors.rates=[]"])
net = build_spiking(exp, src)
sim = Simulation(net, chunk=1.0)
setup = time.perf_counter() - t0
rec = sim.run({duration})
print(json.dumps({{"setup_s": setup, "sim_s": sim.timing.sim_s,
                  "rate_hz": sum(t.size for t, _ in rec.spikes.values()) / 12500 / {duration}}}))
"""

BRIAN2 = """
t0 = time.perf_counter()
from brian2 import *
{device}
prefs.codegen.target = "cython"
defaultclock.dt = 0.1 * ms
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
NEST = """
t0 = time.perf_counter()
import nest
nest.set_verbosity("M_ERROR")
nest.ResetKernel()
nest.SetKernelStatus({{"resolution": 0.1, "local_num_threads": 1, "rng_seed": 1}})
params = {{"C_m": 1.0, "tau_m": 20.0, "t_ref": 2.0, "E_L": 0.0, "V_reset": 10.0, "V_m": 0.0, "V_th": 20.0}}
E = nest.Create("iaf_psc_delta", 10000, params=params)
I = nest.Create("iaf_psc_delta", 2500, params=params)
noise = nest.Create("poisson_generator", params={{"rate": 2.0 * 20.0 / (0.1 * 1000 * 20.0) * 1000.0 * 1000}})
nest.Connect(noise, E + I, syn_spec={{"weight": 0.1, "delay": 1.5}})
nest.Connect(E, E + I, {{"rule": "fixed_indegree", "indegree": 1000}}, {{"weight": 0.1, "delay": 1.5}})
nest.Connect(I, E + I, {{"rule": "fixed_indegree", "indegree": 250}}, {{"weight": -0.5, "delay": 1.5}})
rec = nest.Create("spike_recorder"); nest.Connect(E + I, rec)
nest.Simulate(0.1)
setup = time.perf_counter() - t0
t1 = time.perf_counter(); nest.Simulate({duration} * 1000.0 - 0.1); sim = time.perf_counter() - t1
print(json.dumps({{"setup_s": setup, "sim_s": sim, "rate_hz": rec.n_events / 12500 / {duration}}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    d, n = args.duration, args.repeats
    snippets = {"warmup": BIOSIM.format(experiment=EXPERIMENT, duration=0.01),
                "biosim": BIOSIM.format(experiment=EXPERIMENT, duration=d),
                "brian2": BRIAN2, "nest": NEST.format(duration=d), "duration": d}
    title = f"Brunel AI (g=5, eta=2), 12500 neurons, {d:g} s biological, 1 core, median of {n}"
    compare("brunel", title, snippets, nest_label="nest iaf_psc_delta 1 thread", repeats=n)


if __name__ == "__main__":
    main()
