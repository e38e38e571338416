"""The ``dendritic_segments`` target: the permanences of the synapses on dendritic segments.

Declared once, here, beside the segment store (``segments``) whose engines run it (the temporal memory). A rule's
``numba`` builder returns a :class:`SegmentRuleKernels`; the engine binds ``learn`` and ``punish`` into its
generated loop (``biosim.engine.codegen.bind_kernels``) and passes ``params`` as their ``p``. Kernel contract
(module-level ``@njit(cache=True)`` functions; ``st`` is a ``segments.Segments`` store):

* ``learn(st, seg, prev_active, winners, n_winners, n_active_potential, p, max_synapses, scratch, rng)``: the
  segment chosen to learn this step (it was active and its column became active, or it matched best in a
  bursting column, or it was just created, with ``n_active_potential = 0``); ``prev_active`` is a 0/1 mask of
  the previously active cells, ``winners[:n_winners]`` the previous winner cells (the cells new synapses may
  come from), ``scratch`` a zeroed uint8 mask the kernel leaves zeroed, ``rng`` the engine's
  ``np.random.Generator``;
* ``punish(st, seg, prev_active, p)``: a matching segment whose cell was predicted but whose column stayed
  inactive.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from biosim.registry import register
from biosim.targets import Target


class SegmentRuleKernels(NamedTuple):
    """What the Numba engine runs for a rule on dendritic segments."""

    learn: Callable[..., Any]  # @njit learn(st, seg, prev_active, winners, n_winners, n_active_potential, p, ...)
    punish: Callable[..., Any]  # @njit punish(st, seg, prev_active, p)
    params: tuple  # the rule's typed parameter record (a NamedTuple): Numba compiles per type, not per value


register("target", "dendritic_segments")(Target(
    description="permanences of the synapses on dendritic segments (temporal memory, SDR neurons)",
    implementation=SegmentRuleKernels, backends=("numba",)))
