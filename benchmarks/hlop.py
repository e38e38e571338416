"""HLOP's overhead, one core, a fresh process per measurement: epochs per second of HLOP against plain fine-tuning
on the same net and data (hlop_permuted_digits.yaml: 5 permuted-digit tasks, MLP 64-100-100-10, batch 32; here 5
epochs per task), so the ratio is the cost of the 5 Hebbian iterations per batch and the gradient projection.
The SVD projection (one SVD per layer per task) is timed too.
    python benchmarks/hlop.py
"""

from __future__ import annotations

import json

from harness import RESULTS, run_snippet

CASE = """
import logging, torch
from pathlib import Path
from types import SimpleNamespace
torch.set_num_threads(1)
from biosim import registry
from biosim.config import load_experiment
from biosim.family import Run
exp, source = load_experiment("experiments/hlop_permuted_digits.yaml", {overrides})
family = registry.get("family", exp.family)()
prepared = family.prepare(exp, source)
out = family.execute(prepared, exp, Run(Path("."), logging.getLogger("benchmark"), SimpleNamespace(requested=False)))
m = out.metrics
print(json.dumps({{"epochs_per_s": m["epochs_per_s"], "train_s": m["train_s"], "acc": m["average_accuracy"]}}))
"""


def main() -> None:
    results = {}
    for name, overrides in (("fine_tuning", ["variant=fine_tuning"]), ("hlop", []),
                            ("svd_projection", ["variant=svd_projection"])):
        r = run_snippet(CASE.format(overrides=overrides + ["epochs=5"]))
        results[name] = r
        print(f"{name:<15} {r['epochs_per_s']:8.2f} epochs/s ({r['train_s']:.1f} s for 5 tasks x 5 epochs)", flush=True)
    ratio = results["fine_tuning"]["epochs_per_s"] / results["hlop"]["epochs_per_s"]
    print(f"HLOP is {ratio:.2f}x slower per epoch than fine-tuning", flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "hlop.json").write_text(json.dumps({**results, "fine_tuning_over_hlop": ratio}, indent=2))


if __name__ == "__main__":
    main()
