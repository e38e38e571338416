"""HLOP's overhead, one core, a fresh process per measurement: epochs per second of HLOP against plain fine-tuning
on the same net and data, so the ratio is the cost of the 5 Hebbian iterations per batch and the gradient
projection; the SVD projection (one SVD per layer per task) is timed too. Nets, 5 epochs per task:
* rate MLP 64-100-100-10 (hlop_permuted_digits.yaml: 5 permuted-digit tasks, batch 32);
* spiking DSR MLP, T = 20 (hlop_permuted_digits_dsr.yaml, the same tasks);
* spiking DSR CNN 16-32, T = 20 (hlop_split_digits_cnn.yaml: 5 split-digit tasks, HLOP on the unfolded patches).
    python benchmarks/hlop.py
"""

from __future__ import annotations

import json

from harness import RESULTS, run_experiment_metrics

NETS = {"rate_mlp": "hlop_permuted_digits.yaml", "dsr_mlp": "hlop_permuted_digits_dsr.yaml",
        "dsr_cnn": "hlop_split_digits_cnn.yaml"}


def main() -> None:
    results = {}
    for net, file in NETS.items():
        rows = {}
        for name, overrides in (("fine_tuning", ["variant=fine_tuning"]), ("hlop", []),
                                ("svd_projection", ["variant=svd_projection"])):
            r = run_experiment_metrics(file, overrides + ["epochs=5"], ["epochs_per_s", "train_s", "average_accuracy"])
            rows[name] = r
            print(f"{net:<9} {name:<15} {r['epochs_per_s']:8.2f} epochs/s ({r['train_s']:.1f} s for 5 tasks x 5 "
                  f"epochs)", flush=True)
        rows["fine_tuning_over_hlop"] = rows["fine_tuning"]["epochs_per_s"] / rows["hlop"]["epochs_per_s"]
        print(f"{net:<9} HLOP is {rows['fine_tuning_over_hlop']:.2f}x slower per epoch than fine-tuning", flush=True)
        results[net] = rows
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "hlop.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
