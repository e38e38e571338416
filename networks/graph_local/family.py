"""The ``graph_local`` family: node classification with a graph rule (ForwardGNN's single forward, or
backprop) from YAML. Units (layers, or the whole stack for backprop) are trained in turn with their own
Adam optimiser (weight decay), full batch, with optional early stopping on validation accuracy (the best
state is restored). ``use_edges: false`` trains the same model without the graph's edges (control).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

import numpy as np
from pydantic import Field

from biosim import registry
from biosim.config import ExperimentBase, Source, Spec
from biosim.family import Family, Outcome, Results, Run
from biosim.torch.common import pca, prepare_rule_and_data, torch_settings

log = logging.getLogger("biosim")


class GraphLocalExperiment(ExperimentBase):
    """Node classification with a graph rule (family ``graph_local``)."""

    family: str = "graph_local"
    task: Literal["node", "link"] = Field("node", description="node classification or link prediction")
    rule: Spec = "single_forward"
    conv: Literal["gcn", "sage", "gat"] = "gcn"
    hidden: list[int] = Field([64, 64], min_length=1, description="widths of the convolution layers")
    data: Spec = "csbm"
    use_edges: bool = Field(True, description="false: the same model without the graph's edges (control)")
    lr: float = Field(1e-2, gt=0)
    weight_decay: float = Field(5e-4, ge=0)
    grad_clip: float | None = Field(None, gt=0, description="clip each unit's gradient norm")
    epochs: int = Field(200, ge=1, description="epochs per unit (per layer when greedy)")
    patience: int | None = Field(None, gt=0, description="early stopping: validations without improvement")
    link_val: float = Field(0.16, ge=0, lt=1, description="link prediction: validation edges (fraction)")
    link_test: float = Field(0.2, gt=0, lt=1, description="link prediction: test edges (fraction)")
    validate_every: int = Field(2, ge=1)
    device: Literal["cpu", "cuda"] = "cpu"
    plots: list[str] = ["learning_curves", "embeddings"]


def prepare(exp: GraphLocalExperiment, source: Source):
    from biosim.rules.graph_layers import GRAPH_LAYERS

    rule, data = prepare_rule_and_data(exp, source, GRAPH_LAYERS, "graph")
    if exp.task == "node" and exp.patience is not None and data.val_fraction == 0 \
            and data.registry_name != "karate_club":
        raise source.error("early stopping (patience) needs validation nodes: set data.val_fraction > 0",
                           ("patience",))
    return rule, data


def to_torch(graph, use_edges: bool, device: str):
    import torch

    from biosim.networks.graph_local.nets import TorchGraph

    return TorchGraph(torch.tensor(graph.x, dtype=torch.float32, device=device),
                      torch.tensor(graph.y, dtype=torch.long, device=device),
                      torch.tensor(graph.train, dtype=torch.long, device=device),
                      torch.tensor(graph.edges, dtype=torch.long, device=device), use_edges)


def _accuracy(scores, y, nodes) -> float:
    return float((scores[nodes].argmax(dim=1) == y[nodes]).float().mean()) if len(nodes) else float("nan")


def fit(rule, exp: GraphLocalExperiment, graph, interrupts=None):
    """Train ``rule``'s network on ``graph`` (a ``biosim.data.graphs.Graph``); returns (net, torch graph,
    history, complete)."""
    import torch

    torch.manual_seed(exp.seed)
    tg = to_torch(graph, exp.use_edges, exp.device)
    val, test = (torch.tensor(a, dtype=torch.long, device=exp.device) for a in (graph.val, graph.test))
    net = rule.build(exp.conv, list(exp.hidden), graph.x.shape[1], graph.n_classes).to(exp.device)
    net.prepare(tg)

    def evaluate(k: int) -> dict[str, float]:
        scores = net.scores(tg, k)
        return {f"{name}_accuracy": _accuracy(scores, tg.y, nodes)
                for name, nodes in (("train", tg.train), ("val", val), ("test", test))}

    history, complete = train_units(net, tg, exp, evaluate, interrupts)
    return net, tg, history, complete


def _unit_names(net) -> list[str]:
    """Greedy nets train one unit per layer; the others one unit of all layers."""
    n = len(net.units())
    return [f"layer {k + 1}" for k in range(n)] if n > 1 else ["all layers"]


def train_units(net, tg, exp: GraphLocalExperiment, evaluate, interrupts=None) -> tuple[list[dict], bool]:
    """Train the net's units one after another (Adam each), validating every ``validate_every`` epochs with
    ``evaluate(unit)`` (train/val/test scores); with ``patience``, stop a unit early and restore its
    best-validation parameters; then freeze it. Returns (history, complete)."""
    import torch

    units, history = net.units(), []
    for k, params in enumerate(units):
        optimiser = torch.optim.Adam(params, lr=exp.lr, weight_decay=exp.weight_decay)
        best, best_state, waited = -1.0, None, 0
        for epoch in range(exp.epochs):
            loss = net.unit_loss(k, tg)
            if not torch.isfinite(loss):
                return history, False
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            if exp.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, exp.grad_clip)
            optimiser.step()
            if epoch % exp.validate_every and epoch != exp.epochs - 1:
                continue
            record = {"stage": k, "epoch": epoch, "group_loss": [loss.item() if j == k else float("nan")
                                                                 for j in range(len(units))], **evaluate(k)}
            history.append(record)
            if exp.patience is not None:
                if record["val_accuracy"] > best:
                    best, waited = record["val_accuracy"], 0
                    best_state = [p.detach().clone() for p in params]
                else:
                    waited += 1
                    if waited >= exp.patience:
                        break
            if interrupts is not None and interrupts.requested:
                return history, False
        if best_state is not None:
            with torch.no_grad():
                for p, saved in zip(params, best_state, strict=True):
                    p.copy_(saved)
        net.freeze(k)
    return history, True


def split_edges(edges: np.ndarray, n: int, val: float, test: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """RandomLinkSplit-style: shuffle the undirected edges into train / val / test positives; sample as
    many distinct non-edges (no self loops) for each split. Message passing uses the train edges only."""
    order = rng.permutation(edges.shape[1])
    n_test, n_val = int(round(test * len(order))), int(round(val * len(order)))
    parts = {"test": order[:n_test], "val": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}
    existing = set(map(tuple, edges.T.tolist()))
    negatives: list[tuple[int, int]] = []
    wanted = edges.shape[1]
    if wanted > n * (n - 1) // 2 - len(existing):
        raise ValueError("the graph is too dense to sample as many non-edges as edges")
    seen = set()
    while len(negatives) < wanted:
        i, j = sorted(rng.integers(0, n, 2).tolist())
        if i != j and (i, j) not in existing and (i, j) not in seen:
            seen.add((i, j))
            negatives.append((i, j))
    negative = np.array(negatives).T
    split, start = {}, 0
    for name, index in parts.items():
        split[f"{name}_pos"] = edges[:, index]
        split[f"{name}_neg"] = negative[:, start:start + len(index)]
        start += len(index)
    return split


def _auc(net, pairs_pos, pairs_neg, upto: int) -> float:
    import torch
    from sklearn.metrics import roc_auc_score

    if pairs_pos.shape[1] == 0:
        return float("nan")
    scores = torch.cat([net.edge_probability(pairs_pos, upto), net.edge_probability(pairs_neg, upto)])
    labels = np.r_[np.ones(pairs_pos.shape[1]), np.zeros(pairs_neg.shape[1])]
    return float(roc_auc_score(labels, scores.cpu().numpy()))


def fit_link(rule, exp: GraphLocalExperiment, graph, interrupts=None):
    """Train a link-prediction rule; returns (net, split tensors, history, complete)."""
    import torch

    torch.manual_seed(exp.seed)
    split = split_edges(graph.edges, len(graph.y), exp.link_val, exp.link_test, np.random.default_rng(exp.seed))
    pairs = {k: torch.tensor(v, dtype=torch.long, device=exp.device) for k, v in split.items()}
    tg = to_torch(graph, True, exp.device)
    tg.edges = pairs["train_pos"]
    net = rule.build(exp.conv, list(exp.hidden), graph.x.shape[1], 0).to(exp.device)
    net.prepare(tg, pairs["train_pos"], pairs["train_neg"])

    def evaluate(k: int) -> dict[str, float]:  # ROC-AUC, under the accuracy keys the loop validates on
        upto = k if rule.greedy else len(net.convs) - 1
        return {f"{name}_accuracy": _auc(net, pairs[f"{name}_pos"], pairs[f"{name}_neg"], upto)
                for name in ("train", "val", "test")}

    history, complete = train_units(net, tg, exp, evaluate, interrupts)
    return net, pairs, history, complete


def _execute_link(rule, data, exp: GraphLocalExperiment, run: Run) -> Outcome:
    graph = data.load(np.random.default_rng(exp.seed))
    start = time.perf_counter()
    net, pairs, history, complete = fit_link(rule, exp, graph, run.interrupts)
    seconds = time.perf_counter() - start
    last = len(net.convs) - 1
    per_layer = [_auc(net, pairs["test_pos"], pairs["test_neg"], k) for k in range(last + 1)] if rule.greedy else []
    metrics = {"rule": rule.registry_name, "conv": exp.conv, "task": "link",
               "test_roc_auc": _auc(net, pairs["test_pos"], pairs["test_neg"], last),
               "val_roc_auc": _auc(net, pairs["val_pos"], pairs["val_neg"], last),
               "train_roc_auc": _auc(net, pairs["train_pos"], pairs["train_neg"], last),
               "per_layer_test_roc_auc": per_layer, "train_s": seconds,
               "edges": {k: int(v.shape[1]) for k, v in pairs.items()}}
    hidden = [h.cpu().numpy() for h in net.hidden(None)]
    arrays = {"test_labels": graph.y, **{f"split_{k}": v.cpu().numpy() for k, v in pairs.items()},
              **{f"pca_layer{k}": pca(h) for k, h in enumerate(hidden)
                                        if np.isfinite(h).all()}}
    results = Results(arrays, {"title": exp.description or exp.name, "history": history, "rule": rule.registry_name,
                               "groups": _unit_names(net)})
    return Outcome(metrics, results, complete, None if complete else "interrupted or diverged")


def execute(prepared, exp: GraphLocalExperiment, run: Run) -> Outcome:
    import torch

    rule, data = prepared
    if exp.task == "link":
        return _execute_link(rule, data, exp, run)
    graph = data.load(np.random.default_rng(exp.seed))
    start = time.perf_counter()
    net, tg, history, complete = fit(rule, exp, graph, run.interrupts)
    seconds = time.perf_counter() - start
    test = torch.tensor(graph.test, dtype=torch.long, device=exp.device)
    layers = len(net.units()) if rule.greedy else 1
    per_layer = [_accuracy(net.scores(tg, k), tg.y, test) for k in range(layers)] if complete else []
    scores = net.scores(tg, layers - 1)
    with torch.no_grad():
        hidden = [h[graph.test].cpu().numpy() for h in net.hidden(tg)]
    arrays = {"test_labels": graph.y[graph.test], "split_train": graph.train, "split_val": graph.val,
              "split_test": graph.test,
              "predicted": scores[test].argmax(dim=1).cpu().numpy(),
              **{f"pca_layer{k}": pca(h) for k, h in enumerate(hidden) if np.isfinite(h).all() and len(h) > 2}}
    epochs = len({(r["stage"], r["epoch"]) for r in history})
    metrics = {"rule": rule.registry_name, "conv": exp.conv, "use_edges": exp.use_edges,
               "test_accuracy": _accuracy(scores, tg.y, test), "train_accuracy": _accuracy(scores, tg.y, tg.train),
               "per_layer_test_accuracy": per_layer, "train_s": seconds,
               "nodes": len(graph.y), "edges": int(graph.edges.shape[1]), "train_nodes": len(graph.train),
               "test_nodes": len(graph.test), "recorded_epochs": epochs}
    results = Results(arrays, {"title": exp.description or exp.name, "history": history, "rule": rule.registry_name,
                               "groups": _unit_names(net)})
    return Outcome(metrics, results, complete, None if complete else "interrupted or diverged")


@registry.register("family", "graph_local")
class GraphLocal(Family):
    """Node classification and link prediction with graph-layer rules (ForwardGNN) or backprop."""

    schema = GraphLocalExperiment
    plots = ("learning_curves", "embeddings")
    prepare = staticmethod(prepare)

    def execute(self, prepared, exp: GraphLocalExperiment, run: Run) -> Outcome:
        with torch_settings(exp.seed, None, exp.device):
            return execute(prepared, exp, run)

    def summary(self, metrics: dict[str, Any]) -> str:
        if metrics.get("task") == "link":
            return (f"{metrics['rule']} ({metrics['conv']}): test ROC-AUC {metrics['test_roc_auc']:.3f}, per layer "
                    f"{np.round(metrics['per_layer_test_roc_auc'], 3).tolist()}")
        return (f"{metrics['rule']} ({metrics['conv']}, edges {metrics['use_edges']}): test accuracy "
                f"{metrics['test_accuracy']:.3f}, per layer {np.round(metrics['per_layer_test_accuracy'], 3).tolist()}")
