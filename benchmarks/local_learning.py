"""Epochs per second of the layer-local rules against backprop on the same model, one process each, CPU
(and CUDA when torch sees a GPU): FF and CCL on 8x8 digits (2 x 256 and 2 x 32, batch 64, evaluation
excluded) and SF-GCN on the contextual SBM (n = 800, 2 x 64, full batch).
    python benchmarks/local_learning.py [--threads 1]
"""

from __future__ import annotations

import argparse
import json

from harness import RESULTS, run_snippet

MLP = """
import numpy as np, torch
torch.set_num_threads({threads})
from biosim import registry
from biosim.data.images import Digits
from biosim.networks.layer_local.family import _scale
from biosim.streams import stream
from biosim.torch.common import build_net
device = "{device}"
split = Digits(test_fraction=0.25, stratify=True).load(stream(1, "data"))
x = torch.tensor(_scale(split.train_x, "{scaling}"), dtype=torch.float32, device=device)
y = torch.tensor(split.train_y, device=device)
net = build_net(registry.get("rule", "{rule}")(), 1, device, widths={hidden}, n_inputs=64, n_classes=10)
opts = [torch.optim.{optimizer}(g, lr={lr}) for g in net.groups()]
def epoch():
    for k in range(0, len(x), 64):
        losses, _ = net.local_losses(x[k:k + 64], y[k:k + 64])
        for o in opts: o.zero_grad(set_to_none=True)
        sum(losses).backward()
        for o in opts: o.step()
    if device == "cuda": torch.cuda.synchronize()
epoch()
start = time.perf_counter()
for _ in range({epochs}): epoch()
seconds = time.perf_counter() - start
print(json.dumps({{"epochs_per_s": {epochs} / seconds}}))
"""

GRAPH = """
import numpy as np, torch
torch.set_num_threads({threads})
from biosim import registry
from biosim.data.graphs import ContextualSBM
from biosim.networks.graph_local.family import to_torch
from biosim.streams import stream
from biosim.torch.common import build_net
device = "{device}"
graph = ContextualSBM(n=800, phi=0.5).load(stream(1, "data"))
tg = to_torch(graph, True, device)
net = build_net(registry.get("rule", "{rule}")(), 1, device, conv="gcn", widths=[64, 64],
                n_features=graph.x.shape[1], n_classes=2)
net.prepare(tg)
units = net.units()
opts = [torch.optim.Adam(p, lr=1e-2, weight_decay=5e-4) for p in units]
def epoch(k):
    loss = net.unit_loss(k, tg)
    opts[k].zero_grad(set_to_none=True); loss.backward(); opts[k].step()
    if device == "cuda": torch.cuda.synchronize()
epoch(0)
start = time.perf_counter()
for k in range(len(units)):
    for _ in range({epochs}): epoch(k)
    net.freeze(k)
seconds = time.perf_counter() - start
print(json.dumps({{"epochs_per_s": len(units) * {epochs} / seconds, "units": len(units)}}))
"""

CASES = {
    "forward_forward (digits 2x256)": (MLP, dict(rule="forward_forward", hidden=[256, 256], scaling="rms",
                                                 optimizer="Adam", lr=3e-3, epochs=10)),
    "backprop (digits 2x256)": (MLP, dict(rule="backprop", hidden=[256, 256], scaling="rms", optimizer="Adam",
                                          lr=3e-3, epochs=10)),
    "counter_current (digits 2x32)": (MLP, dict(rule="counter_current", hidden=[32, 32], scaling="none",
                                                optimizer="SGD", lr=1.0, epochs=20)),
    "backprop (digits 2x32)": (MLP, dict(rule="backprop", hidden=[32, 32], scaling="none", optimizer="Adam",
                                         lr=3e-3, epochs=20)),
    "single_forward SF-GCN (cSBM 800)": (GRAPH, dict(rule="single_forward", epochs=100)),
    "backprop_gnn GCN (cSBM 800)": (GRAPH, dict(rule="backprop_gnn", epochs=200)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    devices = ["cpu"] + (["cuda"] if run_snippet("import torch\nprint(json.dumps({'gpu': torch.cuda.is_available()}))"
                                                 )["gpu"] else [])
    results = {}
    for device in devices:
        for name, (template, fields) in CASES.items():
            r = run_snippet(template.format(device=device, threads=args.threads, **fields))
            results[f"{name} [{device}]"] = r
            print(f"{name:<36} {device:<5} {r['epochs_per_s']:8.1f} epochs/s", flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "local_learning.json").write_text(json.dumps({"threads": args.threads, "results": results}, indent=2))


if __name__ == "__main__":
    main()
