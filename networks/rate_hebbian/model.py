"""A rate network: inputs x in R^n, k outputs y = f(W x) (or y = W x + Q y with lateral weights Q), W stored as CSR
rows, trained on batches in one fused Numba loop with a rule's kernel bound in (``target`` states the contract);
and the measures of what it learned."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from biosim.engine.codegen import bind_kernels
from biosim.networks.rate_hebbian.target import RateRuleKernels, TorchRateUpdate

LINEAR, RECTIFIED = 0, 1
ACTIVATIONS = {"linear": LINEAR, "rectified": RECTIFIED}


@dataclass
class Projection:
    """W (k x n) as CSR rows: output i reads inputs ``indices[indptr[i]:indptr[i + 1]]`` (sorted) with weights
    ``data`` there. A dense projection is the full structure: ``data.reshape(k, n)`` is W."""

    indptr: np.ndarray  # int64[k + 1]
    indices: np.ndarray  # int64[nnz]
    data: np.ndarray  # float64[nnz]
    n_inputs: int

    @classmethod
    def dense(cls, W: np.ndarray) -> Projection:
        k, n = W.shape
        return cls(np.arange(0, k * n + 1, n, dtype=np.int64), np.tile(np.arange(n, dtype=np.int64), k),
                   np.ascontiguousarray(W, np.float64).ravel(), n)

    @classmethod
    def fixed_fan_in(cls, k: int, n: int, fan_in: int, rng: np.random.Generator) -> Projection:
        """Each output reads ``fan_in`` distinct inputs drawn from ``rng``; weights 0 until initialised."""
        indices = np.sort(rng.permuted(np.tile(np.arange(n, dtype=np.int64), (k, 1)), axis=1)[:, :fan_in], axis=1)
        return cls(np.arange(0, k * fan_in + 1, fan_in, dtype=np.int64), indices.ravel(), np.zeros(k * fan_in), n)

    @property
    def k(self) -> int:
        return self.indptr.size - 1

    def matrix(self) -> np.ndarray:
        """W as a dense k x n array (zeros off the structure)."""
        W = np.zeros((self.k, self.n_inputs))
        W[np.repeat(np.arange(self.k), np.diff(self.indptr)), self.indices] = self.data
        return W


@njit(cache=True)
def respond(indptr, indices, data, x, activation, lateral, M, u, y):
    """y = f(W x), or y = M W x with M = (I - Q)^-1 (lateral weights, linear outputs)."""
    k = indptr.shape[0] - 1
    for i in range(k):
        total = 0.0
        for e in range(indptr[i], indptr[i + 1]):
            total += data[e] * x[indices[e]]
        u[i] = total
    if lateral:
        for i in range(k):
            total = 0.0
            for m in range(k):
                total += M[i, m] * u[m]
            y[i] = total
    elif activation == RECTIFIED:
        for i in range(k):
            y[i] = max(u[i], 0.0)
    else:
        y[:] = u


@njit(cache=True)
def respond_all(indptr, indices, data, X, activation, lateral, M):
    """The outputs (samples x k) for inputs ``X`` (samples x n)."""
    k = indptr.shape[0] - 1
    Y = np.empty((X.shape[0], k))
    u = np.empty(k)
    for s in range(X.shape[0]):
        respond(indptr, indices, data, X[s], activation, lateral, M, u, Y[s])
    return Y


def train_batches(indptr, indices, data, Q, X, batch, activation, lateral, p, state, dW, dQ, u, y, r, M):
    """Present the rows of ``X`` in batches of ``batch``: each batch adds the mean of the rule's per-sample
    updates (``rule_update``, bound at compile time) to W (and Q), W and Q fixed within the batch."""
    k = indptr.shape[0] - 1
    for start in range(0, X.shape[0], batch):
        stop = min(start + batch, X.shape[0])
        dW[:] = 0.0
        if lateral:
            dQ[:] = 0.0
            M[:] = np.linalg.inv(np.eye(k) - Q)
        for s in range(start, stop):
            respond(indptr, indices, data, X[s], activation, lateral, M, u, y)
            rule_update(indptr, indices, data, Q, X[s], y, p, state, dW, dQ, r)  # noqa: F821 (bound by bind_kernels)
        scale = 1.0 / (stop - start)
        for e in range(data.shape[0]):
            data[e] += scale * dW[e]
        if lateral:
            for i in range(k):
                for m in range(k):
                    Q[i, m] += scale * dQ[i, m]


class RateNetwork:
    """A projection trained by one rule's kernels; ``state`` holds the rule's per-output state, ``Q`` the lateral
    weights (zero unless the rule learns them)."""

    def __init__(self, projection: Projection, kernels: RateRuleKernels, activation: str = "linear"):
        self.W, self.kernels = projection, kernels
        self.activation = ACTIVATIONS[activation]
        k, n = projection.k, projection.n_inputs
        self.Q = np.zeros((k, k))
        self.state = np.full(k, kernels.state0)
        # dW, dQ, u, y, r and M: the loop sets M = (I - Q)^-1 at each batch start (lateral rules only)
        self._scratch = (np.zeros(projection.data.size), np.zeros((k, k)), np.zeros(k), np.zeros(k), np.zeros(n),
                         np.eye(k))
        self._module = bind_kernels([train_batches], {"rule_update": kernels.update}, "rate_hebbian")

    def _mixing(self) -> np.ndarray:
        return np.linalg.inv(np.eye(self.W.k) - self.Q) if self.kernels.lateral else np.eye(self.W.k)

    def train(self, X: np.ndarray, batch: int) -> None:
        """Learn from the rows of ``X`` (samples x n), in batches of ``batch``."""
        w = self.W
        self._module.train_batches(w.indptr, w.indices, w.data, self.Q, np.ascontiguousarray(X, np.float64), batch,
                                   self.activation, self.kernels.lateral, self.kernels.params, self.state,
                                   *self._scratch)

    def outputs(self, X: np.ndarray) -> np.ndarray:
        """The outputs (samples x k) for inputs ``X`` (samples x n), nothing learned."""
        w = self.W
        return respond_all(w.indptr, w.indices, w.data, np.ascontiguousarray(X, np.float64), self.activation,
                           self.kernels.lateral, self._mixing())

    @property
    def finite(self) -> bool:
        return bool(np.isfinite(self.W.data).all() and np.isfinite(self.Q).all() and np.isfinite(self.state).all())


class TorchRateNetwork(RateNetwork):
    """A dense projection with linear outputs trained by a rule's ``torch`` update: each batch's matrix-form update
    (BLAS products) applied to W in place, for large batches; responses and measures as :class:`RateNetwork`'s."""

    def __init__(self, projection: Projection, update: TorchRateUpdate):
        self.W, self.update = projection, update
        self.activation = LINEAR
        self.kernels = RateRuleKernels(None, (), lateral=False)  # no Numba kernel: no lateral weights, no state
        self.Q, self.state = np.zeros((projection.k, projection.k)), np.zeros(projection.k)

    def train(self, X: np.ndarray, batch: int) -> None:
        """Learn from the rows of ``X`` (samples x n) in batches of ``batch``: W += delta(W, X_batch)."""
        import torch

        W = torch.from_numpy(self.W.data).view(self.W.k, self.W.n_inputs)  # shares memory with the projection
        X = torch.from_numpy(np.ascontiguousarray(X, np.float64))
        with torch.no_grad():
            for start in range(0, X.shape[0], batch):
                W += self.update.delta(W, X[start:start + batch])


# -- what was learned --------------------------------------------------------------------------------------
def row_space_projector(W: np.ndarray) -> np.ndarray:
    """The orthogonal projector (n x n) onto the row space of W, from an orthonormal basis (SVD)."""
    U, s, _ = np.linalg.svd(W.T, full_matrices=False)
    basis = U[:, s > s.max(initial=0.0) * max(W.shape) * np.finfo(float).eps]
    return basis @ basis.T


def subspace_error(W: np.ndarray, V: np.ndarray) -> float:
    """||P_W - P_V||_F / ||P_V||_F: normalised Frobenius distance between the projectors onto the row space of W
    and onto the span of the columns of ``V`` (orthonormal, n x k)."""
    P = V @ V.T
    return float(np.linalg.norm(row_space_projector(W) - P) / np.linalg.norm(P))


def orthonormality_error(W: np.ndarray) -> float:
    """max |W W^T - I|."""
    return float(np.abs(W @ W.T - np.eye(W.shape[0])).max())


def cosines(W: np.ndarray, V: np.ndarray) -> np.ndarray:
    """|cos| between each row of W and each column of ``V`` (rows x columns); 0 for a zero row."""
    norms = np.linalg.norm(W, axis=1, keepdims=True)
    return np.abs(W @ V) / np.where(norms > 0, norms, 1.0)


def selectivity(responses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per output (rows of ``responses``, outputs x patterns): 1 - mean / max response (Bienenstock et al. 1982;
    0: unselective, 1 - 1/P: one pattern only) and second-largest / largest response (<= 0.2: the best pattern's
    response is >= 5x every other's). NaN for an output silent to every pattern."""
    ordered = np.sort(responses, axis=1)
    top = ordered[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1 - responses.mean(axis=1) / top, ordered[:, -2] / top if responses.shape[1] > 1 else np.zeros_like(top)


def max_off_diagonal(matrix: np.ndarray) -> float:
    """max |m_ij| over i != j (0 for a 1 x 1 matrix)."""
    off = np.abs(matrix - np.diag(np.diag(matrix)))
    return float(off.max(initial=0.0))


def correlation(Y: np.ndarray) -> np.ndarray:
    """The correlation coefficients of the outputs (columns of Y); a constant output has 0 correlation."""
    centred = Y - Y.mean(axis=0)
    sd = np.sqrt((centred**2).mean(axis=0))
    sd = np.where(sd > 0, sd, np.inf)
    return (centred.T @ centred / Y.shape[0]) / np.outer(sd, sd) + np.diag(sd == np.inf)
