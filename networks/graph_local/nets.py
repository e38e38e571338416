"""PyTorch networks of the graph rules (``rules/graph_layers.py``). A graph net exposes one parameter group
per trained unit and ``unit_loss(k, graph)`` / ``scores(graph, upto)``, and the trainer hooks it needs
(``hooks()``: a unit is frozen at the end of its stage); the family's trainer does the rest. Fixed random
features (virtual class nodes) are drawn in ``initialise_from(generator)``, with the parameters."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from biosim.networks.graph_local.convs import CONVOLUTIONS, GraphOps
from biosim.torch.trainer import Hooks


@dataclass
class TorchGraph:
    """A graph on a device: features, labels, node splits, and message-passing operators."""

    x: torch.Tensor
    y: torch.Tensor
    train: torch.Tensor
    edges: torch.Tensor  # 2 x E undirected
    use_edges: bool = True


def rownorm(h: torch.Tensor) -> torch.Tensor:
    return h / h.norm(dim=1, keepdim=True).clamp(min=1e-12)


class GraphNet(nn.Module):
    """The base of the graph nets: units trained in turn, each frozen when its stage ends."""

    def freeze(self, k: int) -> None:
        """Unit ``k`` is done (nothing to do for nets whose one unit is the whole stack)."""

    def hooks(self) -> Hooks:
        return Hooks(end_stage=self.freeze)


class VirtualNodes:
    """A mixin for nets with C virtual class nodes: fixed standard-normal features (``virtual``, C x features)."""

    virtual: torch.Tensor

    def initialise_from(self, generator: torch.Generator | None) -> None:
        """Draw the class nodes' features (None: from torch's global generator, for a net built on its own)."""
        with torch.no_grad():
            self.virtual.normal_(generator=generator)


class SingleForwardNet(VirtualNodes, GraphNet):
    """Virtual class nodes (fixed random features) + one convolution per layer, trained greedily."""

    def __init__(self, conv: str, widths: list[int], n_features: int, n_classes: int):
        super().__init__()
        self.n_classes = n_classes
        self.register_buffer("virtual", torch.empty(n_classes, n_features))
        self.initialise_from(None)
        sizes = [n_features, *widths]
        self.convs = nn.ModuleList(CONVOLUTIONS[conv](a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self._ops: GraphOps | None = None
        self._inputs: list[torch.Tensor] = []

    def units(self) -> list[list[nn.Parameter]]:
        return [list(conv.parameters()) for conv in self.convs]

    def prepare(self, graph: TorchGraph) -> None:
        """Augment the graph with the class nodes: training node i <-> class node n + y_i (labels of
        training nodes only: no other label can reach the model)."""
        n = len(graph.x)
        virtual_edges = torch.stack([graph.train, n + graph.y[graph.train]])
        edges = torch.cat([graph.edges, virtual_edges], dim=1) if graph.use_edges else virtual_edges
        self._ops = GraphOps.build(edges, n + self.n_classes)
        self._inputs = [torch.cat([graph.x, self.virtual])]

    def embed(self, k: int) -> torch.Tensor:
        """Layer k's output from its detached, row-normalised input."""
        return F.relu(self.convs[k](rownorm(self._inputs[k]).detach(), self._ops))

    def unit_loss(self, k: int, graph: TorchGraph) -> torch.Tensor:
        e = self.embed(k)
        n = len(graph.x)
        logits = e[graph.train] @ e[n:].T
        return F.cross_entropy(logits, graph.y[graph.train])

    def freeze(self, k: int) -> None:
        """Layer k is done: its output becomes layer k+1's input."""
        with torch.no_grad():
            out = self.embed(k)
        self._inputs = self._inputs[:k + 1] + [out]

    def scores(self, graph: TorchGraph, upto: int) -> torch.Tensor:
        """Sum over layers 0..upto of the softmax over class-node dot products (nodes x classes)."""
        n, total = len(graph.x), 0
        with torch.no_grad():
            h = self._inputs[0]
            for k in range(upto + 1):
                e = F.relu(self.convs[k](rownorm(h), self._ops))
                total = total + torch.softmax(e[:n] @ e[n:].T, dim=1)
                h = e
        return total

    def hidden(self, graph: TorchGraph) -> list[torch.Tensor]:
        n, out = len(graph.x), []
        with torch.no_grad():
            h = self._inputs[0]
            for conv in self.convs:
                h = F.relu(conv(rownorm(h), self._ops))
                out.append(h[:n])
        return out


class BackpropGraphNet(GraphNet):
    def __init__(self, conv: str, widths: list[int], n_features: int, n_classes: int):
        super().__init__()
        sizes = [n_features, *widths]
        self.convs = nn.ModuleList(CONVOLUTIONS[conv](a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.readout = nn.Linear(sizes[-1], n_classes)
        self._ops: GraphOps | None = None
        self._x: torch.Tensor | None = None

    def units(self):
        return [list(self.parameters())]

    def prepare(self, graph: TorchGraph) -> None:
        n = len(graph.x)
        edges = graph.edges if graph.use_edges else graph.edges[:, :0]
        self._ops, self._x = GraphOps.build(edges, n), graph.x

    def hidden(self, graph: TorchGraph) -> list[torch.Tensor]:
        h, out = self._x, []
        for conv in self.convs:
            h = F.relu(conv(h, self._ops))
            out.append(h)
        return out

    def unit_loss(self, k: int, graph: TorchGraph) -> torch.Tensor:
        logits = self.readout(self.hidden(graph)[-1])
        return F.cross_entropy(logits[graph.train], graph.y[graph.train])

    def scores(self, graph: TorchGraph, upto: int) -> torch.Tensor:
        with torch.no_grad():
            return torch.softmax(self.readout(self.hidden(graph)[-1]), dim=1)


class LinkNet(GraphNet):
    """Per-layer (greedy) or end-to-end link prediction from edge features z_u * z_v."""

    def __init__(self, rule, conv: str, widths: list[int], n_features: int):
        super().__init__()
        self.rule = rule
        sizes = [n_features, *widths]
        self.convs = nn.ModuleList(CONVOLUTIONS[conv](a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self._ops: GraphOps | None = None
        self._inputs: list[torch.Tensor] = []
        self.positive = self.negative = None

    def units(self):
        return [list(conv.parameters()) for conv in self.convs] if self.rule.greedy else [list(self.parameters())]

    def prepare(self, graph: TorchGraph, positive: torch.Tensor, negative: torch.Tensor) -> None:
        """Message passing over the training edges; supervision by ``positive`` and ``negative`` pairs."""
        self._ops = GraphOps.build(graph.edges, len(graph.x))
        self._inputs = [graph.x]
        self.positive, self.negative = positive, negative

    def _layer(self, k: int, h: torch.Tensor) -> torch.Tensor:
        return F.relu(self.convs[k](rownorm(h) if self.rule.greedy else h, self._ops))

    def _edge_score(self, z: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
        o = z[pairs[0]] * z[pairs[1]]
        return o.pow(2).sum(dim=1) - self.rule.theta if self.rule.score == "goodness" else o.sum(dim=1)

    def unit_loss(self, k: int, graph: TorchGraph) -> torch.Tensor:
        if self.rule.greedy:
            z = self._layer(k, self._inputs[k].detach())
        else:
            z = self.embeddings(upto=len(self.convs) - 1, grad=True)[-1]
        logits = torch.cat([self._edge_score(z, self.positive), self._edge_score(z, self.negative)])
        target = torch.cat([torch.ones(self.positive.shape[1]), torch.zeros(self.negative.shape[1])]).to(logits)
        return F.binary_cross_entropy_with_logits(logits, target)

    def freeze(self, k: int) -> None:
        if self.rule.greedy:
            with torch.no_grad():
                self._inputs = self._inputs[:k + 1] + [self._layer(k, self._inputs[k])]

    def embeddings(self, upto: int, grad: bool = False) -> list[torch.Tensor]:
        with torch.set_grad_enabled(grad):
            h, out = self._inputs[0], []
            for k in range(upto + 1):
                h = self._layer(k, h)
                out.append(h)
        return out

    def edge_probability(self, pairs: torch.Tensor, upto: int) -> torch.Tensor:
        """Mean over layers 0..upto of sigmoid(edge score) (the last layer only for backprop)."""
        zs = self.embeddings(upto)
        used = zs if self.rule.greedy else zs[-1:]
        with torch.no_grad():
            return torch.stack([torch.sigmoid(self._edge_score(z, pairs)) for z in used]).mean(dim=0)

    def hidden(self, graph: TorchGraph) -> list[torch.Tensor]:
        return self.embeddings(len(self.convs) - 1)


class LabelTrialNet(GraphNet):
    """Forward-forward on graphs with labels in the input: one forward pass per label assignment (positive:
    true training labels; negatives: every wrong one), per-layer BCE on the goodness sum(h^2) - theta of the
    training nodes, greedy; prediction tries every class on the unlabelled nodes and accumulates
    mean(h^2) - theta over layers. Subclasses say how a label assignment enters the graph."""

    def __init__(self, rule, conv: str, widths: list[int], n_in: int, n_classes: int):
        super().__init__()
        self.rule, self.n_classes = rule, n_classes
        sizes = [n_in, *widths]
        self.convs = nn.ModuleList(CONVOLUTIONS[conv](a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self._states: dict[int, tuple[torch.Tensor, GraphOps]] = {}  # label shift r (0: positive) -> (h, ops)

    def units(self):
        return [list(conv.parameters()) for conv in self.convs]

    def assignment(self, graph: TorchGraph, train_labels: torch.Tensor, others: int | None
                   ) -> tuple[torch.Tensor, GraphOps]:
        """(input, operators) with ``train_labels`` on training nodes and class ``others`` (None: no label)
        on the other nodes."""
        raise NotImplementedError

    def prepare(self, graph: TorchGraph) -> None:
        y = graph.y[graph.train]
        self._states = {r: self.assignment(graph, (y + r) % self.n_classes, None) for r in range(self.n_classes)}

    def _layer(self, k: int, h: torch.Tensor, ops: GraphOps) -> torch.Tensor:
        return F.relu(self.convs[k](rownorm(h).detach(), ops))

    def unit_loss(self, k: int, graph: TorchGraph) -> torch.Tensor:
        goodness = {r: self._layer(k, h, ops)[graph.train].pow(2).sum(dim=1) - self.rule.theta
                    for r, (h, ops) in self._states.items()}
        positive = F.binary_cross_entropy_with_logits(goodness[0], torch.ones_like(goodness[0]))
        negative = torch.stack([F.binary_cross_entropy_with_logits(g, torch.zeros_like(g))
                                for r, g in goodness.items() if r]).mean()
        return positive + negative

    def freeze(self, k: int) -> None:
        with torch.no_grad():
            self._states = {r: (self._layer(k, h, ops), ops) for r, (h, ops) in self._states.items()}

    def scores(self, graph: TorchGraph, upto: int) -> torch.Tensor:
        n, out = len(graph.x), []
        with torch.no_grad():
            for c in range(self.n_classes):
                (h, ops), total = self.assignment(graph, graph.y[graph.train], c), 0
                for k in range(upto + 1):
                    h = self._layer(k, h, ops)
                    total = total + h[:n].pow(2).mean(dim=1) - self.rule.theta
                out.append(total)
        return torch.stack(out, dim=1)

    def hidden(self, graph: TorchGraph) -> list[torch.Tensor]:
        n, out = len(graph.x), []
        with torch.no_grad():
            h, ops = self.assignment(graph, graph.y[graph.train], None)
            for k in range(len(self.convs)):
                h = self._layer(k, h, ops)
                out.append(h[:n])
        return out


class LabelAppendingNet(LabelTrialNet):
    """FF + LA: [x, label vector]; uniform 1/C on nodes without a label."""

    def __init__(self, rule, conv: str, widths: list[int], n_features: int, n_classes: int):
        super().__init__(rule, conv, widths, n_features + n_classes, n_classes)
        self._ops: GraphOps | None = None

    def assignment(self, graph, train_labels, others):
        n = len(graph.x)
        if self._ops is None:
            self._ops = GraphOps.build(graph.edges if graph.use_edges else graph.edges[:, :0], n)
        vectors = torch.full((n, self.n_classes), 1.0 / self.n_classes, device=graph.x.device)
        if others is not None:
            vectors = F.one_hot(torch.full((n,), others, device=graph.x.device), self.n_classes).float()
        vectors[graph.train] = F.one_hot(train_labels, self.n_classes).float()
        return torch.cat([graph.x, vectors], dim=1), self._ops


class VirtualNodeNet(VirtualNodes, LabelTrialNet):
    """FF + VN: C class nodes with fixed random features; a node with a label is joined to its class node."""

    def __init__(self, rule, conv: str, widths: list[int], n_features: int, n_classes: int):
        super().__init__(rule, conv, widths, n_features, n_classes)
        self.register_buffer("virtual", torch.empty(n_classes, n_features))
        self.initialise_from(None)

    def assignment(self, graph, train_labels, others):
        n = len(graph.x)
        edges = graph.edges if graph.use_edges else graph.edges[:, :0]
        links = [torch.stack([graph.train, n + train_labels])]
        if others is not None:
            rest = torch.ones(n, dtype=torch.bool, device=graph.x.device)
            rest[graph.train] = False
            nodes = torch.nonzero(rest).squeeze(1)
            links.append(torch.stack([nodes, torch.full_like(nodes, n + others)]))
        ops = GraphOps.build(torch.cat([edges, *links], dim=1), n + self.n_classes)
        return torch.cat([graph.x, self.virtual]), ops


class Top2LossNet(SingleForwardNet):
    """SF with top-down context in the loss; the previous step's layer outputs are kept as states."""

    def __init__(self, rule, conv: str, widths: list[int], n_features: int, n_classes: int):
        super().__init__(conv, widths, n_features, n_classes)
        self.rule = rule
        self._states: list[torch.Tensor] | None = None

    def units(self):
        return [list(self.parameters())]

    def _step(self, states: list[torch.Tensor] | None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """One bottom-up pass: (new outputs, loss embeddings = mean of own output and the detached previous
        states of the layers above)."""
        outputs, h = [], self._inputs[0]
        for conv in self.convs:
            h = F.relu(conv(rownorm(h).detach(), self._ops))
            outputs.append(h)
        if states is None:
            return outputs, outputs
        mixed = [torch.stack([out] + [s.detach() for s in states[j + 1:]]).mean(dim=0)
                 for j, out in enumerate(outputs)]
        return outputs, mixed

    def unit_loss(self, k: int, graph: TorchGraph) -> torch.Tensor:
        n = len(graph.x)
        outputs, mixed = self._step(self._states)
        self._states = [o.detach() for o in outputs]
        return sum(F.cross_entropy(e[graph.train] @ e[n:].T, graph.y[graph.train]) for e in mixed)

    def freeze(self, k: int) -> None:
        pass

    def scores(self, graph: TorchGraph, upto: int) -> torch.Tensor:
        n, total, states = len(graph.x), 0, None
        with torch.no_grad():
            for step in range(self.rule.test_steps):
                outputs, mixed = self._step(states)
                states = outputs
                if step >= 2:  # ForwardGNN scores steps 2 .. test_steps - 1
                    total = total + sum(torch.softmax(e[:n] @ e[n:].T, dim=1) for e in mixed)
        return total


class Top2InputNet(SingleForwardNet):
    """SF with top-down input: layer j sees [rownorm(state_{j-1}), rownorm(state_{j+1})]; the state above
    the top layer is the label (one-hot on training and class nodes, uniform elsewhere). Even and odd
    layers are updated alternately; all layers train together."""

    def __init__(self, rule, conv: str, widths: list[int], n_features: int, n_classes: int):
        nn.Module.__init__(self)
        self.rule, self.n_classes = rule, n_classes
        self.register_buffer("virtual", torch.empty(n_classes, n_features))
        self.initialise_from(None)
        below = [n_features, *widths[:-1]]
        above = [*widths[1:], n_classes]
        self.convs = nn.ModuleList(CONVOLUTIONS[conv](a + b, w) for a, b, w in zip(below, above, widths, strict=True))
        self.widths = widths
        self._ops: GraphOps | None = None
        self._inputs: list[torch.Tensor] = []
        self._top: torch.Tensor | None = None
        self._states: list[torch.Tensor] | None = None

    def units(self):
        return [list(self.parameters())]

    def prepare(self, graph: TorchGraph) -> None:
        super().prepare(graph)
        n = len(graph.x)
        top = torch.full((n + self.n_classes, self.n_classes), 1.0 / self.n_classes, device=graph.x.device)
        top[graph.train] = F.one_hot(graph.y[graph.train], self.n_classes).float()
        top[n:] = torch.eye(self.n_classes, device=graph.x.device)
        self._top = top

    def _initial(self) -> list[torch.Tensor]:
        rows = len(self._inputs[0])
        return [self._inputs[0], *(torch.zeros(rows, w, device=self._top.device) for w in self.widths), self._top]

    def _sweep(self, states: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Update even then odd layers (states[1..L]); returns (new states, the new layer outputs)."""
        states, outputs = list(states), [None] * len(self.convs)
        for parity in (0, 1):
            for j in range(parity, len(self.convs), 2):
                u = torch.cat([rownorm(states[j]), rownorm(states[j + 2])], dim=1).detach()
                outputs[j] = F.relu(self.convs[j](u, self._ops))
                states[j + 1] = outputs[j].detach()
        return states, outputs

    def unit_loss(self, k: int, graph: TorchGraph) -> torch.Tensor:
        n = len(graph.x)
        self._states, outputs = self._sweep(self._states or self._initial())
        return sum(F.cross_entropy(e[graph.train] @ e[n:].T, graph.y[graph.train]) for e in outputs)

    def freeze(self, k: int) -> None:
        pass

    def scores(self, graph: TorchGraph, upto: int) -> torch.Tensor:
        n, total, states = len(graph.x), 0, self._initial()
        with torch.no_grad():
            for step in range(self.rule.test_steps):
                states, outputs = self._sweep(states)
                if step >= 2:
                    total = total + sum(torch.softmax(e[:n] @ e[n:].T, dim=1) for e in outputs)
        return total

    def hidden(self, graph: TorchGraph) -> list[torch.Tensor]:
        n, states = len(graph.x), self._initial()
        with torch.no_grad():
            for _ in range(self.rule.test_steps):
                states, _ = self._sweep(states)
        return [h[:n] for h in states[1:-1]]


class LinkTop2InputNet(LinkNet):
    """TopDown link prediction: Top2Input layers (each reads the states below and above it; nothing above
    the top layer), even and odd layers updated alternately, every layer trained on the dot-product BCE
    of its own output; edge probability averaged over layers and over steps 2 .. test_steps - 1."""

    def __init__(self, rule, conv: str, widths: list[int], n_features: int):
        nn.Module.__init__(self)
        self.rule, self.widths = rule, widths
        below = [n_features, *widths[:-1]]
        above = [*widths[1:], 0]
        self.convs = nn.ModuleList(CONVOLUTIONS[conv](a + b, w) for a, b, w in zip(below, above, widths, strict=True))
        self._ops: GraphOps | None = None
        self._inputs: list[torch.Tensor] = []
        self._states: list[torch.Tensor] | None = None
        self.positive = self.negative = None

    def units(self):
        return [list(self.parameters())]

    def _initial(self) -> list[torch.Tensor]:
        x = self._inputs[0]
        return [x, *(torch.zeros(len(x), w, device=x.device) for w in self.widths)]

    def _sweep(self, states):
        states, outputs = list(states), [None] * len(self.convs)
        for parity in (0, 1):
            for j in range(parity, len(self.convs), 2):
                parts = [rownorm(states[j])] + ([rownorm(states[j + 2])] if j + 2 < len(states) else [])
                outputs[j] = F.relu(self.convs[j](torch.cat(parts, dim=1).detach(), self._ops))
                states[j + 1] = outputs[j].detach()
        return states, outputs

    def _dot(self, z: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
        return (z[pairs[0]] * z[pairs[1]]).sum(dim=1)

    def unit_loss(self, k: int, graph: TorchGraph) -> torch.Tensor:
        self._states, outputs = self._sweep(self._states or self._initial())
        target = torch.cat([torch.ones(self.positive.shape[1]), torch.zeros(self.negative.shape[1])])
        return sum(F.binary_cross_entropy_with_logits(
            torch.cat([self._dot(z, self.positive), self._dot(z, self.negative)]), target.to(z)) for z in outputs)

    def freeze(self, k: int) -> None:
        pass

    def _runs(self) -> list[list[torch.Tensor]]:
        states, kept = self._initial(), []
        with torch.no_grad():
            for step in range(self.rule.test_steps):
                states, outputs = self._sweep(states)
                if step >= 2:
                    kept.append(outputs)
        return kept

    def edge_probability(self, pairs: torch.Tensor, upto: int) -> torch.Tensor:
        with torch.no_grad():
            return torch.stack([torch.sigmoid(self._dot(z, pairs)) for outputs in self._runs()
                                for z in outputs]).mean(dim=0)

    def hidden(self, graph) -> list[torch.Tensor]:
        return self._runs()[-1]
