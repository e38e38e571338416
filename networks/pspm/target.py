"""The ``pspm_weights`` target: the recurrent weights of a network trained to reproduce target spike trains.

Declared once, here, beside the network that runs it (Bagley, Bordelon, Moseley & Wessel's PSPM, arXiv 1810.03199).
A rule's ``numba`` builder returns a :class:`PspmRuleKernels`; after each training iteration's simulation the network
calls ``update`` with the rule's ``params`` as its ``p``. Kernel contract (a module-level ``@njit(cache=True)``
function): ``update(S, S_ref, W, inhibitory, it, p, rng) -> (paired, unpaired_model, unpaired_target, cost)``
changes in place the weights ``W`` (float64[N, N], V; ``W[i, x]`` from presynaptic ``x`` onto ``i``) from the model's
raster ``S`` of this iteration and the target raster ``S_ref`` (uint8 or bool[steps, N], 1 where a neuron spiked in
a step), keeps Dale's law by presynaptic type (``inhibitory``, bool[N]: ``W[:, x] <= 0`` where set, ``>= 0``
elsewhere), draws any randomness from the network's ``np.random.Generator`` ``rng``, and returns, summed over the
neurons, the spikes paired, the model and target spikes left unpaired and the pairing cost (steps) of iteration
``it`` (0-based).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from biosim.registry import register
from biosim.targets import Target

PSPM_WEIGHTS = "pspm_weights"


class PspmRuleKernels(NamedTuple):
    """What the Numba engine runs for a rule on a PSPM network."""

    update: Callable[..., Any]  # @njit update(S, S_ref, W, inhibitory, it, p, rng) -> the iteration's four counts
    params: tuple  # the rule's typed parameter record (a NamedTuple): Numba compiles per type, not per value


register("target", "pspm_weights")(Target(
    description="the recurrent weights of a network trained to reproduce target spike trains",
    implementation=PspmRuleKernels, backends=("numba",)))
