"""Learning rules for Sparsey macrocolumns (plug into ``sparsey_mac``).

The rules are declarative parameter objects; each one's ``numba`` builder returns a ``MacRuleKernels`` record
(declared with the target in ``biosim.networks.sparsey.target``, which states the kernel contract): the rule's
``learn`` kernel, defined here (it needs nothing but the weight matrix), and its typed parameter record. The
mac freezes (stops learning) once the fraction of set weights reaches the rule's ``freeze_at`` (Rinkus 2014's
critical periods).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, NamedTuple

from numba import njit
from pydantic import Field

from biosim.registry import register
from biosim.targets import Rule

if TYPE_CHECKING:
    from biosim.networks.sparsey.target import MacRuleKernels

SPARSEY_MAC = "sparsey_mac"


class MacRule(Rule):
    """A single-trial rule on the binary afferent weights of a Sparsey mac."""

    plugs_into: ClassVar[str] = SPARSEY_MAC
    freeze_at: float = Field(0.5, gt=0, le=1, description="fraction of set weights at which the mac freezes")


# -- Rinkus' binary Hebbian rule ---------------------------------------------------------------------------
class NoParams(NamedTuple):
    """The record of a rule without parameters its kernel reads."""


@njit(cache=True)
def binary_hebbian_learn(W, active, winners, p, rng):
    """Set w = 1 from every active afferent onto every winner; returns the weights newly set."""
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


@register("builder", "binary_hebbian/numba")
def binary_hebbian_numba(rule: BinaryHebbian) -> MacRuleKernels:
    """Every active afferent onto every winner."""
    from biosim.networks.sparsey.target import MacRuleKernels

    return MacRuleKernels(binary_hebbian_learn, NoParams())


# -- subsampled afferents ----------------------------------------------------------------------------------
class SubsampledParams(NamedTuple):
    """``subsampled_hebbian`` as its kernel reads it."""

    fraction: float


@njit(cache=True)
def subsampled_hebbian_learn(W, active, winners, p, rng):
    """Set each weight from an active afferent onto a winner with probability ``p.fraction`` (draws from
    ``rng``); returns the weights newly set."""
    new = 0
    for cell in winners:
        for j in active:
            if rng.random() < p.fraction and W[j, cell] == 0:
                W[j, cell] = 1
                new += 1
    return new


@register("rule", "subsampled_hebbian")
class SubsampledHebbian(MacRule):
    """Single-trial learning from a random fraction of the active afferents onto each winner.

    Subsampled synapses, as a dendritic segment subsamples a pattern: slower saturation, noisier recall."""

    reads: ClassVar[str] = "active afferents, chosen code"
    fraction: float = Field(0.7, gt=0, le=1, description="probability that an active afferent is learned")


@register("builder", "subsampled_hebbian/numba")
def subsampled_hebbian_numba(rule: SubsampledHebbian) -> MacRuleKernels:
    """A random ``fraction`` of the active afferents onto each winner."""
    from biosim.networks.sparsey.target import MacRuleKernels

    return MacRuleKernels(subsampled_hebbian_learn, SubsampledParams(float(rule.fraction)))
