"""Spike sources: Poisson groups and spike-time generators (populations without dynamics)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from numba import njit
from pydantic import model_validator

from biosim.params import Frequency, Params, Time
from biosim.registry import register
from biosim.streams import partial_shuffle


@register("neuron", "poisson")
class PoissonSource(Params):
    """Independent Poisson spike trains: each neuron fires in a step with probability rate (Hz) x dt."""

    kind: ClassVar[str] = "poisson"
    state_vars: ClassVar[dict[str, str]] = {}
    synaptic_targets: ClassVar[tuple[str, ...]] = ()
    rate: Frequency = 10.0


@register("neuron", "spike_generator")
class SpikeGenerator(Params):
    """Spikes at given ``times`` (s, rounded to the time grid) from given neuron ``indices``."""

    kind: ClassVar[str] = "generator"
    state_vars: ClassVar[dict[str, str]] = {}
    synaptic_targets: ClassVar[tuple[str, ...]] = ()
    times: list[Time]
    indices: list[int]

    @model_validator(mode="after")
    def _same_length(self) -> SpikeGenerator:
        if len(self.times) != len(self.indices):
            raise ValueError(f"times ({len(self.times)}) and indices ({len(self.indices)}) differ in length")
        if any(t < 0 for t in self.times) or any(i < 0 for i in self.indices):
            raise ValueError("spike times and indices must be non-negative")
        return self

    def check(self, dt: float, n: int) -> None:
        """Refuse indices >= ``n`` and one neuron twice in one step of ``dt`` (s): ValueError."""
        idx = np.asarray(self.indices, dtype=np.int64)
        if idx.size and idx.max() >= n:
            raise ValueError(f"spike_generator index {int(idx.max())} is out of range for {n} neurons")
        steps, idx = self.schedule(dt)
        if np.any((np.diff(steps) == 0) & (np.diff(idx) == 0)):
            raise ValueError(f"spike_generator has the same neuron twice in one time step of {dt:g} s")

    def schedule(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """(steps, indices) sorted by step, times rounded to the grid of ``dt`` (s)."""
        steps = np.rint(np.asarray(self.times, dtype=np.float64) / dt).astype(np.int64)
        idx = np.asarray(self.indices, dtype=np.int32)
        order = np.lexsort((idx, steps))
        return steps[order], idx[order]


@njit(cache=True)
def poisson_step(rng, p, perm, spk):
    """Draw this step's spikes of N sources with probability p each from ``rng``, in O(spikes): the count
    is binomial and the spiking subset a partial Fisher-Yates shuffle of the persistent ``perm``."""
    k = rng.binomial(perm.shape[0], p)
    partial_shuffle(rng, perm, k)
    spk[:k] = perm[:k]
    return k


@njit(cache=True)
def generator_step(steps, idx, cursor, t, spk):
    """Emit the scheduled spikes of step ``t``; ``cursor[0]`` is the next unread schedule entry."""
    k = cursor[0]
    while k < steps.shape[0] and steps[k] < t:
        k += 1
    n = 0
    while k < steps.shape[0] and steps[k] == t:
        spk[n] = idx[k]
        n += 1
        k += 1
    cursor[0] = k
    return n
