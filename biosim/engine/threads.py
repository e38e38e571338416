"""Threads for the fused loop: neurons and synaptic targets partitioned into one block per thread, a spin
barrier between a step's phases, and the Python threads that run one compiled chunk each.

Every thread runs the same compiled chunk (``run_chunk(c, T, ...)``) over its block ``c`` of every population:
the neuron update, then (after a barrier) the delivery of all of the step's spikes to the targets in its block,
the delayed input and drives of its block and the resets of its spikes; thread 0 alone then runs what reads
the whole network (plasticity, monitors, spike counters). A target receives its input in the same order as with
one thread (spikes in neuron order, each row's synapses in order), so results are bit-identical for any thread
count, with no atomic additions. The barrier is the only synchronisation: a counter each thread increments,
spun on with atomic loads (yielding the core after a while, so more threads than cores still progress).
"""

from __future__ import annotations

import os
import threading
import warnings
from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

BLOCK_ALIGN = 64  # neurons: block bounds are multiples of this (the spike-flag scan's block; 512 B of float64)
AUTO_NEURONS = 10_000  # "auto" uses one thread per this many neurons, up to the cores the process may use
_SPINS = 4000  # barrier polls before yielding the core


@intrinsic
def _atomic_add(typingctx, ary, i, value):
    """``ary[i] += value`` as one sequentially consistent atomic read-modify-write (int64)."""
    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ptr = cgutils.get_item_pointer(context, builder, aryty, context.make_array(aryty)(context, builder, args[0]),
                                       [args[1]])
        return builder.atomic_rmw("add", ptr, args[2], "seq_cst")

    return types.int64(ary, i, value), codegen


@intrinsic
def _atomic_load(typingctx, ary, i):
    """``ary[i]`` read with acquire ordering (never hoisted out of a spin loop)."""
    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ptr = cgutils.get_item_pointer(context, builder, aryty, context.make_array(aryty)(context, builder, args[0]),
                                       [args[1]])
        return builder.load_atomic(ptr, "acquire", 8)

    return types.int64(ary, i), codegen


@intrinsic
def _yield_core(typingctx):
    """POSIX ``sched_yield()``."""
    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []), "sched_yield")
        return builder.call(fn, [])

    return types.int32(), codegen


@njit(cache=True, nogil=True)
def barrier(bar, arrivals):
    """Wait until ``bar[0]`` (arrivals so far, this one included) reaches ``arrivals`` = (barriers passed) x T.
    False when another thread aborted (``bar[1]`` set): the caller returns at once."""
    _atomic_add(bar, 0, 1)
    spins = 0
    while _atomic_load(bar, 0) < arrivals:
        if _atomic_load(bar, 1):
            return False
        spins += 1
        if spins > _SPINS:
            _yield_core()
    return True


def block_bounds(n: int, threads: int) -> np.ndarray:
    """``threads + 1`` bounds splitting ``range(n)`` into equal blocks with interior bounds multiples of
    ``BLOCK_ALIGN`` (for n < threads x BLOCK_ALIGN some blocks are empty, the leading ones first)."""
    bounds = [min(n, -(-c * n // threads) // BLOCK_ALIGN * BLOCK_ALIGN) for c in range(threads)] + [n]
    return np.array(bounds, dtype=np.int64)


@njit(cache=True)
def row_segments(indptr, indices, bounds):
    """(seg, ordered): ``seg`` (n_pre, T + 1) positions, row ``i``'s synapses onto block ``c`` being
    ``seg[i, c]:seg[i, c + 1]``; ``ordered`` whether every row's targets are non-decreasing, which the
    positions assume (the built-in connectors' rows are)."""
    n_pre, blocks = indptr.shape[0] - 1, bounds.shape[0]
    seg = np.empty((n_pre, blocks), np.int64)
    ordered = True
    for i in range(n_pre):
        row = indices[indptr[i]:indptr[i + 1]]
        for k in range(1, row.shape[0]):
            if row[k] < row[k - 1]:
                ordered = False
        for c in range(blocks):
            seg[i, c] = indptr[i] + np.searchsorted(row, bounds[c])
        seg[i, blocks - 1] = indptr[i + 1]
    return seg, ordered


def available_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def resolve_threads(threads: int | str | None, neurons: int) -> int:
    """The thread count of a run: an int as given; ``"auto"`` or None one thread per ``AUTO_NEURONS`` neurons
    up to the available cores, unless the environment variable ``BIOSIM_THREADS`` fixes it."""
    if threads in (None, "auto"):
        env = os.environ.get("BIOSIM_THREADS", "auto")
        if env.strip() != "auto":
            return check_threads(env, "the environment variable BIOSIM_THREADS")
        return max(1, min(available_cores(), neurons // AUTO_NEURONS))
    return check_threads(threads, "threads")


def check_threads(value: Any, what: str = "") -> int:
    """``value`` as a positive thread count; ValueError (naming ``what``, if given) otherwise."""
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = 0
    if isinstance(value, bool) or count < 1 or str(count) != str(value).strip():
        raise ValueError(f"{what + ' ' if what else ''}must be 'auto' or a positive whole number of threads, got "
                         f"{value!r} (this process may use {available_cores()} cores)")
    if count > available_cores():
        warnings.warn(f"{count} threads on {available_cores()} cores: the threads wait for each other at every "
                      "step's barriers, so this runs slower than with one thread per core", stacklevel=3)
    return count


def run_parallel(kernel: Any, threads: int, bar: np.ndarray, t0: int, n: int, args: list[Any]) -> int:
    """Run ``kernel(c, threads, t0, n, *args)`` for c = 0 (here) and 1..threads-1 (Python threads, the kernel
    releases the GIL); returns the steps done. An exception in any thread aborts the others at their next
    barrier and is raised here."""
    bar[:] = 0
    if threads == 1:
        return kernel(0, 1, t0, n, *args)
    errors: list[BaseException] = []

    def work(c: int) -> None:
        try:
            kernel(c, threads, t0, n, *args)
        except BaseException as err:  # re-raised by the caller's thread below
            errors.append(err)
            bar[1] = 1

    workers = [threading.Thread(target=work, args=(c,), daemon=True) for c in range(1, threads)]
    started: list[threading.Thread] = []
    try:
        for worker in workers:
            worker.start()
            started.append(worker)
        done = kernel(0, threads, t0, n, *args)
    except BaseException:
        bar[1] = 1  # the started workers leave at their next barrier
        raise
    finally:
        for worker in started:
            worker.join()
    if errors:
        raise errors[0]
    return done
