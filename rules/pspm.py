"""PSPM, pre-synaptic pool modification (plugs into ``pspm_weights``), and its random-update control.

Bagley, Bordelon, Moseley & Wessel (arXiv 1810.03199; PLoS ONE 15(2) e0229083, 2020), as the authors' C code
(``spikesMatchOptInputFixed.c``) does it: after each simulation of iteration ``it``, each neuron's spikes are paired
with its target's (``biosim.networks.pspm.pairing``, window ``w_pair(it)``); for each unpaired model spike at step
``t > z`` the weight from every presynaptic neuron ``x`` that spiked (in the model) in ``[t - z, t)`` falls by
``eps * U{0..9}``, for each unpaired target spike it rises by the same law (one draw per spike and ``x``, however often
``x`` spiked in the window: the C code breaks at its first spike there); then the global homeostasis
``W += c * (sum S_ref - sum S)``. Dale's law is restored after every change. The control applies the same
increments to a uniformly random synapse ``(i', x')`` instead of ``(i, x)``. Each rule's ``numba`` builder returns a
``PspmRuleKernels`` record (declared with the target in ``biosim.networks.pspm.target``, which states the kernel
contract); the one ``update`` kernel serves both, told apart by the record's ``control``.

Draw order from the generator: neurons ``i`` ascending; for each, its unpaired model spikes in time order, then its
unpaired target spikes; for each spike, the pool's ``x`` in the order of their first spikes in the window (by step,
then by index; the C code goes by index, which would cost a sort per spike); for each ``(spike, x)``, ``U{0..9}`` as
``biosim.streams.randint(rng, 10)`` (exactly uniform; Numba's ``rng.integers`` costs ten times as much here) and, for
the control only, then ``i' = randint(rng, N)`` and ``x' = randint(rng, N)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, NamedTuple

import numpy as np
from numba import njit
from pydantic import Field

from biosim.networks.pspm.pairing import pair_spikes
from biosim.networks.pspm.target import PSPM_WEIGHTS
from biosim.params import Voltage
from biosim.registry import register
from biosim.streams import randint
from biosim.targets import Rule

if TYPE_CHECKING:
    from biosim.networks.pspm.target import PspmRuleKernels

class PspmParams(NamedTuple):
    """``pspm`` and ``pspm_control`` as their kernel reads them."""

    eps: float  # increment unit, V
    z: int  # pool window, steps
    w_pair_first: int  # pairing window at iteration 0, steps
    shrink_every: int  # iterations between shrinks of the pairing window by one step
    c: float  # homeostatic change per spike of difference, V
    control: bool  # apply each increment to a uniformly random synapse instead


@njit(cache=True)
def pair_window(it, w_pair_first, shrink_every):
    """The pairing window of iteration ``it`` (steps): ``w_pair_first`` shrunk by one every ``shrink_every``
    iterations, never below 0 (the C code: 15, less one whenever ``it % 15 == 0``)."""
    return max(w_pair_first - it // shrink_every, 0)


@njit(cache=True)
def _by_neuron(S):
    """Each neuron's spike steps of raster ``S`` (steps x N): (ptr int64[N + 1], steps int64[spikes])."""
    steps, N = S.shape
    ptr = np.zeros(N + 1, np.int64)
    for t in range(steps):
        for n in range(N):
            if S[t, n]:
                ptr[n + 1] += 1
    ptr = np.cumsum(ptr)
    times = np.empty(ptr[N], np.int64)
    fill = ptr[:N].copy()
    for t in range(steps):
        for n in range(N):
            if S[t, n]:
                times[fill[n]] = t
                fill[n] += 1
    return ptr, times


@njit(cache=True)
def _by_step(S):
    """Each step's spiking neurons of raster ``S`` (steps x N): (ptr int64[steps + 1], neurons int64[spikes])."""
    steps, N = S.shape
    ptr = np.zeros(steps + 1, np.int64)
    neurons = np.empty(int(np.count_nonzero(S)), np.int64)
    k = 0
    for t in range(steps):
        for n in range(N):
            if S[t, n]:
                neurons[k] = n
                k += 1
        ptr[t + 1] = k
    return ptr, neurons


@njit(cache=True)
def _dale(w, inhibitory):
    """``w`` clipped to Dale's law for a presynaptic neuron of that type (V)."""
    return min(w, 0.0) if inhibitory else max(w, 0.0)


@njit(cache=True)
def _modify_pools(W, i, sign, times, unpaired, step_ptr, step_neurons, inhibitory, p, rng, seen):
    """Change by ``sign * eps * U{0..9}`` the weight onto ``i`` (or, for the control, a random one) from every
    presynaptic neuron of the pool ``[t - z, t)`` of each unpaired spike at ``t > z``, once per neuron, in the order of
    their first spikes there; clip to Dale after each change. ``seen`` (bool[N], all False) is scratch."""
    N = W.shape[0]
    for k in range(times.size):
        t = times[k]
        if not unpaired[k] or t <= p.z:
            continue
        window = step_neurons[step_ptr[t - p.z]:step_ptr[t]]
        for x in window:
            if seen[x]:
                continue
            seen[x] = True
            q = p.eps * randint(rng, 10)
            post, pre = i, x
            if p.control:
                post = randint(rng, N)
                pre = randint(rng, N)
            W[post, pre] = _dale(W[post, pre] + sign * q, inhibitory[pre])
        for x in window:
            seen[x] = False


@njit(cache=True)
def pspm_update(S, S_ref, W, inhibitory, it, p, rng):
    """One PSPM iteration on ``W`` (V, in place) from model raster ``S`` and target ``S_ref`` (steps x N); see the
    module docstring. Returns (spikes paired, model spikes unpaired, target spikes unpaired, pairing cost in steps)."""
    N = W.shape[0]
    w = pair_window(it, p.w_pair_first, p.shrink_every)
    step_ptr, step_neurons = _by_step(S)
    model_ptr, model_times = _by_neuron(S)
    target_ptr, target_times = _by_neuron(S_ref)
    seen = np.zeros(N, np.bool_)
    paired = unpaired_model = unpaired_target = cost = 0
    for i in range(N):
        a = model_times[model_ptr[i]:model_ptr[i + 1]]
        b = target_times[target_ptr[i]:target_ptr[i + 1]]
        model_unpaired, target_unpaired, neuron_cost = pair_spikes(a, b, w)
        cost += neuron_cost
        lonely = int(model_unpaired.sum())
        paired += a.size - lonely
        unpaired_model += lonely
        unpaired_target += int(target_unpaired.sum())
        _modify_pools(W, i, -1.0, a, model_unpaired, step_ptr, step_neurons, inhibitory, p, rng, seen)
        _modify_pools(W, i, 1.0, b, target_unpaired, step_ptr, step_neurons, inhibitory, p, rng, seen)
    shift = p.c * (target_times.size - model_times.size)
    for post in range(N):
        for pre in range(N):
            W[post, pre] = _dale(W[post, pre] + shift, inhibitory[pre])
    return paired, unpaired_model, unpaired_target, cost


class PspmRule(Rule):
    """Base of the rules on ``pspm_weights``: the paper's parameters (the C code's defaults)."""

    plugs_into: ClassVar[str] = PSPM_WEIGHTS
    reads: ClassVar[str] = "model and target rasters of the iteration"
    eps: Voltage = Field(8e-7, ge=0, description="increment unit: each change is eps x U{0..9}")
    z: int = Field(15, ge=1, description="pool window before a spike, steps")
    w_pair_first: int = Field(14, ge=0, description="pairing window at iteration 0, steps (unpaired cost w + 1)")
    shrink_every: int = Field(15, ge=1, description="iterations between shrinks of the pairing window by 1 step")
    c: Voltage = Field(5e-11, ge=0, description="homeostatic change of every weight per spike of difference")

    def record(self, control: bool) -> PspmParams:
        """The typed record the kernel reads."""
        return PspmParams(float(self.eps), int(self.z), int(self.w_pair_first), int(self.shrink_every),
                          float(self.c), control)


@register("rule", "pspm")
class Pspm(PspmRule):
    """PSPM: unpaired model spikes weaken, unpaired target spikes strengthen, the synapses from the pre-synaptic
    pool that spiked in the z steps before them; global homeostasis on the spike-count difference."""


@register("builder", "pspm/numba")
def pspm_numba(rule: Pspm) -> PspmRuleKernels:
    """The increments on the pool's synapses onto the neuron that erred."""
    from biosim.networks.pspm.target import PspmRuleKernels

    return PspmRuleKernels(pspm_update, rule.record(control=False))


@register("rule", "pspm_control")
class PspmControl(PspmRule):
    """PSPM's random-update control: the same increments, each applied to a uniformly random synapse (i', x')."""


@register("builder", "pspm_control/numba")
def pspm_control_numba(rule: PspmControl) -> PspmRuleKernels:
    """The increments on uniformly random synapses."""
    from biosim.networks.pspm.target import PspmRuleKernels

    return PspmRuleKernels(pspm_update, rule.record(control=True))
