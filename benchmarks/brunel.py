"""Brunel (2000) AI state (g = 5, eta = 2): 12500 delta-synapse LIF neurons, 15.6 M synapses, D = 1.5 ms.

biosim vs Brian2 (cython runtime, cpp_standalone) vs NEST (iaf_psc_delta, 1 thread), one core each,
median of N runs; setup (build + compile/JIT) and simulation phase reported apart.
    python benchmarks/brunel.py [--duration 1] [--repeats 3]
"""

from __future__ import annotations

from pathlib import Path

from harness import BRIAN2_PRELUDE, NEST_PRELUDE, compare_experiment, nest_timing

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


def main() -> None:
    compare_experiment("brunel", __doc__, EXPERIMENT, ["variant=C"], BRIAN2, NEST,
                       title="Brunel AI (g=5, eta=2), 12500 neurons, "
                             "{duration:g} s biological, 1 core, median of {repeats}",
                       nest_label="nest iaf_psc_delta 1 thread", duration=1.0)


if __name__ == "__main__":
    main()
