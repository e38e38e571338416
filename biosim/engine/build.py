"""Builder: turn a Network description into the flat arrays the fused kernel works on.

Storage choices (per synapse): int32 target index; weights float64 for plastic projections,
float32 for static ones, and no array at all for a static projection with one shared weight;
delays (in steps) uint8/uint16/int32 only when they differ between synapses. Plastic projections
add a post-to-synapse index (int32 synapse id + int32 pre id) built once from the CSR.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from biosim.engine.network import MAX_PLASTIC_SYNAPSES, Network, Population, Projection, realize
from biosim.engine.neurons import FLAG_BLOCK, NEVER
from biosim.engine.plasticity import SpikingPlasticity, SynapseDevice
from biosim.engine.threads import block_bounds, row_segments
from biosim.streams import stream, stream_key


@dataclass
class SpikeCounters:
    """Per-neuron spike statistics the kernel keeps for every population (never truncated):
    spike count, step of the last spike, and the sum and sum of squares of inter-spike intervals (steps)."""

    count: np.ndarray  # int64[n]
    last: np.ndarray  # int64[n]
    isi_sum: np.ndarray  # int64[n]
    isi_sq: np.ndarray  # float64[n]

    @classmethod
    def zeros(cls, n: int) -> SpikeCounters:
        """Counters for ``n`` neurons, all zero."""
        return cls(np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n))

    def statistics(self, dt: float) -> dict[str, np.ndarray]:
        """Counts and ISI sums in seconds (``biosim.analysis.spike_statistics``' layout)."""
        return {"count": self.count.copy(), "isi_sum": self.isi_sum * dt, "isi_sq": self.isi_sq * dt * dt}


@dataclass
class BuiltPopulation:
    """A population's arrays: state ``S`` (SI), last spike steps, spike list, parameter record, inputs."""

    index: int
    spec: Population
    spk: np.ndarray
    S: np.ndarray | None = None  # float64[n_vars, n]
    last: np.ndarray | None = None
    flags: np.ndarray | None = None  # uint8 spike-flag scratch of the update kernel
    P: tuple | None = None  # the model's parameter record
    has_input: np.ndarray | None = None  # uint8[1]: 0 when no neuron has external input in the coming chunk
    prob: float = 0.0  # poisson: spike probability per step
    rng: np.random.Generator | None = None  # poisson: the population's own stream
    perm: np.ndarray | None = None
    gen_steps: np.ndarray | None = None
    gen_idx: np.ndarray | None = None
    gen_cursor: np.ndarray | None = None
    cur_steps: np.ndarray | None = None
    cur_values: np.ndarray | None = None
    cur_cursor: np.ndarray | None = None
    timed: np.ndarray | None = None  # float64[steps, n]: the replayed i_ext (0 rows: none)
    counts: SpikeCounters | None = None  # per-neuron counters (every population), never truncated
    bounds: np.ndarray | None = None  # int64[T + 1]: thread c updates neurons bounds[c]:bounds[c + 1]
    block_spikes: np.ndarray | None = None  # int64[T]: spikes of block c this step, at spk[bounds[c]:]
    spikes: np.ndarray | None = None  # int32[n]: the step's spikes of all blocks, in order (thread 0's copy)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def n(self) -> int:
        return self.spec.n

    def row(self, var: str) -> int:
        return list(self.spec.model.state_vars).index(var)


@dataclass
class BuiltProjection:
    """A projection's CSR connectivity, weights (target's unit), delays (steps) and plasticity arrays."""

    index: int
    spec: Projection
    pre: BuiltPopulation
    post: BuiltPopulation
    target_row: int
    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray | None  # None: every synapse has weight ``weight_const``
    weight_const: float
    delays: np.ndarray | None  # None: every synapse has delay ``delay_const`` steps
    delay_const: int
    ring: str | None = None  # key of the ring buffer of delayed input, if any delay > 0
    rule: SpikingPlasticity | None = None  # the rule's Numba implementation, for plastic projections
    plasticity: dict[str, Any] = field(default_factory=dict)  # its arrays
    device: SynapseDevice | None = None  # the device holding the weights, if any
    device_rng: np.random.Generator | None = None  # its writes' stream (write noise, stochastic rounding)
    segments: np.ndarray | None = None  # int64[n_pre, T + 1]: row i's synapses onto post block c (threads.row_segments)

    @property
    def n_synapses(self) -> int:
        return int(self.indices.shape[0])

    @property
    def max_delay(self) -> int:
        return int(self.delays.max()) if self.delays is not None and self.delays.size else self.delay_const

    def nbytes(self) -> int:
        arrays = [self.indptr, self.indices, self.segments, self.weights, self.delays, *self.plasticity.values(),
                  self.device.state if self.device is not None else None]
        return sum(a.nbytes for a in arrays if isinstance(a, np.ndarray))


@dataclass
class BuiltNetwork:
    """Everything the fused kernel works on, built from one Network."""

    network: Network
    populations: dict[str, BuiltPopulation]
    projections: dict[str, BuiltProjection]
    rings: dict[str, tuple[BuiltPopulation, int, np.ndarray]]  # key -> (post, row, float64 or float32 [D, n])
    drive_keys: list[int]  # one counter-based key per Poisson drive (``drive.stream``), in network.drives order
    threads: int = 1  # the fused kernel's thread count (``biosim.engine.threads``)
    # ring key -> write-combining queues (targets, weights: threads x D x QUEUE_CAPACITY; counts: threads x D) of
    # the rings that only projections with a delay per synapse write, when ``queued`` (kernels.propagate_queued)
    queues: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def dt(self) -> float:
        return self.network.dt


#: a ring larger than this (this machine's L2 per core) that synapses with their own delays write gets
#: write-combining queues: scattered over all its rows, each event would miss the caches (the full microcircuit:
#: 34 ns per event against 1-4 ns into a ring row that stays in cache)
QUEUE_MIN_BYTES = 1 << 20
QUEUE_CAPACITY = 2048  # events per thread and ring row before the queue is added into the row


def queued(shape: tuple[int, int], itemsize: int, threads: int) -> bool:
    """Whether a ring of ``shape`` (rows, neurons) gets queues: larger than ``QUEUE_MIN_BYTES``, and its queues
    (uint32 target and a weight per event, per thread and row) no larger than itself."""
    ring = shape[0] * shape[1] * itemsize
    return ring > QUEUE_MIN_BYTES and threads * shape[0] * QUEUE_CAPACITY * (4 + itemsize) <= ring


def aligned_zeros(shape: int | tuple[int, ...], dtype=np.float64, align: int = 64) -> np.ndarray:
    """Zeroed C-contiguous array whose data starts on an ``align``-byte (cache-line) boundary.

    Vectorised kernels stream state arrays every step; a base address off the cache line makes
    every 64-byte vector load straddle two lines (CUBA: 0.25 instead of 0.22 s per 10 s)."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape))
    raw = np.zeros(count * dtype.itemsize + align, np.uint8)
    start = -raw.ctypes.data % align
    return raw[start:start + count * dtype.itemsize].view(dtype).reshape(shape)


def _build_population(index: int, spec: Population, dt: float, seed: int, threads: int) -> BuiltPopulation:
    model = spec.model
    pop = BuiltPopulation(index, spec, spk=np.zeros(spec.n, np.int32), counts=SpikeCounters.zeros(spec.n),
                          block_spikes=np.zeros(threads, np.int64), spikes=np.zeros(spec.n, np.int32))
    # a source's spikes are drawn by thread 0 alone: all its neurons are block 0
    pop.bounds = block_bounds(spec.n, threads) if spec.kind == "neuron" else \
        np.array([0] + [spec.n] * threads, np.int64)
    if spec.kind == "neuron":
        defaults = model.default_state()
        rng = stream(seed, f"init/{spec.name}")
        pop.S = aligned_zeros((len(model.state_vars), spec.n))
        for k, var in enumerate(model.state_vars):
            pop.S[k] = realize(spec.init.get(var, defaults[var]), rng, spec.n)
        pop.last = aligned_zeros(spec.n, np.int32)
        pop.last[:] = NEVER
        pop.flags = aligned_zeros(-(-spec.n // FLAG_BLOCK) * FLAG_BLOCK, np.uint8)
        pop.P = model.params(dt)
        if "noise_key" in pop.P._fields:  # a model drawing random numbers: its counter-based stream's key
            pop.P = pop.P._replace(noise_key=stream_key(seed, f"noise/{spec.name}"))
        pop.has_input = np.ones(1, np.uint8)
        steps = spec.current_steps
        pop.cur_steps = np.array([round(t / dt) for t, _ in steps], np.int64)
        pop.cur_values = np.array([v for _, v in steps], np.float64)
        pop.cur_cursor = np.zeros(threads, np.int64)  # one per thread
        pop.timed = spec.timed_input if spec.timed_input is not None else np.zeros((0, spec.n))
    elif spec.kind == "poisson":
        pop.prob = model.rate * dt  # in [0, 1): checked by Network.add_population
        pop.rng = stream(seed, f"poisson/{spec.name}")
        pop.perm = np.arange(spec.n, dtype=np.int32)
    else:
        pop.gen_steps, pop.gen_idx = model.schedule(dt)  # checked by add_population
        pop.gen_cursor = np.zeros(1, np.int64)
    return pop


def _delay_array(steps: np.ndarray) -> np.ndarray:
    top = int(steps.max()) if steps.size else 0
    dtype = np.uint8 if top < 2**8 else np.uint16 if top < 2**16 else np.int32
    return steps.astype(dtype)


def _build_projection(index: int, spec: Projection, pops: dict[str, BuiltPopulation], dt: float,
                      seed: int) -> BuiltProjection:
    pre, post = pops[spec.pre], pops[spec.post]
    indptr, indices, order = spec.connector.connect(pre.n, post.n, spec.pre == spec.post,
                                                    stream(seed, f"connect/{spec.name}"))
    n_syn = indices.shape[0]
    rng = stream(seed, f"synapses/{spec.name}")
    rule = spec.rule
    plastic = rule.plastic

    def per_synapse(value: Any, dtype: Any = np.float64, transform: Any = None) -> np.ndarray:
        values = realize(value, rng, n_syn, dtype, transform)
        return values[order] if order is not None and np.ndim(value) == 1 else values

    scalar_weight = np.ndim(spec.weight) == 0 and not hasattr(spec.weight, "sample")
    weights, weight_const = None, float(spec.weight) if scalar_weight else 0.0
    if plastic:
        weights = per_synapse(spec.weight)  # within the rule's bounds: checked by Network.connect
    elif not scalar_weight:
        weights = per_synapse(spec.weight, np.float32)

    # delays are >= 0 and on the grid, or sampled from [dt/2, ...): checked by Network.connect
    if np.ndim(spec.delay) == 0 and not hasattr(spec.delay, "sample"):  # one delay: no per-synapse array at all
        delay_steps = np.rint(np.array([float(spec.delay)]) / dt).astype(np.int64)
    elif hasattr(spec.delay, "sample"):  # the nearest step, at least one ([dt/2, 3dt/2) -> 1, as NEST rounds)
        delay_steps = per_synapse(spec.delay, np.int32, lambda seconds: np.maximum(np.rint(seconds / dt), 1))
    else:
        delay_steps = per_synapse(spec.delay, np.int32, lambda seconds: np.rint(seconds / dt))
    uniform = delay_steps.size == 0 or delay_steps.min() == delay_steps.max()
    delays = None if uniform else _delay_array(delay_steps)
    delay_const = int(delay_steps[0]) if uniform and delay_steps.size and n_syn else 0

    segments, ordered = row_segments(indptr, indices, post.bounds)
    if not ordered:
        raise ValueError(f"projection {spec.name!r}: connector {type(spec.connector).__name__} returned rows whose "
                         "targets are not in increasing order; a connector must sort each row (CSR)")
    built = BuiltProjection(index, spec, pre, post, post.row(spec.target), indptr, indices, weights,
                            weight_const, delays, delay_const, segments=segments)
    if plastic:
        built.rule = rule.implementation("numba", dt=dt)
        built.plasticity = _plasticity_arrays(built.rule, pre, post, indptr, indices, dt)
    if spec.device is not None:  # the initial weights programmed onto the devices
        built.device = spec.device.synapses(weights, rule.weight_bounds(), dt, stream(seed, f"device/{spec.name}"))
        built.weights = np.ascontiguousarray(built.device.weights, np.float64)
        built.device_rng = stream(seed, f"device_writes/{spec.name}")
    return built


def _plasticity_arrays(rule: SpikingPlasticity, pre: BuiltPopulation, post: BuiltPopulation, indptr: np.ndarray,
                       indices: np.ndarray, dt: float) -> dict[str, Any]:
    n_syn = indices.shape[0]
    if n_syn > MAX_PLASTIC_SYNAPSES:  # a connector without an expected count escaped Network.connect's check
        raise ValueError(f"projection {pre.name!r} -> {post.name!r} drew {n_syn} synapses; a plastic projection "
                         f"holds at most {MAX_PLASTIC_SYNAPSES} (int32 synapse ids)")
    pre_ids = np.repeat(np.arange(pre.n, dtype=np.int32), np.diff(indptr))
    col_syn = np.argsort(indices, kind="stable").astype(np.int32)  # synapses grouped by post neuron
    col_ptr = np.zeros(post.n + 1, np.int64)
    col_ptr[1:] = np.cumsum(np.bincount(indices, minlength=post.n))
    arrays: dict[str, Any] = {
        "params": rule.params,
        "syn": np.zeros((len(rule.synapse_vars), n_syn)),
        "col_ptr": col_ptr,
        "col_syn": col_syn,
        "col_pre": pre_ids[col_syn],
    }
    for side, traces, n in (("pre", rule.pre_traces, pre.n), ("post", rule.post_traces, post.n)):
        arrays[f"{side}_tr"] = aligned_zeros((len(traces), n))
        arrays[f"{side}_decay"] = np.array([np.exp(-dt / tr.tau) for tr in traces], np.float64)
        arrays[f"{side}_nearest"] = np.array([tr.nearest for tr in traces], np.bool_)
    if rule.modulator is not None:
        arrays["mod_level"] = np.zeros(1)
        arrays["mod_decay"] = float(np.exp(-dt / rule.modulator.tau))
        arrays["mod_jump"] = float(rule.modulator.jump)
    return arrays


def build(network: Network, threads: int = 1) -> BuiltNetwork:
    """Allocate state, draw connectivity, weights and delays. Deterministic given network.seed: every random
    consumer has its own stream (``biosim.streams``) named after it: ``init/<population>``,
    ``poisson/<population>``, ``connect/<projection>``, ``synapses/<projection>``, ``drive/<population>/<target>``
    ``device/<projection>``, ``device_writes/<projection>`` and ``noise/<population>`` (the key of an equation model's
    counter-based draws) (so adding a consumer leaves every other one's draws
    unchanged). ``threads``: the partition of neurons and synapses into one block per thread."""
    seed = network.seed
    pops = {name: _build_population(k, spec, network.dt, seed, threads)
            for k, (name, spec) in enumerate(network.populations.items())}
    projections = {name: _build_projection(k, spec, pops, network.dt, seed)
                   for k, (name, spec) in enumerate(network.projections.items())}
    targets: dict[str, tuple[BuiltPopulation, int]] = {}  # ring key -> (post, row), in order of first use
    depth: dict[str, int] = {}
    single: dict[str, bool] = {}  # every projection into the ring has float32 weights: summed in float32
    scattered: dict[str, bool] = {}  # every projection into the ring has a delay per synapse: it may be queued
    for proj in projections.values():
        if proj.max_delay > 0:
            key = f"{proj.post.index}_{proj.target_row}"
            targets.setdefault(key, (proj.post, proj.target_row))
            depth[key] = max(proj.max_delay + 1, depth.get(key, 0))
            single[key] = single.get(key, True) and proj.weights is not None and proj.weights.dtype == np.float32
            scattered[key] = scattered.get(key, True) and proj.delays is not None
            proj.ring = key
    rings = {key: (post, row, aligned_zeros((depth[key], post.n), np.float32 if single[key] else np.float64))
             for key, (post, row) in targets.items()}
    # queued rings receive each element's additions in the order of projections, spikes and synapses whenever a
    # queue is flushed: bit-identical to direct writes
    queues = {key: (np.zeros((threads, ring.shape[0], QUEUE_CAPACITY), np.uint32),
                    np.zeros((threads, ring.shape[0], QUEUE_CAPACITY), ring.dtype),
                    np.zeros((threads, ring.shape[0]), np.int64))
              for key, (_, _, ring) in rings.items() if scattered[key] and queued(ring.shape, ring.itemsize, threads)}
    drive_keys = [stream_key(seed, drive.stream) for drive in network.drives]
    return BuiltNetwork(network, pops, projections, rings, drive_keys, threads, queues)
