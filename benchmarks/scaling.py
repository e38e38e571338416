"""Time per biological second vs synaptic events: CUBA from 4e3 to 4e5 neurons, biosim and Brian2 cpp_standalone.

Every neuron projects to 80 random targets (fixed out-degree: 64 excitatory, 16 inhibitory in biosim;
80 over the whole group in Brian2's generator syntax), so the rate, and the events per neuron, stay
the same at every size. One core, 1 s biological, one fresh process per point.

``--floors`` also times two bare Numba loops per size, the memory-bound floors of a step: a streaming
update of three float64 state arrays (ns per neuron-step) and a scatter-add of the same number of events
into a float64 array of n targets (ns per event). Their cost per item rises once the arrays leave the
core's L2 cache, for any simulator that keeps float64 state.
    python benchmarks/scaling.py [--brian2] [--floors]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from harness import BRIAN2_STANDALONE, RESULTS, run_snippet

SIZES = [4_000, 16_000, 64_000, 160_000, 400_000]
OUT_DEGREE = 80

BIOSIM = """
from biosim.engine.network import Network, Uniform
from biosim.engine.neurons import LIFCuba
from biosim.engine.connectors import FixedOutdegree
from biosim.engine.simulation import Simulation
n = {n}
t0 = time.perf_counter()
net = Network(dt=1e-4, seed=1)
model = LIFCuba(t_ref=5e-3, e_l=-49e-3)  # CUBA offset, as its Brian2 twin
net.add_population("exc", n * 4 // 5, model, init={{"v": Uniform(-60e-3, -50e-3)}})
net.add_population("inh", n // 5, model, init={{"v": Uniform(-60e-3, -50e-3)}})
for pre, target, w in (("exc", "ge", 1.62e-3), ("inh", "gi", -9e-3)):
    for post, k in (("exc", {out} * 4 // 5), ("inh", {out} // 5)):
        net.connect(pre, post, target=target, connector=FixedOutdegree(k=k), weight=w)
net.record_spikes("exc", "inh")
sim = Simulation(net, chunk=1.0)
setup = time.perf_counter() - t0
rec = sim.run(1.0)
spikes = sum(t.size for t, _ in rec.spikes.values())
print(json.dumps({{"setup_s": setup, "sim_s": sim.timing.sim_s, "events": spikes * {out}, "rate_hz": spikes / n}}))
"""

BRIAN2 = """
t0 = time.perf_counter()
from brian2 import *
set_device("cpp_standalone", build_on_run=False)
defaultclock.dt = 0.1 * ms
n = {n}
eqs = '''dv/dt = (ge + gi - (v + 49 * mV)) / (20 * ms) : volt (unless refractory)
dge/dt = -ge / (5 * ms) : volt
dgi/dt = -gi / (10 * ms) : volt'''
P = NeuronGroup(n, eqs, threshold="v > -50 * mV", reset="v = -60 * mV", refractory=5 * ms, method="exact")
P.v = "-60 * mV + rand() * 10 * mV"
Ce = Synapses(P[:n * 4 // 5], P, on_pre="ge += 1.62 * mV"); Ce.connect(j="k for k in sample(N_post, size={out})")
Ci = Synapses(P[n * 4 // 5:], P, on_pre="gi += -9 * mV"); Ci.connect(j="k for k in sample(N_post, size={out})")
M = SpikeMonitor(P)
{run}
print(json.dumps({{"setup_s": setup, "sim_s": sim, "events": int(M.num_spikes) * {out}, "rate_hz": M.num_spikes / n}}))
"""

FLOORS = """
import numpy as np, numba
@numba.njit  # a -c snippet has no file for Numba's cache; compiled before timing
def update(v, ge, gi, steps):
    for _ in range(steps):
        for i in range(v.size):
            v[i] += 0.005 * (ge[i] + gi[i] - v[i])
            ge[i] *= 0.98
            gi[i] *= 0.99
@numba.njit
def scatter(target, post, w, spikes, degree):
    for row in spikes:
        for s in row:
            for k in range(s * degree, (s + 1) * degree):
                target[post[k]] += w[k]
n, degree, steps = {n}, {out}, 2000
rng = np.random.default_rng(0)
v, ge, gi = (rng.random(n) for _ in range(3))
post = np.sort(rng.integers(0, n, (n, degree)), axis=1).ravel().astype(np.int32)
w, target = rng.random(n * degree), np.zeros(n)
spikes = rng.integers(0, n, (steps, max(1, round(n * {rate_hz} * 1e-4))))
update(v, ge, gi, 1); scatter(target, post, w, spikes[:1], degree)
t = time.perf_counter(); update(v, ge, gi, steps); t_update = time.perf_counter() - t
t = time.perf_counter(); scatter(target, post, w, spikes, degree); t_scatter = time.perf_counter() - t
print(json.dumps({{"update_ns_per_neuron_step": t_update / (n * steps) * 1e9,
                  "scatter_ns_per_event": t_scatter / (spikes.size * degree) * 1e9}}))
"""


def floors(rows: list[dict]) -> list[dict]:
    """The floors at each size, and biosim's time over the floor model: 10^4 steps (1 s at dt 0.1 ms) of
    the bare update of every neuron, plus the bare scatter of biosim's events."""
    out = []
    for row in rows:
        r = run_snippet(FLOORS.format(n=row["neurons"], out=OUT_DEGREE, rate_hz=row["rate_hz"]))
        out.append(with_floor_model(r, row))
        print(f"floors {row['neurons']:>9,d} neurons: update {r['update_ns_per_neuron_step']:.3f} ns/neuron-step, "
              f"scatter {r['scatter_ns_per_event']:.2f} ns/event; biosim / floor model "
              f"{r['biosim_over_floor']:.2f}", flush=True)
    return out


def with_floor_model(floor: dict, row: dict) -> dict:
    seconds = 1e-9 * (1e4 * row["neurons"] * floor["update_ns_per_neuron_step"]
                      + row["events"] * floor["scatter_ns_per_event"])
    return floor | {"neurons": row["neurons"], "floor_s_per_bio_s": seconds,
                    "biosim_over_floor": row["sim_s"] / seconds}


def sweep(name: str, template: str, **fields) -> dict:
    rows = []
    for n in SIZES:
        r = run_snippet(template.format(n=n, out=OUT_DEGREE, **fields))
        r |= {"neurons": n, "ns_per_event": r["sim_s"] / r["events"] * 1e9}
        rows.append(r)
        print(f"{name:<22}{n:>9,d} neurons {r['rate_hz']:6.2f} Hz {r['events']:>11.3e} events/bio-s "
              f"{r['sim_s']:8.3f} s/bio-s {r['ns_per_event']:7.2f} ns/event", flush=True)
    events, seconds = np.log([r["events"] for r in rows]), np.log([r["sim_s"] for r in rows])
    slope = float(np.polyfit(events, seconds, 1)[0])
    upper = float(np.polyfit(events[2:], seconds[2:], 1)[0])
    print(f"{name}: log-log slope of time vs events {slope:.3f} overall, {upper:.3f} from {SIZES[2]:,d} neurons")
    return {"rows": rows, "loglog_slope": slope, "loglog_slope_from_64k": upper}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--brian2", action="store_true", help="also sweep Brian2 cpp_standalone")
    parser.add_argument("--floors", action="store_true", help="also time the bare update and scatter loops")
    args = parser.parse_args()
    run_snippet(BIOSIM.format(n=4000, out=OUT_DEGREE))  # warm the kernel cache
    results = {"biosim": sweep("biosim", BIOSIM)}
    if args.floors:
        results["floors"] = floors(results["biosim"]["rows"])
    if args.brian2:
        build_dir = RESULTS / "scaling_standalone"
        run = BRIAN2_STANDALONE.format(duration=1.0, build_dir=build_dir)
        results["brian2 cpp_standalone"] = sweep("brian2 cpp_standalone", BRIAN2, run=run)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scaling.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
