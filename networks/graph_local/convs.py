"""Graph convolutions on torch sparse tensors (no PyTorch Geometric): GCN (Kipf & Welling 2017),
GraphSAGE with mean aggregation (Hamilton et al. 2017) and GAT (Velickovic et al. 2018, 4 heads)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class GraphOps:
    """A graph's message-passing operators, built once: ``src -> dst`` directed edges (both directions
    of every undirected edge), the symmetric-normalised adjacency with self loops (GCN) and the
    row-normalised adjacency without them (mean aggregation)."""

    n: int
    src: torch.Tensor
    dst: torch.Tensor
    gcn: torch.Tensor
    mean: torch.Tensor

    @classmethod
    def build(cls, edges: torch.Tensor, n: int) -> GraphOps:
        """``edges``: 2 x E undirected pairs (each once)."""
        src = torch.cat([edges[0], edges[1]])
        dst = torch.cat([edges[1], edges[0]])
        loops = torch.arange(n, device=edges.device)
        s, d = torch.cat([src, loops]), torch.cat([dst, loops])
        degree = torch.zeros(n, device=edges.device).index_add_(0, d, torch.ones_like(d, dtype=torch.float32))
        norm = degree[s].rsqrt() * degree[d].rsqrt()
        gcn = torch.sparse_coo_tensor(torch.stack([d, s]), norm, (n, n), check_invariants=True).coalesce()
        in_degree = torch.zeros(n, device=edges.device).index_add_(0, dst, torch.ones_like(dst, dtype=torch.float32))
        mean = torch.sparse_coo_tensor(torch.stack([dst, src]), 1.0 / in_degree[dst].clamp(min=1), (n, n),
                                       check_invariants=True).coalesce()
        return cls(n, src, dst, gcn, mean)


class GCNConv(nn.Module):
    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.linear = nn.Linear(n_in, n_out, bias=False)
        self.bias = nn.Parameter(torch.zeros(n_out))

    def initialise_from(self, generator: torch.Generator | None) -> None:
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor, ops: GraphOps) -> torch.Tensor:
        return torch.sparse.mm(ops.gcn, self.linear(x)) + self.bias


class SAGEConv(nn.Module):
    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.self_linear, self.neighbour_linear = nn.Linear(n_in, n_out), nn.Linear(n_in, n_out, bias=False)

    def forward(self, x: torch.Tensor, ops: GraphOps) -> torch.Tensor:
        return self.self_linear(x) + self.neighbour_linear(torch.sparse.mm(ops.mean, x))


class GATConv(nn.Module):
    """Multi-head attention over each node's in-neighbours and itself; heads concatenated."""

    def __init__(self, n_in: int, n_out: int, heads: int = 4):
        super().__init__()
        if n_out % heads:
            from biosim.torch.common import BuildError

            raise BuildError(f"GAT layer widths must be multiples of its {heads} heads; got {n_out}", ("hidden",))
        self.heads, self.width = heads, n_out // heads
        self.linear = nn.Linear(n_in, n_out, bias=False)
        self.att_src, self.att_dst = (nn.Parameter(torch.empty(heads, self.width)) for _ in range(2))
        self.bias = nn.Parameter(torch.empty(n_out))
        self.initialise_from(None)

    def initialise_from(self, generator: torch.Generator | None) -> None:
        """Xavier-uniform attention vectors, zero bias."""
        nn.init.xavier_uniform_(self.att_src, generator=generator)
        nn.init.xavier_uniform_(self.att_dst, generator=generator)
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor, ops: GraphOps) -> torch.Tensor:
        h = self.linear(x).view(-1, self.heads, self.width)
        loops = torch.arange(ops.n, device=x.device)
        src, dst = torch.cat([ops.src, loops]), torch.cat([ops.dst, loops])
        score = F.leaky_relu((h[src] * self.att_src).sum(-1) + (h[dst] * self.att_dst).sum(-1), 0.2)  # E x heads
        top = torch.full((ops.n, self.heads), -torch.inf, device=x.device)
        top = top.scatter_reduce(0, dst[:, None].expand_as(score), score, reduce="amax")
        weight = torch.exp(score - top[dst])
        total = torch.zeros(ops.n, self.heads, device=x.device).index_add_(0, dst, weight)
        alpha = weight / total[dst]
        out = torch.zeros_like(h).index_add_(0, dst, alpha[..., None] * h[src])
        return out.reshape(ops.n, -1) + self.bias


CONVOLUTIONS = {"gcn": GCNConv, "sage": SAGEConv, "gat": GATConv}
