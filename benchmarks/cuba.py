"""CUBA (Vogels & Abbott 2005; Brette et al. 2007 benchmark 2): 4000 neurons, p = 0.02, 10 s biological.

biosim vs Brian2 (cython runtime, cpp_standalone) vs NEST (iaf_psc_exp, 1 thread), one core each,
median of N runs, setup (build + compile/JIT, warm caches) and simulation phase reported apart.
    python benchmarks/cuba.py [--duration 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import compare

EXPERIMENT = Path(__file__).parents[1] / "experiments" / "cuba.yaml"

BIOSIM = """
t0 = time.perf_counter()
from biosim.config import load_experiment
from biosim.networks.spiking.family import build_spiking
from biosim.engine.simulation import Simulation
exp, src = load_experiment("{experiment}", ["monitors.state=[]", "monitors.rates=[]"])
net = build_spiking(exp, src)
sim = Simulation(net, chunk=1.0)
setup = time.perf_counter() - t0
rec = sim.run({duration})
n = sum(rec.sizes.values())
print(json.dumps({{"setup_s": setup, "sim_s": sim.timing.sim_s,
                  "rate_hz": sum(t.size for t, _ in rec.spikes.values()) / n / {duration}}}))
"""

BRIAN2 = """
t0 = time.perf_counter()
from brian2 import *
{device}
prefs.codegen.target = "cython"
defaultclock.dt = 0.1 * ms
taum, taue, taui, Vt, Vr, El = 20 * ms, 5 * ms, 10 * ms, -50 * mV, -60 * mV, -49 * mV
eqs = '''dv/dt = (ge + gi - (v - El)) / taum : volt (unless refractory)
dge/dt = -ge / taue : volt
dgi/dt = -gi / taui : volt'''
P = NeuronGroup(4000, eqs, threshold="v > Vt", reset="v = Vr", refractory=5 * ms, method="exact")
P.v = "Vr + rand() * (Vt - Vr)"
we, wi = (60 * 0.27 / 10) * mV, (-20 * 4.5 / 10) * mV
Ce = Synapses(P, P, on_pre="ge += we"); Ce.connect("i < 3200", p=0.02)
Ci = Synapses(P, P, on_pre="gi += wi"); Ci.connect("i >= 3200", p=0.02)
M = SpikeMonitor(P)
{run}
print(json.dumps({{"setup_s": setup, "sim_s": sim, "rate_hz": M.num_spikes / 4000 / {duration}}}))
"""
NEST = """
t0 = time.perf_counter()
import nest
nest.set_verbosity("M_ERROR")
nest.ResetKernel()
nest.SetKernelStatus({{"resolution": 0.1, "local_num_threads": 1, "rng_seed": 1}})
params = {{"C_m": 250.0, "tau_m": 20.0, "tau_syn_ex": 5.0, "tau_syn_in": 10.0, "t_ref": 5.0,
          "E_L": -49.0, "V_th": -50.0, "V_reset": -60.0, "I_e": 0.0}}
P = nest.Create("iaf_psc_exp", 4000, params=params)
P.V_m = nest.random.uniform(-60.0, -50.0)
conn = {{"rule": "pairwise_bernoulli", "p": 0.02}}
nest.Connect(P[:3200], P, conn, {{"weight": 20.25, "delay": 0.1}})
nest.Connect(P[3200:], P, conn, {{"weight": -112.5, "delay": 0.1}})
rec = nest.Create("spike_recorder"); nest.Connect(P, rec)
nest.Simulate(0.1)
setup = time.perf_counter() - t0
t1 = time.perf_counter(); nest.Simulate({duration} * 1000.0 - 0.1); sim = time.perf_counter() - t1
print(json.dumps({{"setup_s": setup, "sim_s": sim, "rate_hz": rec.n_events / 4000 / {duration}}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    d, n = args.duration, args.repeats
    snippets = {"warmup": BIOSIM.format(experiment=EXPERIMENT, duration=0.1),
                "biosim": BIOSIM.format(experiment=EXPERIMENT, duration=d),
                "brian2": BRIAN2, "nest": NEST.format(duration=d), "duration": d}
    title = f"CUBA 4000 neurons, {d:g} s biological, dt 0.1 ms, 1 core, median of {n}"
    compare("cuba", title, snippets, nest_label="nest iaf_psc_exp 1 thread", repeats=n)


if __name__ == "__main__":
    main()
