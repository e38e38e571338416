"""Graph convolutions, graph datasets and ForwardGNN's single-forward rule."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from biosim.data.graphs import ContextualSBM, GraphFiles, KarateClub, _triangle_pair
from biosim.networks.graph_local.convs import GATConv, GCNConv, GraphOps, SAGEConv
from biosim.networks.graph_local.family import GraphLocalExperiment, fit
from biosim.rules.graph_layers import (
    ForwardForwardLabelAppending,
    ForwardForwardVirtualNodes,
    SingleForward,
    SingleForwardTop2Input,
    SingleForwardTop2Loss,
)
from biosim.runner import run_experiment

ROOT = Path(__file__).parents[1]


def small_graph():
    edges = torch.tensor([[0, 0, 1, 2], [1, 2, 2, 3]])
    return edges, GraphOps.build(edges, 5)  # node 4 is isolated


def dense_adjacency(edges, n):
    a = np.zeros((n, n))
    a[edges[0], edges[1]] = a[edges[1], edges[0]] = 1
    return a


def test_gcn_equals_the_dense_normalised_adjacency():
    edges, ops = small_graph()
    conv = GCNConv(3, 2)
    x = torch.randn(5, 3)
    a = dense_adjacency(edges.numpy(), 5) + np.eye(5)
    d = np.diag(a.sum(1) ** -0.5)
    expected = d @ a @ d @ conv.linear(x).detach().numpy() + conv.bias.detach().numpy()
    np.testing.assert_allclose(conv(x, ops).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_sage_mean_aggregates_neighbours():
    edges, ops = small_graph()
    conv = SAGEConv(3, 2)
    x = torch.randn(5, 3)
    a = dense_adjacency(edges.numpy(), 5)
    mean = a / np.maximum(a.sum(1, keepdims=True), 1)
    expected = conv.self_linear(x).detach().numpy() + mean @ conv.neighbour_linear(x).detach().numpy()
    np.testing.assert_allclose(conv(x, ops).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_gat_attends_over_neighbours_and_itself():
    edges, ops = small_graph()
    conv = GATConv(3, 8, heads=4)
    x = torch.randn(5, 3)
    out = conv(x, ops).detach()
    h = conv.linear(x).detach().view(5, 4, 2)
    np.testing.assert_allclose(out[4].numpy(), (h[4].reshape(-1) + conv.bias).detach().numpy(), rtol=1e-5)  # alone
    with torch.no_grad():
        conv.att_src.zero_()
        conv.att_dst.zero_()  # equal scores: a plain mean over {neighbours, self}
    a = dense_adjacency(edges.numpy(), 5) + np.eye(5)
    expected = (a / a.sum(1, keepdims=True)) @ conv.linear(x).detach().numpy() + conv.bias.detach().numpy()
    np.testing.assert_allclose(conv(x, ops).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_csbm_degree_homophily_and_heterophily():
    for phi, sign in ((0.5, 1), (-0.5, -1)):
        g = ContextualSBM(n=2000, phi=phi).load(np.random.default_rng(0))
        assert 2 * g.edges.shape[1] / 2000 == pytest.approx(5.0, rel=0.05)
        same = np.mean(g.y[g.edges[0]] == g.y[g.edges[1]])
        lam = np.sqrt(1 + 3.25) * np.sin(phi * np.pi / 2)
        assert same == pytest.approx((5 + np.sqrt(5) * lam) / 10, abs=0.03) and np.sign(same - 0.5) == sign
        assert len(g.train) == 1200 and len(g.test) == 800 and not set(g.train) & set(g.test)


@pytest.mark.parametrize("classes", [2, 3])
def test_csbm_edges_are_independent_pairs_with_the_block_probabilities(classes):
    """The dense reference's law: within- and across-class counts Binomial(pairs, c/n) (5 sd), each pair at most
    once, with i < j."""
    n, degree = 3000, 8.0
    model = ContextualSBM(n=n, classes=classes, degree=degree, phi=0.5)
    g = model.load(np.random.default_rng(2))
    i, j = g.edges
    assert (i < j).all() and np.unique(i * n + j).size == i.size
    sizes = np.bincount(g.y)
    lam = np.sqrt(1 + model.epsilon) * np.sin(model.phi * np.pi / 2)
    shift = 2 * np.sqrt(degree) * lam / classes
    c_in, c_out = degree + shift * (classes - 1), degree - shift
    within = np.sum(sizes * (sizes - 1) // 2)
    across = n * (n - 1) // 2 - within
    for pairs, c, observed in ((within, c_in, np.sum(g.y[i] == g.y[j])), (across, c_out, np.sum(g.y[i] != g.y[j]))):
        mean, sd = pairs * c / n, np.sqrt(pairs * c / n * (1 - c / n))
        assert abs(observed - mean) < 5 * sd


@pytest.mark.parametrize("m", [2, 3, 7, 200])
def test_triangle_positions_are_numpys_upper_triangle_order(m):
    r, s = _triangle_pair(np.arange(m * (m - 1) // 2), m)
    rows, cols = np.triu_indices(m, 1)
    assert np.array_equal(r, rows) and np.array_equal(s, cols)


def test_karate_club_protocol():
    g = KarateClub().load(np.random.default_rng(0))
    assert g.x.shape == (34, 34) and g.edges.shape == (2, 78) and g.train.tolist() == [0, 33]
    assert np.bincount(g.y).tolist() == [17, 17] and len(g.test) == 32


def test_graph_files(tmp_path):
    (tmp_path / "edges.txt").write_text("0 1\n1 2\n2 0\n3 4\n1 0\n")
    np.save(tmp_path / "x.npy", np.arange(10.0).reshape(5, 2))
    (tmp_path / "y.txt").write_text("0\n0\n1\n1\n1\n")
    g = GraphFiles(edges=tmp_path / "edges.txt", features=tmp_path / "x.npy", labels=tmp_path / "y.txt",
                   train_fraction=0.4).load(np.random.default_rng(0))
    assert g.edges.shape == (2, 4) and g.x.shape == (5, 2) and len(g.train) == 2 and len(g.test) == 3
    with pytest.raises(ValueError, match="does not exist"):
        GraphFiles(edges=tmp_path / "nope.txt", features=tmp_path / "x.npy", labels=tmp_path / "y.txt")


@pytest.mark.parametrize("rule", [SingleForward(), ForwardForwardLabelAppending(), ForwardForwardVirtualNodes(),
                                  SingleForwardTop2Loss(), SingleForwardTop2Input()],
                         ids=["sf", "ff-la", "ff-vn", "top2loss", "top2input"])
def test_predictions_do_not_depend_on_test_labels(rule):
    """No leakage through virtual class nodes or appended labels: only training labels enter the model."""
    graph = ContextualSBM(n=300, phi=0.5).load(np.random.default_rng(1))
    exp = GraphLocalExperiment(name="t", epochs=30)
    done = fit(rule, exp, graph)
    before = done.net.scores(done.graph, 1)
    permuted = type(graph)(graph.x, graph.edges, graph.y.copy(), graph.train, graph.val, graph.test)
    permuted.y[graph.test] = np.random.default_rng(2).permutation(graph.y[graph.test])
    again = fit(rule, exp, permuted)
    assert torch.equal(again.net.scores(again.graph, 1), before)


def test_label_appending_learns_on_the_karate_club(tmp_path):
    run_dir = run_experiment(ROOT / "experiments" / "sf_karate.yaml", ["variant=ff_label_appending", "epochs=100"],
                             out=tmp_path)
    assert json.loads((run_dir / "metrics.json").read_text())["test_accuracy"] >= 0.75


def test_layers_are_trained_one_at_a_time():
    graph = ContextualSBM(n=200).load(np.random.default_rng(3))
    net = SingleForward().implementation("torch", conv="gcn", widths=[16, 16], n_features=graph.x.shape[1], n_classes=2)
    from biosim.networks.graph_local.family import to_torch

    tg = to_torch(graph, True, "cpu")
    net.prepare(tg)
    loss = net.unit_loss(0, tg)
    grads = torch.autograd.grad(loss, list(net.parameters()), allow_unused=True)
    trained = [name for (name, _), g in zip(net.named_parameters(), grads, strict=True) if g is not None]
    assert trained and all(name.startswith("convs.0.") for name in trained)


def test_karate_from_yaml_learns(tmp_path):
    run_dir = run_experiment(ROOT / "experiments" / "sf_karate.yaml", ["epochs=100"], out=tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.75 and metrics["train_nodes"] == 2
    assert (run_dir / "learning_curves.png").exists() and (run_dir / "embeddings.png").exists()


def test_edge_split_is_disjoint_and_negatives_are_non_edges():
    from biosim.networks.graph_local.family import split_edges

    g = ContextualSBM(n=300).load(np.random.default_rng(4))
    split = split_edges(g.edges, 300, 0.16, 0.2, np.random.default_rng(5))
    positives = [set(map(tuple, split[f"{k}_pos"].T.tolist())) for k in ("train", "val", "test")]
    assert sum(map(len, positives)) == g.edges.shape[1] and not (positives[0] & positives[1] | positives[0] &
                                                                 positives[2] | positives[1] & positives[2])
    edges = set(map(tuple, g.edges.T.tolist()))
    all_negatives = np.concatenate([split[f"{k}_neg"] for k in ("train", "val", "test")], axis=1)
    assert len(set(map(tuple, all_negatives.T.tolist()))) == g.edges.shape[1]  # distinct across the splits
    for k in ("train", "val", "test"):
        negatives = set(map(tuple, split[f"{k}_neg"].T.tolist()))
        assert len(negatives) == split[f"{k}_pos"].shape[1] and not negatives & edges
        assert all(i < j for i, j in negatives)


def test_negative_edges_are_a_uniform_sample_of_the_non_edges_in_random_order():
    """The definition: as many non-edges as edges, drawn uniformly without replacement. On a 6-node graph
    with 4 edges (11 non-edges), over 3000 seeds each non-edge is drawn with probability 4/11, and is the
    first negative with probability 1/11 (within 4.5 standard deviations); with as many edges as non-edges
    (a dense graph) every non-edge is drawn."""
    from biosim.networks.graph_local.family import split_edges

    n, edges = 6, np.array([[0, 0, 1, 2], [1, 2, 3, 5]])
    existing = set(zip(*edges.tolist(), strict=True))
    non_edges = [(i, j) for i in range(n) for j in range(i + 1, n) if (i, j) not in existing]
    index = {pair: k for k, pair in enumerate(non_edges)}
    trials, drawn, first = 3000, np.zeros(len(non_edges)), np.zeros(len(non_edges))
    for seed in range(trials):
        split = split_edges(edges, n, 0.25, 0.25, np.random.default_rng(seed))
        negatives = np.concatenate([split[f"{k}_neg"] for k in ("test", "val", "train")], axis=1).T.tolist()
        drawn[[index[tuple(p)] for p in negatives]] += 1
        first[index[tuple(negatives[0])]] += 1
    for counts, p in ((drawn, 4 / 11), (first, 1 / 11)):
        assert np.abs(counts - trials * p).max() < 4.5 * np.sqrt(trials * p * (1 - p))
    dense = np.array([(i, j) for i in range(5) for j in range(i + 1, 5)][:5]).T  # 5 edges, 5 non-edges
    split = split_edges(dense, 5, 0.2, 0.2, np.random.default_rng(0))
    negatives = np.concatenate([split[f"{k}_neg"] for k in ("train", "val", "test")], axis=1)
    assert sorted(map(tuple, negatives.T.tolist())) == [(i, j) for i in range(5) for j in range(i + 1, 5)][5:]
    with pytest.raises(ValueError, match="too dense"):
        split_edges(np.array([(i, j) for i in range(5) for j in range(i + 1, 5)][:6]).T, 5, 0.2, 0.2,
                    np.random.default_rng(0))


@pytest.mark.parametrize("name", ["link_ff_karate", "link_topdown_karate"])
def test_link_prediction_on_the_karate_club(tmp_path, name):
    from biosim.torch.results import TrainingResults

    run_dir = run_experiment(ROOT / "experiments" / f"{name}.yaml", ["epochs=100"], out=tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test_roc_auc"] > 0.7 and metrics["edges"]["test_pos"] == 16
    results = TrainingResults.load(run_dir)  # the score is named: ROC-AUC, never under accuracy keys
    assert results.score == "roc_auc" and results.score_label == "ROC-AUC"
    assert {"train_roc_auc", "val_roc_auc", "test_roc_auc"} <= set(results.history[-1])
    assert not any(key.endswith("accuracy") for record in results.history for key in record)


def test_rule_of_the_wrong_task_is_refused():
    from biosim import registry
    from biosim.config import load_experiment
    from biosim.errors import ConfigError

    exp, source = load_experiment(ROOT / "experiments" / "link_ff_karate.yaml", ["rule=single_forward"])
    with pytest.raises(ConfigError, match="rule 'single_forward' is for task 'node', not 'link'; allowed here: "
                                          "backprop_link, forward_forward_link, single_forward_link, top_down_link"):
        registry.get("family", exp.family)().prepare(exp, source)


def test_top2loss_layer_embeddings_reach_only_their_own_layer():
    from biosim.networks.graph_local.family import to_torch

    graph = ContextualSBM(n=200).load(np.random.default_rng(6))
    net = SingleForwardTop2Loss().implementation("torch", conv="gcn", widths=[16, 16, 16],
                                                 n_features=graph.x.shape[1], n_classes=2)
    tg = to_torch(graph, True, "cpu")
    net.prepare(tg)
    net.unit_loss(0, tg)  # a first step sets the states the next step mixes in
    _, mixed = net._step(net._states)
    params = list(net.named_parameters())
    for j, embedding in enumerate(mixed):
        grads = torch.autograd.grad(embedding.sum(), [p for _, p in params], allow_unused=True, retain_graph=True)
        reached = {name.split(".")[1] for (name, _), g in zip(params, grads, strict=True) if g is not None}
        assert reached == {str(j)}


def test_same_seed_bit_identical_and_torch_global_generator_untouched(tmp_path):
    """Graph runs draw their split, edge split, initial parameters and virtual class nodes from the run's
    own streams: the same seed gives the same run, and torch's global generator is never touched."""
    torch.manual_seed(123)
    state = torch.random.get_rng_state()

    def metrics(*overrides):
        run_dir = run_experiment(ROOT / "experiments" / "link_ff_karate.yaml", ["epochs=20", *overrides],
                                 out=tmp_path)
        return json.loads((run_dir / "metrics.json").read_text())

    first = metrics()
    assert torch.equal(torch.random.get_rng_state(), state)
    second, other = metrics(), metrics("seed=2")
    assert first["test_roc_auc"] == second["test_roc_auc"] and first["edges"] == second["edges"]
    assert first["test_roc_auc"] != other["test_roc_auc"]


def test_two_graph_runs_in_two_threads_each_equal_the_run_alone(tmp_path):
    from test_layer_local import comparable, concurrent  # tests/ is on the path (pytest's default import mode)

    alone, together = concurrent(tmp_path, {"vn": ("ff_vn_karate", ["epochs=30"]),
                                            "link": ("link_ff_karate", ["epochs=30"]),
                                            "gat": ("sf_csbm", ["epochs=10", "variant=gat", "data.n=200"])})
    for name in alone:
        assert comparable(together[name]) == comparable(alone[name]), name


def test_the_family_takes_the_trainer_hooks_from_the_net(tmp_path, monkeypatch):
    from biosim.networks.graph_local.nets import SingleForwardNet
    from biosim.torch.trainer import Hooks

    ends = []
    monkeypatch.setattr(SingleForwardNet, "hooks", lambda self: Hooks(end_stage=lambda k: (ends.append(k),
                                                                                           self.freeze(k))))
    run_experiment(ROOT / "experiments" / "sf_karate.yaml", ["epochs=2"], out=tmp_path)
    assert ends == [0, 1, 2]  # one stage per layer of sf_karate's 3 x 64


@pytest.mark.parametrize(("file", "overrides", "key", "message"), [
    ("sf_karate", ["patience=5"], "patience", "early stopping (patience) needs validation nodes"),
    ("link_ff_karate", ["link_val=0.001"], "link_val", "needs validation edges: link_val 0.001 of 78 edges"),
    ("link_ff_karate", ["link_val=0.5", "link_test=0.5"], "link_test", "leave no training edges"),
    ("sf_csbm", ["variant=gat", "hidden=[64, 30]"], "hidden", "multiples of its 4 heads; got 30"),
])
def test_what_cannot_run_is_refused_in_prepare(file, overrides, key, message):
    from biosim import registry
    from biosim.config import load_experiment
    from biosim.errors import ConfigError

    exp, source = load_experiment(ROOT / "experiments" / f"{file}.yaml", overrides)
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        registry.get("family", exp.family)().prepare(exp, source)
    assert info.value.key == key
