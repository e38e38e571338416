"""PyTorch networks of the graph rules (``rules/forward_gnn.py``). A graph net exposes one parameter group
per trained unit and ``unit_loss(k, graph)`` / ``scores(graph, upto)``; the family's trainer does the rest."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from biosim.networks.gnn import CONVOLUTIONS, GraphOps


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


class SingleForwardNet(nn.Module):
    """Virtual class nodes (fixed random features) + one convolution per layer, trained greedily."""

    def __init__(self, conv: str, widths: list[int], n_features: int, n_classes: int):
        super().__init__()
        self.n_classes = n_classes
        self.register_buffer("virtual", torch.randn(n_classes, n_features))
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


class BackpropGraphNet(nn.Module):
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

    def freeze(self, k: int) -> None:
        pass

    def scores(self, graph: TorchGraph, upto: int) -> torch.Tensor:
        with torch.no_grad():
            return torch.softmax(self.readout(self.hidden(graph)[-1]), dim=1)
