"""Memory per synapse, resident, on a 10^6-neuron, 10^8-synapse network (100 synapses per neuron).

Reports resident memory added by building the network, per synapse, and the build's peak (VmHWM) over the
final size, for every connector (fixed probability, out-degree, in-degree) with float32 weights, plus one shared
weight, heterogeneous delays (uint8 steps) and pair STDP (float64 weights, the transposed index).
    python benchmarks/memory.py [--neurons 1000000] [--synapses-per-neuron 100]
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
def peak():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM"))
from biosim.engine.network import Network, Uniform
from biosim.engine.neurons import LIFCuba
from biosim.engine.connectors import FixedIndegree, FixedOutdegree, FixedProbability
from biosim.engine.simulation import Simulation
from biosim.rules.spiking_projection.stdp import STDP
net = Network(dt=1e-4, seed=1)
net.add_population("p", {n}, LIFCuba())
Simulation(net, threads=1)  # the kernels and their modules loaded, so that only the network's arrays are counted
net.connect("p", "p", target="ge", connector={connector}, weight={weight}, delay={delay}, rule={rule})
gc.collect(); before = rss(); t0 = time.perf_counter()
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset VmHWM to the current resident size
sim = Simulation(net, threads=1)
build = time.perf_counter() - t0
high = peak()
gc.collect(); after = rss()
proj = sim.net.projections["p_to_p"]
neuron_bytes = sum(a.nbytes for a in (sim.net.populations["p"].S, sim.net.populations["p"].last))
t0 = time.perf_counter(); sim.run(0.01); run = time.perf_counter() - t0
print(json.dumps({{"synapses": proj.n_synapses, "rss_added_bytes": after - before,
                  "rss_bytes_per_synapse": (after - before - neuron_bytes) / proj.n_synapses,
                  "peak_over_final": (high - before) / (after - before),
                  "array_bytes_per_synapse": proj.nbytes() / proj.n_synapses, "build_s": build, "run_10ms_s": run}}))
"""

#: case -> (connector, weight, delay, rule); {p} and {k} are filled from the command line
CASES = {
    "shared weight": ("FixedProbability(p={p})", "1.62e-3", "0.0", "None"),
    "float32 weights": ("FixedProbability(p={p})", "Uniform(0.0, 3e-3)", "0.0", "None"),
    "float32 weights, fixed out-degree": ("FixedOutdegree(k={k})", "Uniform(0.0, 3e-3)", "0.0", "None"),
    "float32 weights, fixed in-degree": ("FixedIndegree(k={k})", "Uniform(0.0, 3e-3)", "0.0", "None"),
    "float32 weights + uint8 delays": ("FixedProbability(p={p})", "Uniform(0.0, 3e-3)", "Uniform(1e-4, 2e-3)",
                                       "None"),
    "pair STDP, fixed out-degree": ("FixedOutdegree(k={k})", "Uniform(0.0, 3e-3)", "0.0", "STDP(w_max=3e-3)"),
}


PLASTIC_RUN = """
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
from biosim.engine.network import Network, Uniform
from biosim.engine.neurons import LIFCuba
from biosim.engine.connectors import FixedOutdegree
from biosim.engine.simulation import Simulation
from biosim.rules.spiking_projection.stdp import STDP
net = Network(dt=1e-4, seed=1)
net.add_population("p", {n}, LIFCuba(), init={{"v": Uniform(-60e-3, -50e-3)}})
net.add_poisson_drive("p", "ge", 100, 40.0, 0.5e-3)
net.connect("p", "p", target="ge", connector=FixedOutdegree(k={k}), weight=Uniform(0.0, 0.2e-3),
            rule=STDP(w_max=0.4e-3))
before = rss(); t0 = time.perf_counter()
sim = Simulation(net, threads=1)
build = time.perf_counter() - t0
after = rss()
rec = sim.run(1.0)
spikes = int(sim.net.populations["p"].counts.count.sum())
events = spikes * {k}
print(json.dumps({{"synapses": sim.net.projections["p_to_p"].n_synapses, "build_s": build,
                  "rss_bytes_per_synapse": (after - before) / sim.net.projections["p_to_p"].n_synapses,
                  "sim_s": sim.timing.sim_s, "rate_hz": spikes / {n}, "events": events,
                  "ns_per_event": sim.timing.sim_s / max(events, 1) * 1e9}}))
"""


def plastic_run(neurons: int, k: int) -> dict:
    """The issue's scale check: ``neurons`` LIF neurons, ``k`` pair-STDP synapses each, a Poisson drive, 1 s."""
    run_snippet(PLASTIC_RUN.format(n=2000, k=k))  # compile the structure first
    r = run_snippet(PLASTIC_RUN.format(n=neurons, k=k))
    print(f"pair STDP network: {r['synapses']:,d} synapses, {r['rss_bytes_per_synapse']:.2f} B/synapse resident, "
          f"build {r['build_s']:.1f} s; 1 s biological in {r['sim_s']:.1f} s at {r['rate_hz']:.2f} Hz, "
          f"{r['events']:.3e} events, {r['ns_per_event']:.1f} ns per event (plasticity included)", flush=True)
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--neurons", type=int, default=1_000_000)
    parser.add_argument("--synapses-per-neuron", type=int, default=100)
    parser.add_argument("--plastic-run", action="store_true", help="also build the pair-STDP network and run 1 s")
    args = parser.parse_args()
    p = args.synapses_per_neuron / args.neurons
    results = {}
    if args.plastic_run:
        results["pair STDP, 1 s run"] = plastic_run(args.neurons, args.synapses_per_neuron)
    for case, (connector, weight, delay, rule) in CASES.items():
        k = args.synapses_per_neuron
        small = connector.format(p=k / 2000, k=k)  # compiles the case's kernels (structure, not size) beforehand
        run_snippet(SNIPPET.format(n=2000, connector=small, weight=weight, delay=delay, rule=rule))
        connector = connector.format(p=p, k=k)
        r = run_snippet(SNIPPET.format(n=args.neurons, connector=connector, weight=weight, delay=delay, rule=rule))
        results[case] = r
        print(f"{case:<36} {r['synapses']:>11,d} synapses  {r['rss_bytes_per_synapse']:5.2f} B/synapse resident "
              f"({r['array_bytes_per_synapse']:.2f} B in arrays), build peak {r['peak_over_final']:.2f}x the final "
              f"size, build {r['build_s']:.1f} s", flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "memory.json").write_text(json.dumps({"neurons": args.neurons, "results": results}, indent=2))


if __name__ == "__main__":
    main()
