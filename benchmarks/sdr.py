"""SDR family throughput, one core, warm kernel caches (a fresh process per measurement):

* Monte-Carlo segments evaluated per second, at the issue's acceptance settings (1e6 patterns);
* temporal memory steps per second on htm.core's TM test workload (2048 columns, 50 active, 20 random
  sequences x 50 SDRs, 5 learning passes + 1 test pass), split into bursting and predicted steps; the one-off
  loading of the compiled steps (Numba's first call) counts in ``setup_s``, not in the passes;
* Sparsey seconds per stored and retrieved item (batches of 10, fastest of 5 repeats) as one mac
  (Q = 24, K = 8, 256 inputs, 16 active) fills from 10 to 1000 items, and the largest deviation from
  the median (fixed-time storage).
There is no installable htm.core for this Python here, so there is no external anchor.
    python benchmarks/sdr.py
"""

from __future__ import annotations

import json

from harness import RESULTS, run_snippet

MONTE_CARLO = """
from biosim.networks.dendritic import montecarlo as mc
from biosim.streams import stream
cases = {{"false_match n=500 a=128 s=24 theta=12": (mc.false_match_trials, (500, 128, 24, 12), 1),
         "false_negative a=128 s=30 theta=12 v=64": (mc.false_negative_trials, (6000, 128, 30, 12, 64), 1),
         "union input n=1000 a=30 s=20 theta=10 M=10": (mc.union_trials, (1000, 30, 20, 10, 10, mc.FORM_INPUT), 1),
         "classifier n=100 w=7 theta=4 M=500": (mc.classifier_trials, (100, 7, 4, 500), 500)}}
out = {{}}
for name, (kernel, args, segments) in cases.items():
    trials = {trials} // segments * 20 if segments > 1 else {trials}
    rng = stream(1, "montecarlo " + name)
    kernel(rng, *args, 10)
    start = time.perf_counter()
    kernel(rng, *args, trials)
    seconds = time.perf_counter() - start
    out[name] = {{"trials": trials, "seconds": seconds, "segments_per_s": trials * segments / seconds}}
print(json.dumps(out))
"""

TEMPORAL_MEMORY = """
import numpy as np
from biosim.networks.temporal_memory.model import TemporalMemory, TemporalMemoryParams
from biosim.rules.dendritic_segments import HTMPermanence
from biosim.streams import stream
rng = np.random.default_rng(42)
seqs = [[np.sort(rng.choice(2048, 50, replace=False)) for _ in range(50)] for _ in range(20)]
inputs = [x for s in seqs for x in s]
resets = np.zeros(len(inputs), bool)
resets[::50] = True
start = time.perf_counter()
tm = TemporalMemory(TemporalMemoryParams(), HTMPermanence(), stream(1, "temporal_memory"))
TemporalMemory(tm.params, tm.rule, stream(1, "warm-up")).run(inputs[:2])  # loads the compiled steps (one-off)
setup = time.perf_counter() - start
passes = []
for k in range(6):
    begin = time.perf_counter()
    anomaly, _ = tm.run(inputs, resets, learn=k < 5)
    passes.append({{"seconds": time.perf_counter() - begin, "mean_anomaly": float(anomaly.mean())}})
total = sum(p["seconds"] for p in passes)
bursting = [p for p in passes if p["mean_anomaly"] > 0.5]
predicted = [p for p in passes if p["mean_anomaly"] <= 0.5]
print(json.dumps({{"setup_s": setup, "passes": passes, "learn_and_test_s": total,
                  "steps_per_s": 6000 / total,
                  "bursting_steps_per_s": 1000 * len(bursting) / sum(p["seconds"] for p in bursting),
                  "predicted_steps_per_s": 1000 * len(predicted) / sum(p["seconds"] for p in predicted),
                  "segments": tm.n_segments, "synapses": tm.n_synapses}}))
"""

SPARSEY = """
import numpy as np
from biosim.networks.sparsey.mac import MacParams, SingleMac
from biosim.rules.sparsey_mac import BinaryHebbian
from biosim.streams import stream
rng = np.random.default_rng(1)
items = lambda n: [np.sort(rng.choice(256, 16, replace=False)) for _ in range(n)]
mac = SingleMac(MacParams(q=24, k=8), 256, BinaryHebbian(freeze_at=1.0), stream(1, "mac"))
mac.retrieve(items(2))
rows, stored, batch = [], 0, 10
for target in list(range(10, 100, 10)) + list(range(100, 1001, 100)):
    if target - batch > stored:  # fill up, untimed
        mac.store(items(target - batch - stored))
        stored = target - batch
    new = items(batch)
    timings = {{"store_s": [], "retrieve_s": []}}
    for repeat in range(5):  # storing the same batch again costs the same operations; keep the fastest
        for key, call in (("store_s", mac.store), ("retrieve_s", mac.retrieve)):
            start = time.perf_counter()
            call(new)
            timings[key].append((time.perf_counter() - start) / batch)
    stored += batch
    rows.append({{"stored": stored, **{{key: min(values) for key, values in timings.items()}}}})
store = np.array([r["store_s"] for r in rows]); retrieve = np.array([r["retrieve_s"] for r in rows])
print(json.dumps({{"rows": rows,
                  "store_max_deviation_from_median": float(np.max(np.abs(store / np.median(store) - 1))),
                  "retrieve_max_deviation_from_median": float(np.max(np.abs(retrieve / np.median(retrieve) - 1)))}}))
"""


def main() -> None:
    run_snippet(MONTE_CARLO.format(trials=1000))  # warm the kernel caches
    run_snippet(TEMPORAL_MEMORY.format())
    results = {"montecarlo": run_snippet(MONTE_CARLO.format(trials=1_000_000)),
               "temporal_memory": run_snippet(TEMPORAL_MEMORY.format()), "sparsey": run_snippet(SPARSEY.format())}
    for name, r in results["montecarlo"].items():
        print(f"MC {name:<45} {r['segments_per_s']:>12.3e} segments/s")
    tm = results["temporal_memory"]
    print(f"TM 20x50 workload: {tm['learn_and_test_s']:.2f} s for 5 learning + 1 test pass "
          f"({tm['steps_per_s']:.0f} steps/s; bursting {tm['bursting_steps_per_s']:.0f}, "
          f"predicted {tm['predicted_steps_per_s']:.0f}); test anomaly {tm['passes'][-1]['mean_anomaly']:.4f}")
    sp = results["sparsey"]
    first, last = sp["rows"][0], sp["rows"][-1]
    deviation = sp["store_max_deviation_from_median"]
    print(f"Sparsey store {first['store_s'] * 1e6:.2f} us/item at {first['stored']} items, "
          f"{last['store_s'] * 1e6:.2f} at {last['stored']} (max deviation {deviation:.1%}); "
          f"retrieve {first['retrieve_s'] * 1e6:.2f} -> {last['retrieve_s'] * 1e6:.2f} us "
          f"(max deviation {sp['retrieve_max_deviation_from_median']:.1%})")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sdr.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
