"""What each continual-learning rule runs in torch (``rules/continual.py`` builds these): hooks around and inside
each task's training. Every method reads the net only through its layers' ``weight`` and presynaptic ``x``.

* :class:`FineTuning`: nothing (plain SGD on each task in turn, the baseline).
* :class:`Multitask`: task t trains on the union of tasks 0..t (the upper bound).
* :class:`EWC`: diagonal empirical Fisher after each task, accumulated online, penalty lam/2 sum F (w - w*)^2.
* :class:`SVDProjection`: an exact basis of each finished task's activities (GPM-like reference).
* :class:`HLOP`: the basis learned by lateral subspace neurons with the Oja subspace rule (Xiao et al. 2024).

Both projection methods replace a shared layer's weight gradient by grad W (I - H^T H), H the protected rows
(equal to the input projection delta^T (x - H^T H x)).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from biosim.networks.continual.target import PresynapticLayer


def project_out(grad: torch.Tensor, H: torch.Tensor) -> None:
    """grad <- grad (I - H^T H) in place: the weight gradient of inputs x projected to x - H^T H x."""
    if len(H):
        grad -= (grad @ H.T) @ H


def gram_matrices(net: Any, layers: list[PresynapticLayer], x: torch.Tensor, task: torch.Tensor,
                  batch_size: int) -> list[torch.Tensor]:
    """Each layer's X^T X (n x n, float64) of its presynaptic activity X (rows x n) over inputs ``x`` of tasks
    ``task``, summed batch by batch (no autograd; a convolution's patch rows are never all held at once)."""
    grams = [torch.zeros(layer.weight.shape[1], layer.weight.shape[1], dtype=torch.float64,
                         device=layer.weight.device) for layer in layers]
    with torch.no_grad():
        for k in range(0, len(x), batch_size):
            net(x[k:k + batch_size], task[k:k + batch_size])
            for G, layer in zip(grams, layers, strict=True):
                X = layer.x.double()
                G += X.T @ X
    return grams


def squared_item_gradients(delta: torch.Tensor, x: torch.Tensor, steps: int) -> torch.Tensor:
    """sum over items of (grad W of the item)^2, grad W = sum over the item's ``steps`` rows (step-major: row
    s * items + i) of delta_row^T x_row."""
    if steps == 1:
        return (delta ** 2).T @ (x ** 2)
    per_item = torch.einsum("tbm,tbn->bmn", delta.view(steps, -1, delta.shape[1]), x.view(steps, -1, x.shape[1]))
    return (per_item ** 2).sum(0)


class FineTuning:
    """Plain sequential training: nothing protects the old tasks."""

    def __init__(self, net: Any):
        self.net = net
        self.shared = net.shared_layers()

    def training_tasks(self, t: int) -> list[int]:
        return [t]

    def begin_task(self, t: int) -> None:
        pass

    def penalty(self) -> torch.Tensor | None:
        return None

    def transform_gradients(self) -> None:
        pass

    def after_step(self) -> None:
        pass

    def end_task(self, t: int, x: torch.Tensor, y: torch.Tensor, task: torch.Tensor, batch_size: int) -> None:
        pass

    def subspaces(self) -> list[torch.Tensor]:
        return [layer.weight.new_zeros(0, layer.weight.shape[1]) for layer in self.shared]


class Multitask(FineTuning):
    """Joint training: task t trains, from the weights after task t-1, on the shuffled union of the training
    items of tasks 0..t (each item with its own task's permutation or head)."""

    def training_tasks(self, t: int) -> list[int]:
        return list(range(t + 1))


class EWC(FineTuning):
    """Elastic weight consolidation (Kirkpatrick et al. 2017), online (Schwarz et al. 2018): after task t,
    F <- gamma F + F_t with F_t the diagonal empirical Fisher (mean over the task's training items of the squared
    per-sample gradient of the net's loss, exact per sample for a layer with grad W = delta^T x:
    F_W = (delta^2)^T (x^2) / N, or with each item's rows summed first for a sequence layer) and anchors w* the
    weights after task t; penalty lam/2 sum F (w - w*)^2."""

    def __init__(self, net: Any, lam: float, gamma: float):
        super().__init__(net)
        self.lam, self.gamma = lam, gamma
        self.all = net.layers()
        self.fisher: list[torch.Tensor] | None = None
        self.anchors: list[torch.Tensor] = []

    def penalty(self) -> torch.Tensor | None:
        if self.fisher is None:
            return None
        return 0.5 * self.lam * sum(((layer.weight - w) ** 2 * f).sum()
                                    for layer, w, f in zip(self.all, self.anchors, self.fisher, strict=True))

    def end_task(self, t: int, x: torch.Tensor, y: torch.Tensor, task: torch.Tensor, batch_size: int) -> None:
        fisher = [torch.zeros_like(layer.weight) for layer in self.all]
        for layer in self.all:
            layer.keep_output = True
        try:
            for k in range(0, len(x), batch_size):
                # summed, not averaged: each output's gradient is then one item's own delta
                loss = self.net.loss(x[k:k + batch_size], task[k:k + batch_size], y[k:k + batch_size], "sum")
                deltas = torch.autograd.grad(loss, [layer.y for layer in self.all])
                for f, layer, delta in zip(fisher, self.all, deltas, strict=True):
                    f += squared_item_gradients(delta, layer.x, layer.steps)
        finally:
            for layer in self.all:
                layer.keep_output, layer.y = False, None
        fisher = [f / len(x) for f in fisher]
        self.fisher = fisher if self.fisher is None else [self.gamma * a + b for a, b in zip(self.fisher, fisher,
                                                                                               strict=True)]
        self.anchors = [layer.weight.detach().clone() for layer in self.all]


class SVDProjection(FineTuning):
    """After task t, per shared layer: the top-k_t right singular vectors of the task's activities X (rows x n)
    after the stored basis B is projected out, R = X - X B^T B, appended to B; later tasks train with gradients
    projected off B. ``rows(t)`` rows per layer after task t (the sizes HLOP learns)."""

    def __init__(self, net: Any, rows: Callable[[int], list[int]]):
        super().__init__(net)
        self.rows = rows
        self.basis = super().subspaces()

    def transform_gradients(self) -> None:
        for layer, B in zip(self.shared, self.basis, strict=True):
            project_out(layer.weight.grad, B)

    def end_task(self, t: int, x: torch.Tensor, y: torch.Tensor, task: torch.Tensor, batch_size: int) -> None:
        """The top right singular vectors of R = X (I - B^T B): the top eigenvectors of R^T R = P X^T X P (float64,
        from the Gram matrix, so the task's activities are never stored)."""
        sizes = self.rows(t)
        for l, G in enumerate(gram_matrices(self.net, self.shared, x, task, batch_size)):
            B = self.basis[l].double()
            P = torch.eye(len(G), dtype=G.dtype, device=G.device) - B.T @ B
            _, vectors = torch.linalg.eigh(P @ G @ P)  # ascending eigenvalues
            new = vectors[:, len(G) - sizes[l]:].flip(1).T if sizes[l] else vectors[:, :0].T
            self.basis[l] = torch.cat([B, new]).to(self.basis[l].dtype)

    def subspaces(self) -> list[torch.Tensor]:
        return self.basis


def rate_coded(y: torch.Tensor, steps: int, scale: float) -> torch.Tensor:
    """Spiking lateral neurons' outputs: y_q = round(clip(y, +-s) / s T_h) / T_h s, the spike count over T_h
    steps of a neuron firing at rate |y| / s (one step: one spike at most), signed, scaled back by s."""
    return torch.round(y.clamp(-scale, scale) / scale * steps) / steps * scale


def reconstruction_residual(H: torch.Tensor, x: torch.Tensor, lateral: tuple[int, float] | None) -> torch.Tensor:
    """x - y H with y = H x (rate-coded with ``lateral``): what rows H leave of the inputs x."""
    if not len(H):
        return x
    y = x @ H.T
    return x - (y if lateral is None else rate_coded(y, *lateral)) @ H


def hebbian_step(H: torch.Tensor, V: torch.Tensor, x: torch.Tensor, frozen: int, lr: float, momentum: float,
                 clamp: float, delta: Any, lateral: tuple[int, float] | None = None,
                 residual: torch.Tensor | None = None) -> None:
    """One HLOP iteration in place on the rows from ``frozen`` on: D = clamp(delta(H_new, r, y)), the Oja subspace
    rule at eta = 1 over all rows restricted to the new ones, y_new^T (x - y H) / B = y_new^T (r - y_new H_new) / B
    with y = H x (rate-coded by spiking lateral neurons with ``lateral`` (T_h, s)) and r = x - y_old H_old (the
    ``residual``, fixed while the frozen rows are; computed here when not given); then V <- m V + (1 - m) D,
    H <- H + lr V."""
    if residual is None:
        residual = reconstruction_residual(H[:frozen], x, lateral)
    new = H[frozen:]
    y = x @ new.T
    if lateral is not None:
        y = rate_coded(y, *lateral)
    D = delta(new, residual, y).clamp_(-clamp, clamp)
    V[frozen:] = momentum * V[frozen:] + (1 - momentum) * D
    H[frozen:] += lr * V[frozen:]


class HLOP(FineTuning):
    """Hebbian learning based orthogonal projection (Xiao et al., ICLR 2024): per shared layer, lateral subspace
    neurons H (k x n) read the presynaptic activity x; at each task t ``rows(t)`` new rows (orthogonal init)
    learn, after every optimiser step, ``iterations`` Oja-subspace updates with momentum on the step's batch, the
    old rows frozen; the weight gradients of later tasks are projected off the rows of the finished tasks."""

    def __init__(self, net: Any, rows: Callable[[int], list[int]], iterations: int, momentum: float, clamp: float,
                 lr: list[float] | None, stable_factor: float, delta: Any, generator: torch.Generator,
                 orthonormal_projection: bool = True, lateral: tuple[int, float] | None = None):
        super().__init__(net)
        self.lateral = lateral
        self.orthonormal_projection = orthonormal_projection
        self.rows, self.iterations, self.momentum, self.clamp = rows, iterations, momentum, clamp
        self.fixed_lr, self.stable_factor, self.delta, self.generator = lr, stable_factor, delta, generator
        self.H = super().subspaces()
        self.V = [h.clone() for h in self.H]
        self.frozen = [0] * len(self.H)
        self.lr = list(lr) if lr is not None else [0.0] * len(self.H)
        self.projected = [h.clone() for h in self.H]  # the rows the gradients are projected off

    def begin_task(self, t: int) -> None:
        """Freeze every row (the gradients are projected off them, or off an orthonormal basis of their span) and
        add rows(t) orthogonal rows (drawn from the run's generator); with the stable rate, restart its running
        minimum."""
        sizes = self.rows(t)
        for l, H in enumerate(self.H):
            new = torch.zeros(sizes[l], H.shape[1], dtype=torch.float32)
            if len(new):
                torch.nn.init.orthogonal_(new, generator=self.generator)
            self.frozen[l] = len(H)
            # the frozen rows, or an orthonormal basis of their span (SVD, float64)
            self.projected[l] = (torch.linalg.svd(H.double(), full_matrices=False)[2].to(H.dtype)
                                 if self.orthonormal_projection and len(H) else H.clone())
            self.H[l] = torch.cat([H, new.to(H)])
            self.V[l] = torch.cat([self.V[l], torch.zeros_like(new).to(H)])
        if self.fixed_lr is None:
            self.lr = [float("inf")] * len(self.H)

    def transform_gradients(self) -> None:
        for layer, P in zip(self.shared, self.projected, strict=True):
            project_out(layer.weight.grad, P)

    def after_step(self) -> None:
        """``iterations`` Hebbian steps per shared layer on the step's x; the stable rate is the running minimum
        over the task's batches of stable_factor / mean ||x||^2 (the activities grow while the task trains)."""
        for l, layer in enumerate(self.shared):
            if self.fixed_lr is None:
                power = float((layer.x ** 2).sum(1).mean())
                if power > 0:  # a silent layer (spiking nets early on) neither sets the rate nor learns
                    self.lr[l] = min(self.lr[l], self.stable_factor / power)
                if math.isinf(self.lr[l]):
                    continue
            H, f = self.H[l], self.frozen[l]
            residual = reconstruction_residual(H[:f], layer.x, self.lateral)  # the same for every iteration
            for _ in range(self.iterations):
                hebbian_step(H, self.V[l], layer.x, f, self.lr[l], self.momentum, self.clamp, self.delta,
                             self.lateral, residual)

    def subspaces(self) -> list[torch.Tensor]:
        return self.H
