"""Learning rules for Sparsey macrocolumns (plug into ``sparsey_mac``).

Kernel contract: ``learn(W, active, winners, p) -> new`` sets weights of the binary matrix
``W`` (uint8[inputs, Q*K]) from the active afferents ``active`` onto the chosen code ``winners`` (one
cell index per competitive module) and returns how many weights went from 0 to 1. The mac freezes
(stops learning) once the fraction of set weights reaches the rule's ``freeze_at`` (Rinkus 2014's
critical periods).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numba import njit
from pydantic import Field

from biosim.registry import register
from biosim.targets import Rule

SPARSEY_MAC = "sparsey_mac"


class MacRule(Rule):
    """A single-trial rule on the binary afferent weights of a Sparsey mac."""

    plugs_into: ClassVar[str] = SPARSEY_MAC
    learn: ClassVar[Any]
    freeze_at: float = Field(0.5, gt=0, le=1, description="fraction of set weights at which the mac freezes")

    def pack(self) -> np.ndarray:
        raise NotImplementedError


@njit(cache=True)
def binary_hebbian_learn(W, active, winners, p):
    new = 0
    for j in active:
        row = W[j]
        for cell in winners:
            new += 1 - row[cell]
            row[cell] = 1
    return new


@register("rule", "binary_hebbian")
class BinaryHebbian(MacRule):
    """Sparsey's single-trial learning: w = 1 from every active afferent onto every winner."""

    reads: ClassVar[str] = "active afferents, chosen code"
    learn = binary_hebbian_learn

    def pack(self) -> np.ndarray:
        return np.zeros(1)


@njit(cache=True)
def subsampled_hebbian_learn(W, active, winners, p):
    fraction, new = p[0], 0
    for cell in winners:
        for j in active:
            if np.random.random() < fraction and W[j, cell] == 0:
                W[j, cell] = 1
                new += 1
    return new


@register("rule", "subsampled_hebbian")
class SubsampledHebbian(MacRule):
    """Single-trial learning from a random fraction of the active afferents onto each winner.

    Subsampled synapses, as a dendritic segment subsamples a pattern: slower saturation, noisier recall."""

    reads: ClassVar[str] = "active afferents, chosen code"
    fraction: float = Field(0.7, gt=0, le=1, description="probability that an active afferent is learned")
    learn = subsampled_hebbian_learn

    def pack(self) -> np.ndarray:
        return np.array([self.fraction])
