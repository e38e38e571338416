"""Storage prescriptions of dense Hebbian networks (plug into ``dense_hebbian``; Agliari, Barra et al. 2023).

Each rule's ``numba`` builder turns the examples into the ``StoredPatterns`` of the P-body energy (declared with the
target in ``biosim.networks.dense_hebbian.target``, which states the contract). Both use R = r^2 + (1 - r^2)/M, the
mean square of an example average, as the builder's ``R``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from biosim.registry import register
from biosim.targets import Rule

if TYPE_CHECKING:
    from biosim.networks.dense_hebbian.target import StoredPatterns

DENSE_HEBBIAN = "dense_hebbian"


class Storage(Rule):
    """How the examples enter the P-body energy of a dense Hebbian network."""

    plugs_into: ClassVar[str] = DENSE_HEBBIAN


@register("rule", "supervised")
class Supervised(Storage):
    """Supervised: the teacher groups examples by archetype; one stored pattern per class, its example average
    eta_bar^mu, and H = -(N / (2 R^(P/2))) sum_mu (eta_bar^mu . sigma / N)^P."""

    reads: ClassVar[str] = "examples grouped by archetype"


@register("builder", "supervised/numba")
def supervised_numba(rule: Supervised, examples: list[np.ndarray], P: int, R: float) -> StoredPatterns:
    """S^mu = the integer sum of the class's examples, s^mu = their number."""
    from biosim.networks.dense_hebbian.target import StoredPatterns

    S = np.stack([e.sum(axis=0, dtype=np.int32) for e in examples])
    scale = np.array([len(e) for e in examples], np.int64)
    return StoredPatterns(S, scale, np.arange(len(examples), dtype=np.int64), 1 / (2 * R ** (P / 2)))


@register("rule", "unsupervised")
class Unsupervised(Storage):
    """Unsupervised: every example is stored apart, H = -(N / (2 M R^(P/2))) sum_{mu, a} (eta^{mu,a} . sigma / N)^P.

    The papers' normalisation of this energy could not be checked (spec hebbian.md 3.1): R here is that of the
    supervised energy, r^2 + (1 - r^2)/M. It only rescales the temperature; T = 0 results do not depend on it."""

    reads: ClassVar[str] = "every example apart"


@register("builder", "unsupervised/numba")
def unsupervised_numba(rule: Unsupervised, examples: list[np.ndarray], P: int, R: float) -> StoredPatterns:
    """One stored pattern per example, s = 1; M is the mean number of examples per archetype."""
    from biosim.networks.dense_hebbian.target import StoredPatterns

    S = np.concatenate(examples).astype(np.int32)
    label = np.repeat(np.arange(len(examples), dtype=np.int64), [len(e) for e in examples])
    M = len(S) / len(examples)
    return StoredPatterns(S, np.ones(len(S), np.int64), label, 1 / (2 * M * R ** (P / 2)))
