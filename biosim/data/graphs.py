"""Node-classification graphs from local sources: networkx's karate club, a contextual stochastic block
model generator (Deshpande et al. 2018), and an edge-list + feature (+ label) file pair. Splits are
seeded; nothing is downloaded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import Field, field_validator

from biosim.params import DataPath, Params
from biosim.registry import register


@dataclass
class Graph:
    """Node features (n x f), undirected edges (2 x E, each pair once), labels and a node split."""

    x: np.ndarray
    edges: np.ndarray
    y: np.ndarray
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    @property
    def n_classes(self) -> int:
        return int(self.y.max()) + 1


class GraphData(Params):
    kind: ClassVar[str] = "graph"
    train_fraction: float = Field(0.6, gt=0, lt=1, description="labelled training nodes")
    val_fraction: float = Field(0.0, ge=0, lt=1, description="validation nodes (early stopping)")

    def load(self, rng: np.random.Generator) -> Graph:
        raise NotImplementedError

    def _split(self, x, edges, y, rng) -> Graph:
        order = rng.permutation(len(y))
        n_train, n_val = int(round(self.train_fraction * len(y))), int(round(self.val_fraction * len(y)))
        if n_train + n_val >= len(y) or n_train == 0:
            raise ValueError(f"train_fraction = {self.train_fraction:g} and val_fraction = {self.val_fraction:g} of "
                             f"{len(y)} nodes leave no {'test' if n_train else 'training'} nodes; use e.g. 0.6 and 0.2")
        return Graph(x, edges, y, np.sort(order[:n_train]), np.sort(order[n_train:n_train + n_val]),
                     np.sort(order[n_train + n_val:]))


def _undirected(edges: np.ndarray) -> np.ndarray:
    """Each undirected edge once (i < j), no self loops, no duplicates."""
    edges = np.sort(np.asarray(edges, np.int64), axis=0)
    edges = edges[:, edges[0] != edges[1]]
    return np.unique(edges, axis=1)


@register("dataset", "karate_club")
class KarateClub(GraphData):
    """Zachary's karate club (networkx): 34 nodes, 78 edges, the two clubs as labels, identity features.
    ``labelled: [0, 33]`` (the standard protocol) trains on the two leaders only."""

    labelled: list[int] | None = Field([0, 33], description="training nodes; none: a seeded train_fraction")

    def load(self, rng):
        import networkx as nx

        graph = nx.karate_club_graph()
        y = np.array([0 if graph.nodes[v]["club"] == "Mr. Hi" else 1 for v in graph.nodes], np.int64)
        edges = _undirected(np.array(list(graph.edges)).T)
        x = np.eye(len(y))
        if self.labelled is None:
            return self._split(x, edges, y, rng)
        train = np.array(sorted(self.labelled))
        rest = rng.permutation(np.setdiff1d(np.arange(len(y)), train))
        n_val = int(round(self.val_fraction * len(y)))
        return Graph(x, edges, y, train, np.sort(rest[:n_val]), np.sort(rest[n_val:]))


@register("dataset", "csbm")
class ContextualSBM(GraphData):
    """Contextual stochastic block model: C equal classes; edges with probability c_in/n within a class and
    c_out/n across, c_in - c_out = 2 sqrt(d) lambda; features x_i = sqrt(mu/n) m_{y_i} + z_i/sqrt(p) with
    class means m (+-u for C = 2) drawn from N(0, I/p). phi moves the signal from the features (0) to the
    graph (+-1; negative: heterophily): lambda = sqrt(1+eps) sin(phi pi/2), mu = sqrt(gamma (1+eps))
    cos(phi pi/2), gamma = n/p; eps is the distance above the detection threshold."""

    n: int = Field(800, gt=1, description="nodes")
    classes: int = Field(2, ge=2, description="classes")
    degree: float = Field(5.0, gt=0, description="average degree d")
    features: int = Field(100, gt=0, description="feature dimension p")
    phi: float = Field(0.5, ge=-1, le=1, description="0: features only, 1: graph only, < 0: heterophily")
    epsilon: float = Field(3.25, ge=0, description="signal above the detection threshold")

    def load(self, rng):
        n, p, d, c = self.n, self.features, self.degree, self.classes
        lam = np.sqrt(1 + self.epsilon) * np.sin(self.phi * np.pi / 2)
        mu = np.sqrt(n / p * (1 + self.epsilon)) * np.cos(self.phi * np.pi / 2)
        y = rng.permutation(np.arange(n) % c).astype(np.int64)
        c_in = d + 2 * np.sqrt(d) * lam * (c - 1) / c
        c_out = d - 2 * np.sqrt(d) * lam / c
        if c_out < 0 or c_in > n:
            raise ValueError(f"degree {d} is too small for phi = {self.phi}: c_in = {c_in:.2f}, c_out = {c_out:.2f}")
        i, j = _block_edges(y, c, c_in / n, c_out / n, rng)
        u = rng.normal(0.0, 1.0 / np.sqrt(p), (c, p))
        if c == 2:
            u[1] = -u[0]
        x = np.sqrt(mu / n) * u[y] + rng.normal(0.0, 1.0, (n, p)) / np.sqrt(p)
        return self._split(x, np.stack([i, j]), y, rng)


def _block_edges(y: np.ndarray, c: int, p_in: float, p_out: float,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Undirected edges (i < j) with every pair present independently, with probability ``p_in`` within a class
    and ``p_out`` across: per pair of classes, a Binomial count of pairs drawn as a uniform subset of the block's
    pair indices (Generator.choice without replacement), so memory and time grow with the edges, not n^2."""
    members = [np.flatnonzero(y == k) for k in range(c)]
    sources, targets = [], []
    for a in range(c):
        for b in range(a, c):
            rows, cols = members[a], members[b]
            pairs = rows.size * (rows.size - 1) // 2 if a == b else rows.size * cols.size
            count = rng.binomial(pairs, p_in if a == b else p_out) if pairs else 0
            index = rng.choice(pairs, size=count, replace=False) if count else np.zeros(0, np.int64)
            if a == b:  # index -> (r, s), r < s, row-major over the upper triangle
                r, s = _triangle_pair(index, rows.size)
            else:
                r, s = np.divmod(index, cols.size)
            i, j = rows[r], cols[s]
            sources.append(np.minimum(i, j)), targets.append(np.maximum(i, j))
    i, j = np.concatenate(sources), np.concatenate(targets)
    order = np.lexsort((j, i))
    return i[order], j[order]


def _triangle_pair(index: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """The pair (r, s), 0 <= r < s < m, at row-major position ``index`` of the strict upper triangle: row r
    starts at r (2m - r - 1) / 2; the float root is corrected by one step either way."""
    k = index.astype(np.int64)
    r = np.floor((2 * m - 1 - np.sqrt((2.0 * m - 1) ** 2 - 8.0 * k)) / 2).astype(np.int64)
    start = r * (2 * m - r - 1) // 2
    r = np.where(start > k, r - 1, r)
    start = r * (2 * m - r - 1) // 2
    after = (r + 1) * (2 * m - r - 2) // 2
    r, start = np.where(after <= k, r + 1, r), np.where(after <= k, after, start)
    return r, r + 1 + (k - start)


@register("dataset", "graph_files")
class GraphFiles(GraphData):
    """A graph from files: ``edges`` (two integer node ids per line, whitespace separated), ``features``
    (.npy, or text with one row per node) and ``labels`` (.npy, or one integer per line). A relative path is
    resolved against the folder of the experiment file that names it."""

    edges: DataPath
    features: DataPath
    labels: DataPath

    @field_validator("edges", "features", "labels")
    @classmethod
    def _exists(cls, path: Path) -> Path:
        if not Path(path).exists():
            raise ValueError(f"file {str(path)!r} does not exist")
        return path

    @staticmethod
    def _array(path: Path, dtype) -> np.ndarray:
        return np.load(path) if Path(path).suffix == ".npy" else np.loadtxt(path, dtype=dtype, ndmin=1)

    def load(self, rng):
        x = np.atleast_2d(self._array(self.features, np.float64)).astype(np.float64)
        y = self._array(self.labels, np.int64).astype(np.int64)
        edges = np.loadtxt(self.edges, dtype=np.int64, ndmin=2).T
        if len(x) != len(y):
            raise ValueError(f"{self.features}: {len(x)} feature rows but {self.labels}: {len(y)} labels")
        if edges.size and (edges.min() < 0 or edges.max() >= len(y)):
            raise ValueError(f"{self.edges}: node ids must lie in [0, {len(y)})")
        return self._split(x, _undirected(edges), y, rng)
