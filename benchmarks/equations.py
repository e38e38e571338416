"""Equation-defined neuron models against the hand-written kernels of the built-ins, one fresh single-core
process per run, median of N: each built-in model and its own Brian2 description compiled by the equation path
(``EquationNeuron.from_model``), in the same network with the same seed (so the spike counts must match).

* ``cuba``: the CUBA experiment (``experiments/cuba.yaml``, 4000 LIF neurons, 10 s), models swapped in place;
* one population of 4000 neurons per built-in model with a hand-written kernel, Poisson-driven on a synaptic
  target plus a step current, 2 s (the drive and weights of ``tests/test_equations.py``'s built-in cross-check).

lif_coba, izhikevich and adex have no hand-written kernels any more: measured here on 2026-12-04 (median of 3,
same spike counts), their generated kernels took 0.72x, 0.30x and 0.30x of the hand-written ones' simulation
time (0.687 vs 0.955 s, 0.651 vs 2.139 s, 2.067 vs 6.967 s), so they run the generated ones
(``NeuronModel.generated``).
    python benchmarks/equations.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
from datetime import datetime
from pathlib import Path

from harness import RESULTS, run_snippet

CUBA = Path(__file__).parents[1] / "experiments" / "cuba.yaml"

SWAP = """
from biosim.engine.equations import EquationNeuron
def swap(net, written):
    if written:
        for pop in net.populations.values():
            if pop.kind == "neuron":
                pop.model = EquationNeuron.from_model(pop.model)
    return net
"""
CUBA_RUN = SWAP + """
from biosim.config import load_experiment
from biosim.networks.spiking.family import build_spiking
from biosim.engine.simulation import Simulation
t0 = time.perf_counter()
exp, src = load_experiment("{experiment}", ["monitors.state=[]", "monitors.rates=[]"])
sim = Simulation(swap(build_spiking(exp, src), {written}), chunk=1.0)
setup = time.perf_counter() - t0
rec = sim.run({duration})
spikes = sum(t.size for t, _ in rec.spikes.values())
print(json.dumps({{"setup_s": setup, "sim_s": sim.timing.sim_s, "spikes": spikes}}))
"""
MODEL_RUN = SWAP + """
from biosim.engine.network import Network, Uniform
from biosim.engine.neurons import LIFCuba, LIFDelta
from biosim.engine.simulation import Simulation
model = {model}
t0 = time.perf_counter()
net = Network(dt=1e-4, seed=1)
net.add_population("p", 4000, model, init=model.default_state())
net.add_poisson_drive("p", "{target}", 10, 100.0, {weight})
net.add_current_steps("p", [(0.0, {current})])
net.record_spikes("p")
sim = Simulation(swap(net, {written}), chunk=1.0)
setup = time.perf_counter() - t0
rec = sim.run({duration})
print(json.dumps({{"setup_s": setup, "sim_s": sim.timing.sim_s, "spikes": int(rec.spikes["p"][0].size)}}))
"""
MODELS = {"lif_cuba": ("LIFCuba(t_ref=5e-3, e_l=-49e-3)", "ge", 4e-3, 8e-3),
          "lif_delta": ("LIFDelta(t_ref=2e-3)", "v", 3e-3, 15e-3)}


def median_run(code: str, repeats: int) -> dict:
    runs = [run_snippet(code) for _ in range(repeats)]
    return {"sim_s": statistics.median(r["sim_s"] for r in runs), "setup_s": statistics.median(r["setup_s"]
                                                                                              for r in runs),
            "spikes": runs[0]["spikes"], "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cases = {"cuba (10 s)": lambda written, d: CUBA_RUN.format(experiment=CUBA, duration=d, written=written)}
    for name, (model, target, weight, current) in MODELS.items():
        cases[f"{name} (2 s)"] = (lambda written, d, m=model, t=target, w=weight, c=current: MODEL_RUN.format(
            model=m, target=t, weight=w, current=c, duration=d / 5, written=written))
    results = {}
    print(f"{'network':<20}{'built-in sim (s)':>18}{'equations sim (s)':>19}{'ratio':>8}{'same spikes':>13}")
    for case, code in cases.items():
        for written in (False, True):  # warm both kernel caches
            run_snippet(code(written, 0.05))
        built, eqs = (median_run(code(written, 10.0), args.repeats) for written in (False, True))
        results[case] = {"built_in": built, "equations": eqs, "ratio": eqs["sim_s"] / built["sim_s"],
                         "same_spike_count": built["spikes"] == eqs["spikes"]}
        print(f"{case:<20}{built['sim_s']:>18.3f}{eqs['sim_s']:>19.3f}{results[case]['ratio']:>8.2f}"
              f"{str(results[case]['same_spike_count']):>13}", flush=True)
    RESULTS.mkdir(exist_ok=True)
    payload = {"benchmark": "equations", "date": datetime.now().isoformat(timespec="seconds"),
               "repeats": args.repeats, "results": results}
    (RESULTS / "equations.json").write_text(json.dumps(payload, indent=2))
    print(f"wrote {RESULTS / 'equations.json'}")


if __name__ == "__main__":
    main()
