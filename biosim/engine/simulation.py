"""Run a network: build, load the fused kernel, advance chunk by chunk, flush monitors.

Python is entered only between chunks (progress bar, monitor flushing, weight snapshots, checks
for NaN/inf and Ctrl-C). A run stopped by divergence or an interrupt keeps everything recorded so
far and reports ``complete = False`` with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from biosim.engine.build import BuiltNetwork, build
from biosim.engine.codegen import MonitorBuffers, load_kernel, plan_kernel
from biosim.engine.network import SPIKE_BUFFER, Network, check_duration, check_run_length
from biosim.engine.threads import resolve_threads, run_parallel
from biosim.errors import did_you_mean
from biosim.family import DIVERGED, INTERRUPTED
from biosim.interrupts import Interrupts
from biosim.streams import stream


@dataclass
class Recording:
    """Everything a run recorded, in SI units, saveable as one ``.npz``: ``dt`` (s), population ``sizes``, spike
    ``(times s, indices)`` (at most ``max_spikes`` per population: ``truncated`` names those cut off), per-neuron
    ``spike_stats`` (count, ISI sum s, ISI sum of squares s^2; never truncated, rates and CVs come from these),
    population ``rates`` (Hz per step), ``states``, ``weights``, the ``dimensions`` of recorded states ("pop.var")
    and weights (projection name: the dimension of the variable its weight targets), the ``duration`` run (s) and
    how it stopped."""

    dt: float
    sizes: dict[str, int]
    spikes: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # (times s, indices)
    spike_stats: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # pop -> count, isi_sum, isi_sq
    truncated: set[str] = field(default_factory=set)  # populations whose spike monitor hit max_spikes
    rates: dict[str, np.ndarray] = field(default_factory=dict)  # Hz per step
    states: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # "pop.var" -> times, values
    weights: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # proj -> times, synapses, w
    dimensions: dict[str, str] = field(default_factory=dict)  # "pop.var" or projection -> dimension
    duration: float = 0.0
    complete: bool = True
    stop_reason: str = "finished"
    notes: list[str] = field(default_factory=list)

    FILE: ClassVar[str] = "recording.npz"

    def save(self, run_dir: Path) -> Path:
        """Write everything into ``run_dir/recording.npz``."""
        path = Path(run_dir) / self.FILE
        arrays: dict[str, np.ndarray] = {"dt": np.array(self.dt), "duration": np.array(self.duration)}
        for pop, n in self.sizes.items():
            arrays[f"size/{pop}"] = np.array(n)
        for pop, (times, idx) in self.spikes.items():
            arrays[f"spikes/{pop}/t"], arrays[f"spikes/{pop}/i"] = times, idx
        for pop, rate in self.rates.items():
            arrays[f"rates/{pop}"] = rate
        for pop, stats in self.spike_stats.items():
            for column, values in stats.items():
                arrays[f"stats/{pop}/{column}"] = values
        arrays["truncated"] = np.array(sorted(self.truncated), dtype=str)
        for key, dimension in self.dimensions.items():
            arrays[f"dimension/{key}"] = np.array(dimension)
        for group, name in ((self.states, "state"), (self.weights, "weights")):
            for key, table in group.items():
                for column, values in table.items():
                    arrays[f"{name}/{key}/{column}"] = values
        np.savez_compressed(path, **arrays)
        return path

    @classmethod
    def load(cls, run_dir: Path) -> Recording:
        """Read ``run_dir/recording.npz`` back."""
        data = np.load(Path(run_dir) / cls.FILE)
        rec = cls(float(data["dt"]), {}, duration=float(data["duration"]))
        for key in data.files:
            parts = key.split("/")
            if parts[0] == "size":
                rec.sizes[parts[1]] = int(data[key])
            elif parts[0] == "spikes" and parts[2] == "t":
                rec.spikes[parts[1]] = (data[key], data[f"spikes/{parts[1]}/i"])
            elif parts[0] == "rates":
                rec.rates[parts[1]] = data[key]
            elif parts[0] == "stats":
                rec.spike_stats.setdefault(parts[1], {})[parts[2]] = data[key]
            elif parts[0] == "dimension":
                rec.dimensions[parts[1]] = str(data[key])
            elif parts[0] == "truncated":
                rec.truncated = set(data[key].tolist())
            elif parts[0] in ("state", "weights"):
                table = rec.states if parts[0] == "state" else rec.weights
                table.setdefault(parts[1], {})[parts[2]] = data[key]
        return rec


@dataclass
class Timing:
    """Wall time (s) spent building arrays, loading or compiling kernels, and simulating."""

    build_s: float = 0.0
    jit_s: float = 0.0
    sim_s: float = 0.0


class Simulation:
    """Build a network once, then ``run`` it (repeatedly, continuing where it stopped). ``chunk`` (s): biological
    time per compiled call (Python runs only between chunks); ``spike_capacity``: spike-monitor buffer entries per
    chunk and population; ``threads``: threads of the compiled loop (``"auto"``: one per 10,000 neurons up to the
    cores the process may use, or the environment variable ``BIOSIM_THREADS``); results are the same for any count.
    Refuses a network that will not fit in the available memory (``Network.check_memory``)."""

    def __init__(self, network: Network, *, chunk: float = 0.1, spike_capacity: int = SPIKE_BUFFER,
                 threads: int | str = "auto"):
        self.network = network
        self.timing = Timing()
        self.threads = resolve_threads(threads, sum(p.n for p in network.populations.values()))
        network.check_memory(spike_capacity=spike_capacity, threads=self.threads)
        start = time.perf_counter()
        self.net: BuiltNetwork = build(network, self.threads)
        self.timing.build_s = time.perf_counter() - start
        self.chunk_steps = max(1, round(chunk / network.dt))
        for record in network.weight_records:  # weight snapshots happen at chunk boundaries
            self.chunk_steps = min(self.chunk_steps, max(1, round(record.every / network.dt)))
        self.spike_capacity = spike_capacity
        start = time.perf_counter()
        plan, self.buffers = plan_kernel(self.net, self.chunk_steps, spike_capacity)
        self.source = plan.source()
        self._kernel = load_kernel(plan)
        self._args = list(plan.args.values())
        self._arg_names = list(plan.args)
        self._clock, self._bar = plan.args["clock"], plan.args["bar"]
        self._call(0, 0)  # compile, or load the cached machine code
        self.timing.jit_s = time.perf_counter() - start
        self._weight_samples = {rec.projection: self._sample_synapses(rec.projection, rec.max_synapses)
                                for rec in network.weight_records}
        self._start()

    def _start(self) -> None:
        """Step 0, an empty recording, the first weight snapshot."""
        network = self.network
        self.step = 0
        self.recording = Recording(network.dt, {p.name: p.n for p in network.populations.values()},
                                   dimensions=network.recorded_dimensions())
        self._pieces: dict[str, list] = {}
        self._spikes_kept: dict[str, int] = {}  # per population: spikes already moved into _pieces
        self._snapshot_weights()

    def restart(self, weights: dict[str, Any] | None = None) -> None:
        """Go back to step 0 as built: every state variable, spike counter, delay buffer, plasticity variable,
        random stream and monitor as the network's seed made them, so that the same run comes again, with
        ``weights`` (projection name -> one weight per synapse, in the projection's synapse order,
        :meth:`synapses`; SI, the unit of its target) replacing those drawn. The compiled kernel is kept: a training
        loop restarts one Simulation with new weights instead of building and loading a new one. Everything is
        checked before anything changes: a refused restart (ValueError) leaves the Simulation as it was."""
        new_weights = {name: self._checked_weights(name, values) for name, values in (weights or {}).items()}
        fresh = build(self.network, self.threads)
        plan, _ = plan_kernel(fresh, self.chunk_steps, self.spike_capacity)
        changed = "the network changed since this Simulation was built ({}); build a new Simulation"
        if list(plan.args) != self._arg_names:
            raise ValueError(changed.format("its kernel arguments differ"))
        pairs = _arguments(plan.args, self._args, plan.args.values())
        for name, old, new in pairs:
            if isinstance(old, np.ndarray):
                if old.shape != new.shape or old.dtype != new.dtype:
                    raise ValueError(changed.format(f"{name}: {old.shape} -> {new.shape}"))
            elif not isinstance(old, np.random.Generator) and not _same_value(old, new):
                raise ValueError(changed.format(f"{name}: {old!r} -> {new!r}"))
        for _, old, new in pairs:
            if isinstance(old, np.ndarray):
                np.copyto(old, new)
            elif isinstance(old, np.random.Generator):
                old.bit_generator.state = new.bit_generator.state
        for name, values in new_weights.items():
            self.net.projections[name].weights[:] = values
        self._start()

    def _projection(self, name: str):
        if name not in self.net.projections:
            raise ValueError(f"no projection {name!r}{did_you_mean(name, list(self.net.projections))}; projections: "
                             f"{', '.join(self.net.projections) or 'none'}")
        return self.net.projections[name]

    def _checked_weights(self, name: str, values: Any) -> np.ndarray:
        """``values`` as the float64 per-synapse weights of projection ``name``; ValueError if they cannot be."""
        proj = self._projection(name)
        if proj.weights is None:
            raise ValueError(f"projection {name!r} has one shared weight; connect it with one weight per synapse "
                             "to restart it with new ones")
        if hasattr(values, "dim"):
            raise ValueError(f"give the new weights of projection {name!r} as SI numbers, not a Brian2 quantity")
        values = np.asarray(values, dtype=np.float64)
        if values.shape != proj.weights.shape:
            raise ValueError(f"projection {name!r} has {proj.n_synapses} synapses, got weights of shape "
                             f"{values.shape}")
        if not np.isfinite(values).all():
            raise ValueError(f"the new weights of projection {name!r} must be finite")
        return values

    def synapses(self, projection: str) -> tuple[np.ndarray, np.ndarray]:
        """(pre, post) neuron indices of every synapse of ``projection``, in its synapse order (that of
        ``restart``'s weights and of weight recordings)."""
        proj = self._projection(projection)
        return np.repeat(np.arange(proj.pre.n), np.diff(proj.indptr)), proj.indices.astype(np.int64)

    # ----------------------------------------------------------------------------------------
    def run(self, duration: Any, *, progress: bool = False, callback: Callable[[int], Any] | None = None,
            interrupts: Interrupts | None = None) -> Recording:
        """Advance by ``duration`` (s, or text such as ``"1 s"``) and return the recording, which holds every
        segment since the start (a second ``run`` continues it; the same object is returned, grown).
        ``progress`` shows a progress bar; ``callback(step)`` runs after every chunk. Ctrl-C or SIGTERM stops at
        the next chunk boundary (through ``interrupts`` when the caller already holds the handler), keeping what
        was recorded, with ``complete = False``."""
        dt = self.network.dt
        duration = check_duration(duration, dt)
        total = self.step + round(duration / dt)
        check_run_length(total, dt)
        bar = progress_bar(total - self.step, dt, progress)
        start = time.perf_counter()
        with (nullcontext(interrupts) if interrupts is not None else Interrupts()) as interrupts:
            while self.step < total:
                n = min(self.chunk_steps, total - self.step, self._steps_to_next_snapshot())
                self._mark_external_input()
                self._call(self.step, n)
                done = int(self._clock[0]) - self.step
                self._flush(done)
                self.step += done
                self._snapshot_weights()
                bar.update(done)
                if callback is not None:
                    callback(self.step)
                if not self._finite():
                    self._stop(f"{DIVERGED} in the state")
                    break
                if interrupts.requested:
                    self._stop(INTERRUPTED)
                    break
        bar.close()
        self.timing.sim_s += time.perf_counter() - start
        self.recording.duration = self.step * self.network.dt
        return self._assemble()

    # ----------------------------------------------------------------------------------------
    def _mark_external_input(self) -> None:
        """Set each neuron population's input flag: is i_ext non-zero now or a current step still due?"""
        for pop in self.net.populations.values():
            if pop.S is not None and "i_ext" in pop.spec.model.state_vars:
                pending = pop.cur_cursor.min() < pop.cur_steps.size or pop.timed.shape[0] > 0
                pop.has_input[0] = pending or np.any(pop.S[pop.row("i_ext")])

    def _call(self, t0: int, n: int) -> None:
        """Run the compiled chunk from step ``t0`` for up to ``n`` steps on every thread (``clock`` says how far)."""
        run_parallel(self._kernel, self.threads, self._bar, t0, n, self._args)

    def _stop(self, reason: str) -> None:
        self.recording.complete = False
        self.recording.stop_reason = reason

    def _finite(self) -> bool:
        states = [p.S for p in self.net.populations.values() if p.S is not None]
        weights = [p.weights for p in self.net.projections.values() if p.plasticity]
        return all(np.isfinite(a).all() for a in states + weights)

    def _flush(self, done: int) -> None:
        buffers: MonitorBuffers = self.buffers
        limit = self.network.max_spikes
        for pop, (idx, steps, pos) in buffers.spikes.items():
            count = int(pos[0])
            stored = self._spikes_kept.get(pop, 0)
            keep = max(0, min(count, limit - stored))
            self._spikes_kept[pop] = stored + keep
            note = f"spike monitor of {pop!r} stopped at max_spikes = {limit}; rates and CVs use all spikes"
            if keep < count and pop not in self.recording.truncated:
                self.recording.truncated.add(pop)
                self.recording.notes.append(note)
            self._pieces.setdefault(f"spk/{pop}", []).append((idx[:keep].copy(), steps[:keep].copy()))
            pos[0] = 0
        for pop, counts in buffers.rates.items():
            self._pieces.setdefault(f"rate/{pop}", []).append(counts[:done].copy())
        for r, (values, steps, pos) in enumerate(buffers.states):
            count = int(pos[0])
            self._pieces.setdefault(f"state/{r}", []).append((steps[:count].copy(), values[:count].copy()))
            pos[0] = 0

    def _sample_synapses(self, projection: str, max_synapses: int) -> np.ndarray:
        n = self.net.projections[projection].n_synapses
        if n <= max_synapses:
            return np.arange(n)
        rng = stream(self.network.seed, f"weight_monitor/{projection}")
        return np.sort(rng.choice(n, max_synapses, replace=False))

    def _steps_to_next_snapshot(self) -> int:
        gaps = [self._snapshot_every(rec) - self.step % self._snapshot_every(rec)
                for rec in self.network.weight_records]
        return min(gaps, default=self.chunk_steps)

    def _snapshot_every(self, record) -> int:
        return max(1, round(record.every / self.network.dt))

    def _snapshot_weights(self) -> None:
        for rec in self.network.weight_records:
            if self.step % self._snapshot_every(rec):
                continue
            proj = self.net.projections[rec.projection]
            sample = self._weight_samples[rec.projection]
            w = proj.weights[sample] if proj.weights is not None else np.full(sample.size, proj.weight_const)
            self._pieces.setdefault(f"w/{rec.projection}", []).append((self.step, w.astype(np.float64)))

    def _assemble(self) -> Recording:
        rec, dt, pieces = self.recording, self.network.dt, self._pieces
        for pop in self.network.spike_records:
            parts = pieces.get(f"spk/{pop}", [])
            idx = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int32)
            steps = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int32)
            rec.spikes[pop] = (steps.astype(np.float64) * dt, idx)
        for pop, built in self.net.populations.items():
            rec.spike_stats[pop] = built.counts.statistics(dt)
        for pop in self.network.rate_records:
            parts = pieces.get(f"rate/{pop}", [])
            counts = np.concatenate(parts) if parts else np.zeros(0, np.int32)
            rec.rates[pop] = counts / (rec.sizes[pop] * dt)
        for r, record in enumerate(self.network.state_records):
            parts = pieces.get(f"state/{r}", [])
            steps = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
            values = np.concatenate([p[1] for p in parts]) if parts else np.zeros((0, len(record.variables), 0))
            for a, var in enumerate(record.variables):
                rec.states[f"{record.population}.{var}"] = {
                    "t": steps * dt, "values": values[:, a, :], "indices": np.asarray(record.indices)}
        for record in self.network.weight_records:
            parts = pieces.get(f"w/{record.projection}", [])
            rec.weights[record.projection] = {
                "t": np.array([p[0] for p in parts], np.float64) * dt,
                "w": np.array([p[1] for p in parts]),
                "synapses": self._weight_samples[record.projection],
            }
        return rec

    def memory_bytes(self) -> dict[str, int]:
        """Bytes held by connectivity (per projection) and by monitor buffers."""
        sizes = {f"projection/{name}": p.nbytes() for name, p in self.net.projections.items()}
        buffers = sum(a.nbytes for trio in self.buffers.spikes.values() for a in trio)
        buffers += sum(a.nbytes for a in self.buffers.rates.values())
        buffers += sum(a.nbytes for trio in self.buffers.states for a in trio)
        sizes["monitor_buffers"] = buffers
        return sizes


def _arguments(names: Any, old: Any, new: Any) -> list[tuple[str, Any, Any]]:
    """``(name, old, new)`` of each kernel argument; a typed list of arrays gives its length, then its arrays."""
    from numba.typed import List

    pairs = []
    for name, a, b in zip(names, old, new, strict=True):
        if isinstance(a, List):
            pairs.append((f"{name} (length)", len(a), len(b)))
            pairs += [(f"{name}[{k}]", x, y) for k, (x, y) in enumerate(zip(a, b, strict=False))]
        else:
            pairs.append((name, a, b))
    return pairs


def _same_value(a: Any, b: Any) -> bool:
    """Whether two non-array kernel arguments (numbers, parameter records) are equal, arrays inside compared by
    value."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and type(a) is type(b) and all(_same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b)
    return a == b


def progress_bar(total_steps: int, dt: float, enabled: bool):
    """A tqdm bar over ``total_steps`` steps of ``dt`` (s) when ``enabled`` (and the output is a terminal)."""
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total_steps, unit="step", unit_scale=True, desc="simulating", leave=False, disable=None,
                postfix={"bio_s": f"{total_steps * dt:g}"})


class _NoBar:
    """What a disabled progress bar does: nothing."""

    n = 0

    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass
