"""Time per biological second vs synaptic events: CUBA from 4e3 to 4e5 neurons (fixed in-degree 80).

    python benchmarks/scaling.py
"""

from __future__ import annotations

import json

import numpy as np
from harness import RESULTS, run_snippet

SNIPPET = """
from biosim.engine.network import Network, Uniform
from biosim.engine.neurons import LIFCuba
from biosim.engine.connectors import FixedIndegree
from biosim.engine.simulation import Simulation
n = {n}
net = Network(dt=1e-4, seed=1)
model = LIFCuba(t_ref=5e-3)
net.add_population("exc", n * 4 // 5, model, init={{"v": Uniform(-60e-3, -50e-3)}})
net.add_population("inh", n // 5, model, init={{"v": Uniform(-60e-3, -50e-3)}})
for pre, target, w, k in (("exc", "ge", 1.62e-3, 64), ("inh", "gi", -9e-3, 16)):
    for post in ("exc", "inh"):
        net.connect(pre, post, target=target, connector=FixedIndegree(k=k), weight=w)
net.record_spikes("exc", "inh")
sim = Simulation(net, chunk=1.0)
rec = sim.run(1.0)
spikes = {{p: t.size for p, (t, _) in rec.spikes.items()}}
fanout = {{p: sim.net.projections[f"{{p}}_to_exc"].n_synapses / rec.sizes[p]
          + sim.net.projections[f"{{p}}_to_inh"].n_synapses / rec.sizes[p] for p in spikes}}
events = sum(spikes[p] * fanout[p] for p in spikes)
print(json.dumps({{"neurons": n, "sim_s": sim.timing.sim_s, "events": events,
                  "rate_hz": sum(spikes.values()) / n}}))
"""


def main() -> None:
    sizes = [4_000, 16_000, 64_000, 160_000, 400_000]
    run_snippet(SNIPPET.format(n=4000))  # warm the kernel cache
    rows = []
    for n in sizes:
        r = run_snippet(SNIPPET.format(n=n))
        r["ns_per_event"] = r["sim_s"] / r["events"] * 1e9
        rows.append(r)
        print(f"{n:>8,d} neurons  {r['rate_hz']:5.2f} Hz  {r['events']:>12.3e} events/bio-s  "
              f"{r['sim_s']:7.3f} s/bio-s  {r['ns_per_event']:.2f} ns/event", flush=True)
    slope = np.polyfit(np.log([r["events"] for r in rows]), np.log([r["sim_s"] for r in rows]), 1)[0]
    print(f"log-log slope of time vs events: {slope:.3f} (1 = linear)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scaling.json").write_text(json.dumps({"rows": rows, "loglog_slope": slope}, indent=2))


if __name__ == "__main__":
    main()
