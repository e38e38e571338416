"""COBAHH (Brette et al. 2007 benchmark 3; Brian2's examples/COBAHH.py): 4000 Hodgkin-Huxley neurons,
p = 0.02, exponential conductances, 1 s biological; biosim runs the model written as equations
(``experiments/coba_hh.yaml``), Brian2 the same equations (cython runtime, cpp_standalone), NEST its
``hh_cond_exp_traub`` (the same Traub-Miles model) when installed; one core each, median of N runs.
    python benchmarks/coba_hh.py [--duration 1] [--repeats 3]
"""

from __future__ import annotations

from pathlib import Path

from harness import BRIAN2_PRELUDE, NEST_PRELUDE, compare_experiment, nest_timing

EXPERIMENT = Path(__file__).parents[1] / "experiments" / "coba_hh.yaml"

BRIAN2 = BRIAN2_PRELUDE + """
area = 20000 * umetre**2
Cm, gl = 1 * ufarad * cm**-2 * area, 5e-5 * siemens * cm**-2 * area
El, EK, ENa, VT = -60 * mV, -90 * mV, 50 * mV, -63 * mV
g_na, g_kd = 100 * msiemens * cm**-2 * area, 30 * msiemens * cm**-2 * area
taue, taui, Ee, Ei, we, wi = 5 * ms, 10 * ms, 0 * mV, -80 * mV, 6 * nS, 67 * nS
eqs = Equations('''
dv/dt = (gl*(El-v)+ge*(Ee-v)+gi*(Ei-v)-g_na*(m*m*m)*h*(v-ENa)-g_kd*(n*n*n*n)*(v-EK))/Cm : volt
dm/dt = alpha_m*(1-m)-beta_m*m : 1
dn/dt = alpha_n*(1-n)-beta_n*n : 1
dh/dt = alpha_h*(1-h)-beta_h*h : 1
dge/dt = -ge*(1./taue) : siemens
dgi/dt = -gi*(1./taui) : siemens
alpha_m = 0.32*(mV**-1)*4*mV/exprel((13*mV-v+VT)/(4*mV))/ms : Hz
beta_m = 0.28*(mV**-1)*5*mV/exprel((v-VT-40*mV)/(5*mV))/ms : Hz
alpha_h = 0.128*exp((17*mV-v+VT)/(18*mV))/ms : Hz
beta_h = 4./(1+exp((40*mV-v+VT)/(5*mV)))/ms : Hz
alpha_n = 0.032*(mV**-1)*5*mV/exprel((15*mV-v+VT)/(5*mV))/ms : Hz
beta_n = .5*exp((10*mV-v+VT)/(40*mV))/ms : Hz
''')
P = NeuronGroup(4000, model=eqs, threshold='v>-20*mV', refractory=3*ms, method='exponential_euler')
Ce = Synapses(P[:3200], P, on_pre='ge+=we'); Ce.connect(p=0.02)
Ci = Synapses(P[3200:], P, on_pre='gi+=wi'); Ci.connect(p=0.02)
P.v = 'El + (randn() * 5 - 5)*mV'
P.ge = '(randn() * 1.5 + 4) * 10.*nS'
P.gi = '(randn() * 12 + 20) * 10.*nS'
M = SpikeMonitor(P)
{run}
print(json.dumps({{"setup_s": setup, "sim_s": sim, "rate_hz": M.num_spikes / 4000 / {duration}}}))
"""
NEST = NEST_PRELUDE + """
params = {{"C_m": 200.0, "g_L": 10.0, "E_L": -60.0, "E_K": -90.0, "E_Na": 50.0, "g_Na": 20000.0, "g_K": 6000.0,
          "V_T": -63.0, "tau_syn_ex": 5.0, "tau_syn_in": 10.0, "E_ex": 0.0, "E_in": -80.0, "t_ref": 3.0}}
P = nest.Create("hh_cond_exp_traub", 4000, params=params)
P.V_m = nest.random.normal(-65.0, 5.0)
conn = {{"rule": "pairwise_bernoulli", "p": 0.02}}
nest.Connect(P[:3200], P, conn, {{"weight": 6.0, "delay": 0.1}})
nest.Connect(P[3200:], P, conn, {{"weight": -67.0, "delay": 0.1}})
""" + nest_timing("P", 4000)


def main() -> None:
    compare_experiment("coba_hh", __doc__, EXPERIMENT, [], BRIAN2, NEST,
                       title="COBAHH 4000 Hodgkin-Huxley neurons, "
                             "{duration:g} s biological, dt 0.1 ms, 1 core, median of {repeats}",
                       nest_label="nest hh_cond_exp_traub 1 thread", duration=1.0)


if __name__ == "__main__":
    main()
