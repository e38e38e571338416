"""The ``rate_projection`` target: the weights W (k outputs x n inputs) of a rate projection y = f(W x), dense or
CSR, and optional lateral weights Q among the outputs (y = W x + Q y).

Declared once, here, beside the network that trains it (``model``). Weights are stored as CSR rows ``(indptr,
indices, data)``, one row per output; a dense projection is the full structure, so ``data.reshape(k, n)`` is the
dense matrix. A rule's ``numba`` builder returns a :class:`RateRuleKernels`; the network binds ``update`` into its
fused training loop (``biosim.engine.codegen.bind_kernels``) and passes ``params`` as its ``p``. Kernel contract (a
module-level ``@njit(cache=True)`` function):

``update(indptr, indices, data, Q, x, y, p, state, dW, dQ, r)`` adds the update of one sample (input ``x``, float64[n];
outputs ``y``, float64[k]) to ``dW`` (float64, one entry per stored weight, CSR order) and, for a rule with
``lateral``, to ``dQ`` (float64[k, k], diagonal left 0); it may change ``state`` (float64[k], per-output state such
as BCM's sliding threshold, starting at ``state0``) and use ``r`` (float64[n], scratch). W and Q stay fixed during a
batch: the network applies the batch mean of the per-sample updates after each batch.

A ``torch`` builder returns a :class:`TorchRateUpdate` (dense H, k x n; used by HLOP on torch tensors).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from biosim.registry import register
from biosim.targets import Target

RATE_PROJECTION = "rate_projection"


class RateRuleKernels(NamedTuple):
    """What the Numba network runs for a rule on a rate projection."""

    update: Callable[..., Any]  # @njit update(indptr, indices, data, Q, x, y, p, state, dW, dQ, r)
    params: tuple  # the rule's typed parameter record (a NamedTuple): Numba compiles per type, not per value
    lateral: bool = False  # the rule learns lateral weights Q (the outputs then solve y = W x + Q y)
    state0: float = 0.0  # initial value of the per-output state


class TorchRateUpdate(NamedTuple):
    """What a torch caller runs for a rule on a dense rate projection: ``delta(H, x, y=None) -> dH``, the batch mean
    of the per-sample updates of H (k x n) for inputs ``x`` (batch x n), H fixed during the batch; ``y`` (batch x k)
    replaces the outputs H x where given (e.g. rate-coded by spiking neurons)."""

    delta: Callable[..., Any]


register("target", "rate_projection")(Target(
    description="weights W (k outputs x n inputs, dense or CSR) of a rate projection y = f(W x), and lateral "
                "weights among its outputs",
    implementation=RateRuleKernels, backends=("numba", "torch")))
