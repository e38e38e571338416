"""CUBA (Vogels & Abbott 2005; Brette et al. 2007 benchmark 2): 4000 neurons, p = 0.02, 10 s biological.

biosim vs Brian2 (cython runtime, cpp_standalone) vs NEST (iaf_psc_exp, 1 thread), one core each,
median of N runs, setup (build + compile/JIT, warm caches) and simulation phase reported apart.
    python benchmarks/cuba.py [--duration 10] [--repeats 3]
"""

from __future__ import annotations

from pathlib import Path

from harness import BRIAN2_PRELUDE, NEST_PRELUDE, compare_experiment, nest_timing

EXPERIMENT = Path(__file__).parents[1] / "experiments" / "cuba.yaml"

BRIAN2 = BRIAN2_PRELUDE + """
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
NEST = NEST_PRELUDE + """
params = {{"C_m": 250.0, "tau_m": 20.0, "tau_syn_ex": 5.0, "tau_syn_in": 10.0, "t_ref": 5.0,
          "E_L": -49.0, "V_th": -50.0, "V_reset": -60.0, "I_e": 0.0}}
P = nest.Create("iaf_psc_exp", 4000, params=params)
P.V_m = nest.random.uniform(-60.0, -50.0)
conn = {{"rule": "pairwise_bernoulli", "p": 0.02}}
nest.Connect(P[:3200], P, conn, {{"weight": 20.25, "delay": 0.1}})
nest.Connect(P[3200:], P, conn, {{"weight": -112.5, "delay": 0.1}})
""" + nest_timing("P", 4000)


def main() -> None:
    compare_experiment("cuba", __doc__, EXPERIMENT, [], BRIAN2, NEST,
                       title="CUBA 4000 neurons, "
                             "{duration:g} s biological, dt 0.1 ms, 1 core, median of {repeats}",
                       nest_label="nest iaf_psc_exp 1 thread", duration=10.0)


if __name__ == "__main__":
    main()
