"""Potjans & Diesmann (2014) microcircuit: biosim against NEST 3.10 running the same model here.

Both build it from the same derived parameters (``biosim.networks.spiking.microcircuit``: population sizes,
synapse counts per projection, PSCs, delays, K_ext, initial potentials): NEST with ``iaf_psc_exp``,
``fixed_total_number`` (autapses and multapses allowed, NEST's defaults), weights and delays from
``nest.math.redraw`` normals, one ``poisson_generator`` per population.

    python benchmarks/microcircuit.py --compare [--scale 0.1] [--seeds 1 2 3] [--duration 1.1] [--transient 0.1]
        per-population rates and CV ISI of both, each seed in a fresh process of each; the figure
    python benchmarks/microcircuit.py --timing [--scale 1] [--duration 0.6]
        build and simulation time per biological second, peak memory, on 1 and 2 threads (and cores) each
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
from harness import RESULTS, available, run_snippet

sys.path.insert(0, str(Path(__file__).parents[1]))

#: the model's derived numbers, as both simulators read them (SI, from biosim's Microcircuit)
PARAMETERS = """
import numpy as np
from biosim.networks.spiking.microcircuit import (INHIBITORY, K_EXT, POPULATIONS, V0_MEAN, V0_STD, Microcircuit)
model = Microcircuit(scale={{"neurons": {scale}}})
cell = model.neuron
R = cell.tau_m / cell.c_m
sizes, counts, w, dc = model.sizes(), model.synapse_counts(), model.weights(), model.dc()
"""

NEST = PARAMETERS + """
t0 = time.perf_counter()
import nest
nest.set_verbosity("M_ERROR")
nest.ResetKernel()
nest.SetKernelStatus({{"resolution": 0.1, "local_num_threads": {threads}, "rng_seed": {seed}}})
params = {{"C_m": cell.c_m * 1e12, "tau_m": cell.tau_m * 1e3, "tau_syn_ex": cell.tau_syn * 1e3,
          "tau_syn_in": cell.tau_syn * 1e3, "E_L": cell.e_l * 1e3, "V_th": cell.v_th * 1e3,
          "V_reset": cell.v_reset * 1e3, "t_ref": cell.t_ref * 1e3}}
pops = []
for p, name in enumerate(POPULATIONS):
    pop = nest.Create("iaf_psc_exp", int(sizes[p]), params=dict(params, I_e=dc[p] / R * 1e12))
    pop.V_m = nest.random.normal(mean=V0_MEAN[p] * 1e3, std=V0_STD[p] * 1e3)
    pops.append(pop)
    noise = nest.Create("poisson_generator", params={{"rate": model.bg_rate * K_EXT[p]}})
    nest.Connect(noise, pop, syn_spec={{"weight": model.external_weight() / R * 1e12, "delay": 1.5}})
for name in POPULATIONS:  # NEST holds at most 2^27 - 2 synapses per thread and synapse model: one model per source
    nest.CopyModel("static_synapse", f"static_from_{{name}}")
for t, post in enumerate(pops):
    for s, pre in enumerate(pops):
        if counts[t, s] == 0:
            continue
        mean = w[t, s] / R * 1e12
        low, high = (0.0, np.inf) if mean > 0 else (-np.inf, 0.0)
        delay = (model.delay_inh if INHIBITORY[s] else model.delay_exc) * 1e3
        nest.Connect(pre, post, {{"rule": "fixed_total_number", "N": int(counts[t, s])}},
                     {{"synapse_model": f"static_from_{{POPULATIONS[s]}}",
                       "weight": nest.math.redraw(nest.random.normal(mean=mean, std=abs(mean) * model.weight_rel_std),
                                                  min=low, max=high),
                       "delay": nest.math.redraw(nest.random.normal(mean=delay, std=delay * model.delay_rel_std),
                                                 min=0.05, max=np.inf)}})
recorders = []
for pop in pops:
    rec = nest.Create("spike_recorder")
    nest.Connect(pop, rec)
    recorders.append(rec)
nest.Simulate(0.1)
setup = time.perf_counter() - t0
t1 = time.perf_counter(); nest.Simulate({duration} * 1000.0 - 0.1); sim = time.perf_counter() - t1
import resource
spikes = {{}}
for name, rec, pop in zip(POPULATIONS, recorders, pops):
    ev = rec.events
    spikes[name] = (np.asarray(ev["times"]) * 1e-3, np.asarray(ev["senders"]) - pop[0].global_id)
""" + """
{summary}
"""

BIOSIM = PARAMETERS + """
t0 = time.perf_counter()
from biosim.engine.simulation import Simulation
from biosim.networks.spiking.microcircuit import build_microcircuit
net = build_microcircuit(model, seed={seed})
net.record_spikes(*POPULATIONS)
simulation = Simulation(net, chunk=0.1, threads={threads})
setup = time.perf_counter() - t0
recording = simulation.run({duration})
sim = simulation.timing.sim_s
import resource
spikes = {{name: recording.spikes[name] for name in POPULATIONS}}
network_bytes = sum(simulation.memory_bytes().values())
""" + """
{summary}
"""

#: per population, after the transient: rate (Hz) and mean CV ISI (neurons with >= 3 spikes), Elephant-free
SUMMARY = """
from biosim.analysis import summary_of
from biosim.analysis.spikes import spike_statistics
stats = {{}}
for p, name in enumerate(POPULATIONS):
    times, idx = spikes[name]
    keep = times >= {transient}
    s = summary_of(spike_statistics(times[keep], idx[keep], int(sizes[p])), {duration} - {transient})
    stats[name] = {{"rate_hz": s["rate_hz"], "cv_isi": s["cv_isi"]}}
out = {{"setup_s": setup, "sim_s": sim, "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
       "synapses": int(counts.sum()), "stats": stats}}
if "network_bytes" in globals():
    out["network_gb"] = network_bytes / 2**30
print(json.dumps(out))
"""


def snippet(system: str, scale: float, seed: int, threads: int, duration: float, transient: float) -> str:
    summary = SUMMARY.format(duration=duration, transient=transient)
    template = NEST if system == "nest" else BIOSIM
    return template.format(scale=scale, seed=seed, threads=threads, duration=duration, summary=summary)


def compare(args: argparse.Namespace) -> None:
    """Rates and CVs of biosim and NEST over seeds; pass marks: within the seed spread and within 10%."""
    runs: dict[str, list[dict]] = {"biosim": [], "NEST 3.10": []}
    for seed in args.seeds:
        for system, label in (("biosim", "biosim"), ("nest", "NEST 3.10")):
            result = run_snippet(snippet(system, args.scale, seed, 2, args.duration, args.transient), cores=2)
            runs[label].append(result)
            print(f"  {label} seed {seed}: setup {result['setup_s']:.1f} s, sim {result['sim_s']:.1f} s", flush=True)
    pops = list(runs["biosim"][0]["stats"])
    table = {label: {pop: _spread([r["stats"][pop] for r in results]) for pop in pops}
             for label, results in runs.items()}
    print(f"\n{'population':<11}" + "".join(f"{label + ' ' + key:>26}" for label in table for key in ("rate", "CV")))
    checks = {}
    for pop in pops:
        b, n = table["biosim"][pop], table["NEST 3.10"][pop]
        print(f"{pop:<11}" + "".join(f"{v[key]:>17.3f} ± {v[key.split('_')[0] + '_sd']:.3f}"
                                     for v in (b, n) for key in ("rate_hz", "cv_isi")))
        spread = 2 * max(b["rate_sd"], n["rate_sd"]) + 1e-12
        checks[pop] = {"rate_ratio": b["rate_hz"] / n["rate_hz"],
                       "rate_within_10_percent": abs(b["rate_hz"] / n["rate_hz"] - 1) <= 0.10,
                       "rate_within_seed_spread": abs(b["rate_hz"] - n["rate_hz"]) <= spread,
                       "cv_difference": b["cv_isi"] - n["cv_isi"]}
    payload = {"benchmark": "microcircuit_compare", "scale": args.scale, "seeds": args.seeds,
               "duration_s": args.duration, "transient_s": args.transient, "threads": 2, "summary": table,
               "checks": checks, "runs": runs}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "microcircuit_compare.json").write_text(json.dumps(payload, indent=2))
    _figure(args, table)


def _spread(values: list[dict]) -> dict[str, float]:
    """Mean and sample standard deviation over seeds of the rate and the CV."""
    out = {}
    for key, sd in (("rate_hz", "rate_sd"), ("cv_isi", "cv_sd")):
        x = [v[key] for v in values]
        out[key], out[sd] = statistics.mean(x), statistics.stdev(x) if len(x) > 1 else 0.0
    return out


def _figure(args: argparse.Namespace, table: dict) -> None:
    """The layered raster of one biosim run beside both simulators' rates and CVs (mean ± sd over seeds)."""
    from biosim.engine.simulation import Simulation
    from biosim.networks.spiking.microcircuit import POPULATIONS, Microcircuit, build_microcircuit
    from biosim.networks.spiking.microcircuit_plots import layers_figure

    model = Microcircuit(scale={"neurons": args.scale})
    net = build_microcircuit(model, seed=args.seeds[0])
    net.record_spikes(*POPULATIONS)
    rec = Simulation(net, threads=2).run(args.duration)
    title = (f"Potjans & Diesmann microcircuit, {args.scale:g} of the neurons, full in-degrees: rates and CVs over "
             f"[{args.transient:g}, {args.duration:g}] s, mean ± sd of seeds {args.seeds}")
    path = layers_figure(rec.spikes, rec.sizes, rec.duration, table, RESULTS / "microcircuit_compare.png", title)
    print(f"wrote {path[0]} and {RESULTS / 'microcircuit_compare.json'}")


def timing(args: argparse.Namespace) -> None:
    """Build and simulation time, per biological second, of both on 1 and 2 threads (a fresh process each)."""
    results = {}
    systems = [("biosim", "biosim")] + ([("nest", "NEST 3.10")] if available("nest") else [])
    run_snippet(snippet("biosim", args.scale, 1, 1, 0.01, 0.0), cores=1)  # the kernel compiled once, not timed
    failed = {}
    for threads in (1, 2):
        for system, label in systems:
            key = f"{label}, {threads} thread{'s' * (threads > 1)}"
            try:
                result = run_snippet(snippet(system, args.scale, 1, threads, args.duration, 0.1), cores=threads,
                                     timeout=args.timeout)
            except (RuntimeError, subprocess.TimeoutExpired) as err:  # recorded; the other systems go on
                failed[key] = str(err).strip().splitlines()[-1][:300]
                print(f"  {key}: did not finish ({failed[key]})", flush=True)
                continue
            result["sim_s_per_biological_s"] = result["sim_s"] / args.duration
            results[key] = result
            print(f"  {key}: setup {result['setup_s']:.1f} s, sim {result['sim_s']:.1f} s for {args.duration:g} s, "
                  f"peak RSS {result['peak_rss_gb']:.2f} GiB", flush=True)
    print(f"\n{'system':<26}{'setup (s)':>11}{'sim / bio s':>13}{'peak RSS GiB':>14}{'NEST / biosim':>15}")
    for key, r in results.items():
        threads = key.rsplit(", ", 1)[1]
        nest = results.get(f"NEST 3.10, {threads}")
        ratio = nest["sim_s"] / r["sim_s"] if nest and key.startswith("biosim") else float("nan")
        r["nest_sim_over_biosim"] = ratio
        print(f"{key:<26}{r['setup_s']:>11.1f}{r['sim_s_per_biological_s']:>13.1f}{r['peak_rss_gb']:>14.2f}"
              f"{ratio:>15.2f}")
    biosim = results["biosim, 1 thread"]
    payload = {"benchmark": "microcircuit_timing", "scale": args.scale, "duration_s": args.duration,
               "synapses": biosim["synapses"], "did_not_finish": failed,
               "biosim_bytes_per_synapse": biosim.get("network_gb", np.nan) * 2**30 / biosim["synapses"],
               "results": results}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "microcircuit_timing.json").write_text(json.dumps(payload, indent=2))
    print(f"biosim network: {payload['biosim_bytes_per_synapse']:.2f} B per synapse; wrote "
          f"{RESULTS / 'microcircuit_timing.json'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--compare", action="store_true", help="rates and CVs against NEST over seeds")
    mode.add_argument("--timing", action="store_true", help="time and memory on 1 and 2 threads")
    parser.add_argument("--scale", type=float, default=None, help="fraction of the neurons (in-degrees kept)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--duration", type=float, default=None, help="biological seconds, transient included")
    parser.add_argument("--transient", type=float, default=0.1)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds each timed process may take")
    args = parser.parse_args()
    if not available("nest"):
        print("NEST is not installed in this environment: pip install nest-simulator==3.10 (biosim alone runs)")
    if args.compare:
        args.scale, args.duration = args.scale or 0.1, args.duration or 1.1
        compare(args)
    else:
        args.scale, args.duration = args.scale or 1.0, args.duration or 0.6
        timing(args)


if __name__ == "__main__":
    main()
