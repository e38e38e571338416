"""Memory per static synapse on a 10^6-neuron, 10^8-synapse network (fixed probability 1e-4).

Reports resident memory added by building the network, per synapse, for three storage cases:
one shared weight (no weight array), per-synapse float32 weights, and per-synapse weights plus
heterogeneous delays (uint8 steps).      python benchmarks/memory.py [--neurons 1000000]
"""

from __future__ import annotations

import argparse
import json

from harness import RESULTS, run_snippet

SNIPPET = """
import gc
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
from biosim.engine.network import Network, Uniform
from biosim.engine.neurons import LIFCuba
from biosim.engine.connectors import FixedProbability
from biosim.engine.simulation import Simulation
net = Network(dt=1e-4, seed=1)
net.add_population("p", {n}, LIFCuba())
net.connect("p", "p", target="ge", connector=FixedProbability(p={p}), weight={weight}, delay={delay})
gc.collect(); before = rss(); t0 = time.perf_counter()
sim = Simulation(net)
build = time.perf_counter() - t0
gc.collect(); after = rss()
proj = sim.net.projections["p_to_p"]
neuron_bytes = sum(a.nbytes for a in (sim.net.populations["p"].S, sim.net.populations["p"].last))
t0 = time.perf_counter(); sim.run(0.01); run = time.perf_counter() - t0
print(json.dumps({{"synapses": proj.n_synapses, "rss_added_bytes": after - before,
                  "rss_bytes_per_synapse": (after - before - neuron_bytes) / proj.n_synapses,
                  "array_bytes_per_synapse": proj.nbytes() / proj.n_synapses, "build_s": build, "run_10ms_s": run}}))
"""

CASES = {
    "shared weight": ("1.62e-3", "0.0"),
    "float32 weights": ("Uniform(0.0, 3e-3)", "0.0"),
    "float32 weights + uint8 delays": ("Uniform(0.0, 3e-3)", "Uniform(1e-4, 2e-3)"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--neurons", type=int, default=1_000_000)
    parser.add_argument("--synapses-per-neuron", type=int, default=100)
    args = parser.parse_args()
    p = args.synapses_per_neuron / args.neurons
    results = {}
    for case, (weight, delay) in CASES.items():
        r = run_snippet(SNIPPET.format(n=args.neurons, p=p, weight=weight, delay=delay))
        results[case] = r
        print(f"{case:<34} {r['synapses']:>11,d} synapses  {r['rss_bytes_per_synapse']:5.2f} B/synapse resident "
              f"({r['array_bytes_per_synapse']:.2f} B in arrays), build {r['build_s']:.1f} s", flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "memory.json").write_text(json.dumps({"neurons": args.neurons, "results": results}, indent=2))


if __name__ == "__main__":
    main()
