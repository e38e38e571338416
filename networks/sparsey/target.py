"""The ``sparsey_mac`` target: the binary afferent weights of a Sparsey macrocolumn.

Declared once, here, beside the macs that run it (``mac``, ``hierarchy``). A rule's ``numba`` builder returns a
:class:`MacRuleKernels`; the mac binds ``learn`` into its generated code (``biosim.engine.codegen.bind_kernels``)
and passes ``params`` as its ``p``. Kernel contract (a module-level ``@njit(cache=True)`` function):
``learn(W, active, winners, p, rng) -> new`` sets weights of the binary matrix ``W`` (uint8[inputs, Q*K]) from
the active afferents ``active`` onto the chosen code ``winners`` (one cell index per competitive module),
drawing any randomness from the mac's ``np.random.Generator`` ``rng``, and returns how many weights went from
0 to 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from biosim.registry import register
from biosim.targets import Target


class MacRuleKernels(NamedTuple):
    """What the Numba engine runs for a rule on a Sparsey mac."""

    learn: Callable[..., Any]  # @njit learn(W, active, winners, p, rng) -> weights newly set
    params: tuple  # the rule's typed parameter record (a NamedTuple): Numba compiles per type, not per value


register("target", "sparsey_mac")(Target(
    description="binary afferent weights of a Sparsey macrocolumn onto its chosen codes",
    implementation=MacRuleKernels, backends=("numba",)))
