"""The ``graph_local`` family: node classification or link prediction with a graph rule (ForwardGNN's
single forward and forward-forward variants, or backprop) from YAML. Units (layers, or the whole stack for
backprop) are trained in turn by ``biosim.torch.trainer``, each with its own Adam optimiser (weight decay),
full batch, with optional early stopping on validation accuracy or ROC-AUC (the best state is restored).
``use_edges: false`` trains the same model without the graph's edges (control). The data split, the edge
split (with its negative edges), the initial parameters and the virtual class nodes each draw from their own
stream of the run's seed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from biosim import registry
from biosim.config import ExperimentBase, Source, Spec
from biosim.family import Outcome, Run, number
from biosim.streams import stream
from biosim.torch.common import (
    TorchFamily,
    Width,
    build_net,
    check_build,
    embeddings,
    load_data,
    prepare_rule_and_data,
)
from biosim.torch.results import TrainingResults, score_name

if TYPE_CHECKING:
    from biosim.torch.trainer import Training


class GraphLocalExperiment(ExperimentBase):
    """Node classification with a graph rule (family ``graph_local``)."""

    family: str = "graph_local"
    task: Literal["node", "link"] = Field("node", description="node classification or link prediction")
    rule: Spec = "single_forward"
    conv: Literal["gcn", "sage", "gat"] = "gcn"
    hidden: list[Width] = Field([64, 64], min_length=1, description="widths of the convolution layers")
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
    threads: int | None = Field(None, gt=0, description="torch CPU threads (default: torch's choice)")
    plots: list[str] = ["learning_curves", "embeddings"]


@dataclass
class Prepared:
    """The rule, the loaded graph and, for link prediction, its edge split (``split_edges``)."""

    rule: Any
    graph: Any
    split: dict[str, np.ndarray] | None = None


def prepare(exp: GraphLocalExperiment, source: Source) -> Prepared:
    """The rule, the loaded graph and (links) the edge split; widths the rule cannot build, early stopping
    without validation nodes or edges, and an edge split the graph cannot give are refused here."""
    from biosim.networks.graph_local.target import GRAPH_LAYERS

    rule, data = prepare_rule_and_data(exp, source, GRAPH_LAYERS.registry_name, "graph")
    graph = load_data(data, exp.seed, source)
    check_build(rule, source, **_net_context(exp, graph))
    if exp.task == "node":
        if exp.patience is not None and len(graph.val) == 0:
            raise source.error("early stopping (patience) needs validation nodes: set data.val_fraction > 0",
                               ("patience",))
        return Prepared(rule, graph)
    try:
        split = split_edges(graph.edges, len(graph.y), exp.link_val, exp.link_test, stream(exp.seed, "link_split"))
    except ValueError as err:
        raise source.error(str(err), ("link_test",)) from None
    if exp.patience is not None and split["val_pos"].shape[1] == 0:
        raise source.error(f"early stopping (patience) needs validation edges: link_val {exp.link_val} of "
                           f"{graph.edges.shape[1]} edges holds none", ("link_val",))
    return Prepared(rule, graph, split)


def _net_context(exp: GraphLocalExperiment, graph) -> dict[str, Any]:
    """What the rule's torch builder gets (link prediction has no classes)."""
    return {"conv": exp.conv, "widths": list(exp.hidden), "n_features": graph.x.shape[1],
            "n_classes": graph.n_classes if exp.task == "node" else 0}


def to_torch(graph, use_edges: bool, device: str):
    import torch

    from biosim.networks.graph_local.nets import TorchGraph

    return TorchGraph(torch.tensor(graph.x, dtype=torch.float32, device=device),
                      torch.tensor(graph.y, dtype=torch.long, device=device),
                      torch.tensor(graph.train, dtype=torch.long, device=device),
                      torch.tensor(graph.edges, dtype=torch.long, device=device), use_edges)


def _accuracy(scores, y, nodes) -> float:
    return float((scores[nodes].argmax(dim=1) == y[nodes]).float().mean()) if len(nodes) else float("nan")


@dataclass
class GraphFit:
    """A trained graph net, the torch graph it ran on, and its training; link prediction adds the edge
    split (``<split>_pos`` / ``<split>_neg`` pairs)."""

    net: Any
    graph: Any
    training: Training
    pairs: dict[str, Any] = field(default_factory=dict)


def train_units(net, tg, exp: GraphLocalExperiment, evaluate, score: str, stop=lambda: False, log=None):
    """Train the net's units one after another, full batch, validating every ``validate_every`` epochs
    with ``evaluate(unit, epoch)``; with ``patience``, a unit stops early on its best-validation ``score`` and is
    restored to it; then it is frozen."""
    import torch

    from biosim.torch.trainer import Schedule, greedy, train

    units = net.units()

    def losses(index, active):
        (k,) = active
        return [net.unit_loss(k, tg) if j == k else None for j in range(len(units))], {}

    schedule = Schedule(stages=greedy(len(units)), epochs=exp.epochs, grad_clip=exp.grad_clip,
                        validate_every=exp.validate_every, score=score, patience=exp.patience,
                        restore_best=exp.patience is not None, seed=exp.seed)
    return train(net, units, losses, evaluate, schedule,
                 lambda params: torch.optim.Adam(params, lr=exp.lr, weight_decay=exp.weight_decay),
                 net.hooks(), stop=stop, log=log, device=exp.device)


def fit(rule, exp: GraphLocalExperiment, graph, stop=lambda: False, log=None) -> GraphFit:
    """Train ``rule``'s network for node classification on ``graph`` (a ``biosim.data.graphs.Graph``)."""
    import torch

    tg = to_torch(graph, exp.use_edges, exp.device)
    val, test = (torch.tensor(a, dtype=torch.long, device=exp.device) for a in (graph.val, graph.test))
    net = build_net(rule, exp.seed, exp.device, **_net_context(exp, graph))
    net.prepare(tg)

    def evaluate(k: int, epoch: int) -> dict[str, float]:
        scores = net.scores(tg, k)
        return {f"{name}_accuracy": _accuracy(scores, tg.y, nodes)
                for name, nodes in (("train", tg.train), ("val", val), ("test", test))}

    return GraphFit(net, tg, train_units(net, tg, exp, evaluate, "accuracy", stop, log))


def _unit_names(net) -> list[str]:
    """Greedy nets train one unit per layer; the others one unit of all layers."""
    n = len(net.units())
    return [f"layer {k + 1}" for k in range(n)] if n > 1 else ["all layers"]


def split_edges(edges: np.ndarray, n: int, val: float, test: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """RandomLinkSplit-style: shuffle the undirected edges (2 x E, each pair once, i < j) into train / val /
    test positives, and draw as many negatives for each split: a uniform sample without replacement, in random
    order, of the node pairs i < j that are not edges (no self loops). Pairs are drawn in batches and the
    self loops, edges and repeats rejected, which keeps exactly the pairs a one-by-one rejection loop over the
    same draws would keep. Message passing uses the train edges only."""
    n_edges = edges.shape[1]
    order = rng.permutation(n_edges)
    n_test, n_val = int(round(test * n_edges)), int(round(val * n_edges))
    if n_test + n_val >= n_edges:
        raise ValueError(f"link_val {val} + link_test {test} of {n_edges} edges leave no training edges")
    free = n * (n - 1) // 2 - n_edges
    if n_edges > free:
        raise ValueError(f"the graph is too dense to sample as many non-edges as edges ({n_edges} edges, "
                         f"{free} non-edges)")
    existing = np.sort(edges[0].astype(np.int64) * n + edges[1])  # pair (i, j), i < j, as the code i n + j
    chosen = np.empty(0, np.int64)
    while len(chosen) < n_edges:
        accept = 2 * (free - len(chosen)) / n**2  # the chance that a draw is a new non-edge
        batch = int(1.2 * (n_edges - len(chosen)) / accept) + 64
        pairs = np.sort(rng.integers(0, n, (batch, 2)), axis=1)
        codes = pairs[:, 0] * n + pairs[:, 1]
        codes = codes[(pairs[:, 0] != pairs[:, 1]) & ~_contains(existing, codes) & ~np.isin(codes, chosen)]
        _, first = np.unique(codes, return_index=True)  # the first draw of each pair, in draw order
        chosen = np.concatenate([chosen, codes[np.sort(first)]])
    chosen = chosen[:n_edges]
    negative = np.stack([chosen // n, chosen % n])
    parts = {"test": order[:n_test], "val": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}
    split, start = {}, 0
    for name, index in parts.items():
        split[f"{name}_pos"] = edges[:, index]
        split[f"{name}_neg"] = negative[:, start:start + len(index)]
        start += len(index)
    return split


def _contains(sorted_codes: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Which of ``codes`` are in ``sorted_codes`` (binary search)."""
    at = np.searchsorted(sorted_codes, codes).clip(max=max(len(sorted_codes) - 1, 0))
    return sorted_codes[at] == codes if len(sorted_codes) else np.zeros(len(codes), bool)


def _auc(net, pairs_pos, pairs_neg, upto: int) -> float:
    import torch
    from sklearn.metrics import roc_auc_score

    if pairs_pos.shape[1] == 0:
        return float("nan")
    scores = torch.cat([net.edge_probability(pairs_pos, upto), net.edge_probability(pairs_neg, upto)])
    labels = np.r_[np.ones(pairs_pos.shape[1]), np.zeros(pairs_neg.shape[1])]
    return float(roc_auc_score(labels, scores.cpu().numpy()))


def fit_link(rule, exp: GraphLocalExperiment, graph, split: dict[str, np.ndarray], stop=lambda: False,
             log=None) -> GraphFit:
    """Train a link-prediction rule on ``graph``'s edges split (``split_edges``) into train / val / test
    (ROC-AUC)."""
    import torch

    pairs = {k: torch.tensor(v, dtype=torch.long, device=exp.device) for k, v in split.items()}
    tg = to_torch(graph, True, exp.device)
    tg.edges = pairs["train_pos"]
    net = build_net(rule, exp.seed, exp.device, **_net_context(exp, graph))
    net.prepare(tg, pairs["train_pos"], pairs["train_neg"])

    def evaluate(k: int, epoch: int) -> dict[str, float]:
        upto = k if rule.greedy else len(net.convs) - 1
        return {f"{name}_roc_auc": _auc(net, pairs[f"{name}_pos"], pairs[f"{name}_neg"], upto)
                for name in ("train", "val", "test")}

    return GraphFit(net, tg, train_units(net, tg, exp, evaluate, "roc_auc", stop, log), pairs)


def _results(exp: GraphLocalExperiment, rule, done: GraphFit, score: str, labels, hidden, arrays) -> TrainingResults:
    return TrainingResults(exp.description or exp.name, rule.registry_name, score, _unit_names(done.net),
                           done.training.history, labels, embeddings(hidden), arrays)


def _execute_link(prepared: Prepared, exp: GraphLocalExperiment, run: Run) -> Outcome:
    rule, graph = prepared.rule, prepared.graph
    start = time.perf_counter()
    done = fit_link(rule, exp, graph, prepared.split, lambda: run.stop_requested, run.log)
    seconds = time.perf_counter() - start
    net, pairs = done.net, done.pairs
    last = len(net.convs) - 1
    per_layer = [_auc(net, pairs["test_pos"], pairs["test_neg"], k) for k in range(last + 1)] if rule.greedy else []
    metrics = {"rule": rule.registry_name, "conv": exp.conv, "task": "link", "score": "roc_auc",
               "test_roc_auc": _auc(net, pairs["test_pos"], pairs["test_neg"], last),
               "val_roc_auc": _auc(net, pairs["val_pos"], pairs["val_neg"], last),
               "train_roc_auc": _auc(net, pairs["train_pos"], pairs["train_neg"], last),
               "per_layer_test_roc_auc": per_layer, "train_s": seconds,
               "edges": {k: int(v.shape[1]) for k, v in pairs.items()}}
    results = _results(exp, rule, done, "roc_auc", graph.y, net.hidden(None),
                       {f"split_{k}": v.cpu().numpy() for k, v in pairs.items()})
    return Outcome(metrics, results, done.training.complete, done.training.stop_reason)


def execute(prepared, exp: GraphLocalExperiment, run: Run) -> Outcome:
    import torch

    if exp.task == "link":
        return _execute_link(prepared, exp, run)
    rule, graph = prepared.rule, prepared.graph
    start = time.perf_counter()
    done = fit(rule, exp, graph, lambda: run.stop_requested, run.log)
    seconds = time.perf_counter() - start
    net, tg, complete = done.net, done.graph, done.training.complete
    test = torch.tensor(graph.test, dtype=torch.long, device=exp.device)
    layers = len(net.units()) if rule.greedy else 1
    per_layer = [_accuracy(net.scores(tg, k), tg.y, test) for k in range(layers)] if complete else []
    scores = net.scores(tg, layers - 1)
    with torch.no_grad():
        hidden = [h[graph.test] for h in net.hidden(tg)]
    arrays = {"split_train": graph.train, "split_val": graph.val, "split_test": graph.test,
              "predicted": scores[test].argmax(dim=1).cpu().numpy()}
    history = done.training.history
    metrics = {"rule": rule.registry_name, "conv": exp.conv, "use_edges": exp.use_edges, "score": "accuracy",
               "test_accuracy": _accuracy(scores, tg.y, test), "train_accuracy": _accuracy(scores, tg.y, tg.train),
               "per_layer_test_accuracy": per_layer, "train_s": seconds,
               "nodes": len(graph.y), "edges": int(graph.edges.shape[1]), "train_nodes": len(graph.train),
               "test_nodes": len(graph.test), "recorded_epochs": len({(r["stage"], r["epoch"]) for r in history})}
    results = _results(exp, rule, done, "accuracy", graph.y[graph.test], hidden, arrays)
    return Outcome(metrics, results, complete, done.training.stop_reason)


@registry.register("family", "graph_local")
class GraphLocal(TorchFamily):
    """Node classification and link prediction with graph-layer rules (ForwardGNN) or backprop."""

    schema = GraphLocalExperiment
    prepare = staticmethod(prepare)
    train = staticmethod(execute)

    def summary(self, metrics: dict[str, Any]) -> str:
        link = metrics.get("task") == "link"
        score = "roc_auc" if link else "accuracy"
        per_layer = " / ".join(number(v, 3) for v in metrics[f"per_layer_test_{score}"]) or "n/a"
        setting = metrics["conv"] if link else f"{metrics['conv']}, edges {metrics['use_edges']}"
        return (f"{metrics['rule']} ({setting}): {score_name(f'test_{score}')} {number(metrics[f'test_{score}'], 3)}, "
                f"per layer {per_layer}")
