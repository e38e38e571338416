"""Generate, cache and load the fused simulation kernel of a built network.

The kernel advances the whole network by many steps in one compiled call. Its source is produced
from per-operation templates (Brian2's approach), written to a cache directory under a name that
hashes the source and every module it can call (recursively), and compiled with ``@njit(cache=True)``: a second
process with the same network structure loads machine code instead of compiling. Parameters (typed
NamedTuple records, compiled per type, not per value), weights, sizes and the random streams (a
``np.random.Generator`` per Poisson population, a counter-based key per drive) are runtime arguments, so sweeps
never recompile. Every thread runs the kernel over its blocks (``biosim.engine.threads``).

Per step (Brian2's schedule, resets before plasticity, which reads no neuron variable): record state (start) ->
step currents or timed input -> neuron update + threshold -> barrier -> spike propagation (direct, or into a
delay ring buffer) -> delivery of due delayed input -> Poisson drives -> reset -> [barrier if plastic] ->
thread 0: plasticity, spike monitors and per-neuron spike counters, rate monitors -> barrier.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
import itertools
import json
import os
import sys
import sysconfig
import threading
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import numba
import numpy as np

from biosim.engine import kernels, sources, threads
from biosim.engine.build import BuiltNetwork, BuiltProjection
from biosim.streams import alias_table


def cache_dir() -> Path:
    """Where generated kernel sources live (``$BIOSIM_CACHE_DIR/kernels``, default ``~/.cache/biosim/kernels``)."""
    root = os.environ.get("BIOSIM_CACHE_DIR") or Path.home() / ".cache" / "biosim"
    path = Path(root) / "kernels"
    path.mkdir(parents=True, exist_ok=True)
    return path


def module_closure(source: str) -> list[Path]:
    """The files of every module that ``source`` imports, and of every module those import, recursively: all
    of biosim (``biosim.rules``, ``biosim.networks``, ``biosim.physical`` included), the user's plug-in code and
    installed plug-in packages (those named in the entry-point group ``biosim.plugins``), not the standard library
    or other installed packages (numpy, numba: versioned, not edited in place). This is all the code that a
    compiled function built from ``source`` can call."""
    with _PARSING:
        return _closure(source)


#: CPython 3.11's ``ast.parse`` is not safe in two threads at once ("AST constructor recursion depth mismatch")
_PARSING = threading.Lock()


def _closure(source: str) -> list[Path]:
    files: dict[str, Path] = {}
    imports = _ImportIndex()
    plugins = _installed_plugin_packages()
    pending = _imported_modules(ast.parse(source), "")
    while pending:
        name = pending.pop()
        if name in files or not _may_be_ours(name.partition(".")[0], plugins):
            continue
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):  # ``from module import function``: not a module
            spec = None
        if spec is None or spec.origin is None or not spec.origin.endswith(".py") \
                or not (name.startswith("biosim") or name.partition(".")[0] in plugins
                        or _outside_installed_packages(spec.origin)):
            continue
        files[name] = Path(spec.origin)
        package = name if spec.submodule_search_locations else name.rpartition(".")[0]
        pending |= imports.of(files[name], package)
    imports.save()
    return [files[name] for name in sorted(files)]


class _ImportIndex:
    """The modules each file imports, kept in the kernel cache under a hash of the file's content, so that a
    warm process hashes the closure's files instead of parsing them (0.44 s for biosim's, measured)."""

    def __init__(self) -> None:
        self.path = cache_dir() / "imports.json"
        try:
            entries = json.loads(self.path.read_text())
        except (OSError, ValueError):
            entries = {}
        self.entries: dict[str, list] = entries if isinstance(entries, dict) else {}
        self.changed = False

    def of(self, file: Path, package: str) -> set[str]:
        text = file.read_bytes()
        key = hashlib.sha256(text + package.encode()).hexdigest()[:24]
        if key not in self.entries:
            self.entries[key], self.changed = sorted(_imported_modules(ast.parse(text), package)), True
        return set(self.entries[key])

    def save(self) -> None:
        if self.changed:
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.entries))
            tmp.replace(self.path)
            self.changed = False


def _may_be_ours(top: str, plugins: set[str]) -> bool:
    """Whether a top-level package can hold code the closure follows: biosim, a plug-in package or the user's
    own code. Asked before ``find_spec`` of a dotted name, which would import the package (brian2, torch)."""
    if top.startswith("biosim") or top in plugins:
        return True
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return False
    return spec is not None and spec.origin is not None and _outside_installed_packages(spec.origin)


def _installed_plugin_packages() -> set[str]:
    """Top-level names of the modules that installed packages declare in the entry-point group ``biosim.plugins``
    (an upgrade of such a package may change kernels that a generated module inlines)."""
    from biosim.registry import PLUGIN_GROUP

    return {entry.value.partition(":")[0].partition(".")[0] for entry in entry_points(group=PLUGIN_GROUP)}


def _outside_installed_packages(origin: str) -> bool:
    """Whether a module file is the user's own code (a plug-in), not the standard library or an installed
    package such as numpy or numba."""
    installed = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    return not any(Path(origin).is_relative_to(folder) for folder in installed)


def _imported_modules(tree: ast.AST, package: str) -> set[str]:
    """Names of the modules (and their parent packages) that a module imports."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) if node.level \
                else node.module or ""
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}  # ``from pkg import module``
    return {".".join(name.split(".")[:k]) for name in names for k in range(1, name.count(".") + 2)}


def _sources_digest(source: str) -> str:
    digest = hashlib.sha256(numba.__version__.encode())
    for file in module_closure(source):
        digest.update(str(file).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


@dataclass
class KernelPlan:
    """The generated source and the ordered runtime arguments of ``run_chunk``."""

    imports: dict[str, str] = field(default_factory=dict)  # local alias -> "module:function"
    args: dict[str, Any] = field(default_factory=dict)
    setup: list[str] = field(default_factory=list)
    body: list[str] = field(default_factory=list)

    def arg(self, name: str, value: Any) -> str:
        """Add a runtime argument; returns its name."""
        self.args[name] = value
        return name

    def use(self, function: Any, alias: str) -> str:
        """Import an @njit ``function`` into the generated module as ``alias``; returns the alias."""
        self.imports[alias] = f"{function.__module__}:{function.__name__}"
        return alias

    def emit(self, line: str, indent: int = 2) -> None:
        """Append a line to the per-step loop body."""
        self.body.append("    " * indent + line)

    def source(self) -> str:
        """The generated module's text."""
        lines = ["# generated by biosim.engine.codegen; do not edit", "from numba import njit"]
        for alias, target in sorted(self.imports.items()):
            module, name = target.split(":")
            lines.append(f"from {module} import {name} as {alias}")
        lines += ["", "", "@njit(cache=True, nogil=True)", f"def run_chunk(c, T, t0, n_steps, {', '.join(self.args)}):"]
        lines += ["    " + line for line in self.setup]
        lines += ["    for step in range(n_steps):", "        t = t0 + step"]
        lines += self.body
        lines += ["    return n_steps", ""]
        return "\n".join(lines)


@dataclass
class MonitorBuffers:
    """Per-chunk monitor buffers the kernel fills; the simulation flushes them between chunks."""

    spikes: dict[str, tuple[Any, Any, Any]] = field(default_factory=dict)  # pop -> (idx, steps, pos)
    rates: dict[str, Any] = field(default_factory=dict)  # pop -> int32[chunk]
    states: list[tuple[Any, Any, Any]] = field(default_factory=list)  # (values, steps, pos) per record


def plan_kernel(net: BuiltNetwork, chunk_steps: int, spike_capacity: int) -> tuple[KernelPlan, MonitorBuffers]:
    """The fused kernel of ``net`` for chunks of ``chunk_steps`` steps, and the monitor buffers it fills.

    Each of the ``net.threads`` threads runs it over its block of every population (``biosim.engine.threads``):
    per step, the state monitors' and the neuron update of its block; a barrier; the delivery of every spike to
    the targets in its block, its delayed input, drives and resets; then thread 0 alone (after a second barrier
    when synapses are plastic) runs plasticity, spike monitors and counters over the step's spikes, and a last
    barrier ends the step."""
    plan, buffers = KernelPlan(), MonitorBuffers()
    plan.arg("clock", np.zeros(1, np.int64))
    plan.arg("bar", np.zeros(2, np.int64))
    barrier = plan.use(threads.barrier, "barrier")
    plan.setup.append("arrivals = 0")
    serial: list[str] = []  # thread 0's lines after the synaptic phase
    pops = net.populations
    for pop in pops.values():
        k = pop.index
        plan.arg(f"bounds{k}", pop.bounds), plan.arg(f"nb{k}", pop.block_spikes), plan.arg(f"sp{k}", pop.spikes)
        plan.setup += [f"n{k} = 0", f"lo{k} = bounds{k}[c]", f"hi{k} = bounds{k}[c + 1]"]

    def sync(indent: int = 2) -> None:
        plan.emit("arrivals += T", indent)
        plan.emit(f"if not {barrier}(bar, arrivals):", indent)
        plan.emit("return -1", indent + 1)

    # -- state monitors, at the start of the step (Brian2's 'start' slot): each thread its own neurons ---
    for r, record in enumerate(net.network.state_records):
        pop = pops[record.population]
        k = pop.index
        every = max(1, round(record.every / net.dt))
        rows = np.array([pop.row(v) for v in record.variables], np.int64)
        idx = np.array(record.indices, np.int64)
        values = np.zeros((chunk_steps // every + 1, len(rows), len(idx)))
        steps, pos = np.zeros(values.shape[0], np.int64), np.zeros(1, np.int64)
        buffers.states.append((values, steps, pos))
        for name, value in (("rows", rows), ("idx", idx), ("vals", values), ("steps", steps), ("pos", pos)):
            plan.arg(f"st{r}_{name}", value)
        plan.arg(f"st{r}_every", every)
        S = plan.arg(f"S{k}", pop.S)
        plan.emit(f"if t % st{r}_every == 0:")
        plan.emit(f"pos = st{r}_pos[0]", 3)
        plan.emit(f"for b in range(st{r}_idx.shape[0]):", 3)
        plan.emit(f"if lo{k} <= st{r}_idx[b] < hi{k}:", 4)
        plan.emit(f"for a in range(st{r}_rows.shape[0]):", 5)
        plan.emit(f"st{r}_vals[pos, a, b] = {S}[st{r}_rows[a], st{r}_idx[b]]", 6)
        serial += [f"if t % st{r}_every == 0:", f"    st{r}_steps[st{r}_pos[0]] = t",
                   f"    st{r}_pos[0] += 1"]

    # -- spike-monitor capacity: return early rather than overflow (every thread reads the same count) ----
    for name in net.network.spike_records:
        pop = pops[name]
        k = pop.index
        capacity = max(spike_capacity, 2 * pop.n)
        idx, steps, pos = np.zeros(capacity, np.int32), np.zeros(capacity, np.int32), np.zeros(1, np.int64)
        buffers.spikes[name] = (idx, steps, pos)
        plan.arg(f"sm{k}_idx", idx), plan.arg(f"sm{k}_steps", steps), plan.arg(f"sm{k}_pos", pos)
        plan.emit(f"if sm{k}_pos[0] + {pop.n} > sm{k}_idx.shape[0]:")
        plan.emit("return step", 3)

    # -- groups and thresholds: each thread its own block; sources on thread 0 ------------------------
    for pop in pops.values():
        k = pop.index
        spk = plan.arg(f"spk{k}", pop.spk)
        if pop.spec.kind == "neuron":
            plan.arg(f"S{k}", pop.S), plan.arg(f"last{k}", pop.last), plan.arg(f"P{k}", pop.P)
            plan.arg(f"flags{k}", pop.flags), plan.arg(f"inp{k}", pop.has_input)
            if pop.cur_steps.size:
                fn = plan.use(kernels.apply_current_steps, "apply_current_steps")
                for name in ("cur_steps", "cur_values", "cur_cursor"):
                    plan.arg(f"{name}{k}", getattr(pop, name))
                plan.emit(f"{fn}(S{k}[{pop.row('i_ext')}], cur_steps{k}, cur_values{k}, cur_cursor{k}, c, t, lo{k}, "
                          f"hi{k})")
            if pop.timed.shape[0]:
                fn = plan.use(kernels.apply_timed_input, "apply_timed_input")
                plan.arg(f"timed{k}", pop.timed)
                plan.emit(f"{fn}(S{k}[{pop.row('i_ext')}], timed{k}, t, lo{k}, hi{k})")
            update = plan.use(_checked_update(pop.spec.model), f"update_{pop.spec.model.registry_key}")
            plan.emit(f"nb{k}[c] = {update}(S{k}, last{k}, P{k}, inp{k}, t, flags{k}, {spk}, lo{k}, hi{k})")
            continue
        plan.emit("if c == 0:")
        if pop.spec.kind == "poisson":
            fn = plan.use(sources.poisson_step, "poisson_step")
            plan.arg(f"rng{k}", pop.rng), plan.arg(f"prob{k}", float(pop.prob)), plan.arg(f"perm{k}", pop.perm)
            plan.emit(f"nb{k}[0] = {fn}(rng{k}, prob{k}, perm{k}, {spk})", 3)
        else:
            fn = plan.use(sources.generator_step, "generator_step")
            for name in ("gen_steps", "gen_idx", "gen_cursor"):
                plan.arg(f"{name}{k}", getattr(pop, name))
            plan.emit(f"nb{k}[0] = {fn}(gen_steps{k}, gen_idx{k}, gen_cursor{k}, t, {spk})", 3)
    sync()

    # -- synapses: every spike to the targets of this thread's blocks; delayed delivery, drives, resets --
    for key, (_post, _row, ring) in net.rings.items():
        plan.arg(f"ring{key}", ring)
    _emit_propagation(plan, net)
    for key, (post, row, _ring) in net.rings.items():
        steps, ref = _refractory_gate(post, row)
        b = post.index
        slot = f"t % ring{key}.shape[0]"
        if key in net.queues:
            fn = plan.use(kernels.deliver_queued, "deliver_queued")
            for name, array in zip(("qj", "qw", "qn"), net.queues[key], strict=True):
                plan.arg(f"{name}{key}", array)
            plan.emit(f"{fn}(ring{key}, {slot}, qj{key}, qw{key}, qn{key}, S{b}[{row}], {steps}, t, {ref}, c, lo{b}, "
                      f"hi{b})")
        else:
            fn = plan.use(kernels.deliver, "deliver")
            plan.emit(f"{fn}(ring{key}, {slot}, S{b}[{row}], {steps}, t, {ref}, lo{b}, hi{b})")
    for d, drive in enumerate(net.network.drives):
        pop = pops[drive.population]
        fn = plan.use(kernels.poisson_drive, "poisson_drive")
        k0, pmf = kernels.binomial_pmf(int(drive.n), drive.rate * net.dt)
        threshold, alias, shift = alias_table(pmf)
        plan.arg(f"drive{d}_key", net.drive_keys[d]), plan.arg(f"drive{d}_threshold", threshold)
        plan.arg(f"drive{d}_alias", alias), plan.arg(f"drive{d}_k0", k0), plan.arg(f"drive{d}_shift", np.uint64(shift))
        plan.arg(f"drive{d}_w", float(drive.weight))
        plan.arg(f"drive{d}_bits", np.empty(pop.spec.n, dtype=np.uint64))
        row, b = pop.row(drive.target), pop.index
        steps, ref = _refractory_gate(pop, row)
        plan.emit(f"{fn}(drive{d}_key, S{b}[{row}], drive{d}_threshold, drive{d}_alias, drive{d}_k0, "
                  f"drive{d}_shift, drive{d}_w, {steps}, t, {ref}, drive{d}_bits, lo{b}, hi{b})")
    for pop in pops.values():
        if pop.spec.kind == "neuron":
            k = pop.index
            reset = plan.use(pop.spec.model.kernels()[1], f"reset_{pop.spec.model.registry_key}")
            plan.emit(f"{reset}(S{k}, P{k}, spk{k}[lo{k}:], nb{k}[c])")
    plastic = [proj for proj in net.projections.values() if proj.plasticity]
    if plastic:  # the rules change weights the other threads' deliveries read
        sync()

    # -- thread 0: the step's spikes in order, plasticity, monitors --------------------------------------
    plan.emit("if c == 0:")
    for pop in pops.values():
        k = pop.index
        plan.emit(f"n{k} = 0", 3)
        plan.emit("for b in range(T):", 3)
        plan.emit(f"for q in range(nb{k}[b]):", 4)
        plan.emit(f"sp{k}[n{k} + q] = spk{k}[bounds{k}[b] + q]", 5)
        plan.emit(f"n{k} += nb{k}[b]", 4)
    body = plan.body
    plan.body = []
    for proj in plastic:
        _emit_plasticity(plan, proj, net)
    for name in net.network.spike_records:
        k = pops[name].index
        plan.emit(f"pos = sm{k}_pos[0]")
        plan.emit(f"for q in range(n{k}):")
        plan.emit(f"sm{k}_idx[pos + q] = sp{k}[q]", 3)
        plan.emit(f"sm{k}_steps[pos + q] = t", 3)
        plan.emit(f"sm{k}_pos[0] = pos + n{k}")
    for pop in pops.values():  # rates and CVs of every population, whatever the spike monitors keep
        k, counts = pop.index, pop.counts
        fn = plan.use(kernels.count_spikes, "count_spikes")
        for field_name in ("count", "last", "isi_sum", "isi_sq"):
            plan.arg(f"cnt{k}_{field_name}", getattr(counts, field_name))
        plan.emit(f"{fn}(sp{k}, n{k}, t, cnt{k}_count, cnt{k}_last, cnt{k}_isi_sum, cnt{k}_isi_sq)")
    for name in net.network.rate_records:
        k = pops[name].index
        counts = np.zeros(chunk_steps, np.int32)
        buffers.rates[name] = counts
        plan.arg(f"rate{k}", counts)
        plan.emit(f"rate{k}[step] = n{k}")
    for line in serial:
        plan.emit(line)
    plan.emit("clock[0] = t + 1")
    plan.body = body + ["    " + line for line in plan.body]
    sync()
    return plan, buffers


def _checked_update(model: Any) -> Any:
    """The model's compiled ``update``, refused by name if it has another signature than the kernel contract's
    (``biosim.engine.neurons``; models written for the contract before threads lack ``lo, hi``)."""
    update = model.kernels()[0]
    arguments = len(inspect.signature(getattr(update, "py_func", update)).parameters)
    if arguments != 9:
        raise ValueError(f"neuron model {type(model).__name__}: its update kernel takes {arguments} arguments; the "
                         "kernel contract is update(S, last, P, has_input, t, flags, spk, lo, hi) over neurons "
                         "lo..hi-1 (one thread's block), spikes written to spk[lo:] (biosim.engine.neurons)")
    return update


def _gate(pop, row: int) -> tuple[np.ndarray, str, int]:
    """``(steps, name, ref)``: input to state row ``row`` of neuron ``i`` at step ``t`` is kept when
    ``t - steps[i] >= ref`` (the last spike and the period, or the last refractory step and 1; ``ref = 0`` keeps
    all), as Brian2 discards input to an ``(unless refractory)`` variable; ``name`` is ``steps`` in the kernel."""
    model = pop.spec.model
    if list(model.state_vars)[row] not in model.clamped_during_refractory:
        return pop.last, f"last{pop.index}", 0
    if model.refractory_step_row is not None:
        step_row = pop.row(model.refractory_step_row)
        return pop.S[step_row], f"S{pop.index}[{step_row}]", 1
    return pop.last, f"last{pop.index}", int(pop.P.ref)


def _refractory_gate(pop, row: int) -> tuple[str, int]:
    """:func:`_gate` as the kernel names it: ``(steps, ref)``."""
    _, name, ref = _gate(pop, row)
    return name, ref


def _propagation_kind(proj: BuiltProjection, net: BuiltNetwork) -> tuple[str, ...]:
    """What fixes the types of a projection's propagation: a delay per synapse, one delay (ring row) or none
    (the state row), and the dtypes of the weights, of the delays or the refractory gate, and of the ring."""
    weights = str(proj.weights.dtype) if proj.weights is not None else "float64"
    ring = str(net.rings[proj.ring][2].dtype) if proj.ring is not None else ""
    if proj.delays is not None:
        return ("queued" if proj.ring in net.queues else "delayed"), weights, str(proj.delays.dtype), ring
    gate = str(_gate(proj.post, proj.target_row)[0].dtype)
    return ("ring" if proj.delay_const > 0 else "direct"), weights, gate, ring


def _typed_list(arrays: list[np.ndarray]) -> Any:
    """A Numba typed list of arrays (one kernel argument for many projections, indexed at run time)."""
    from numba.typed import List

    return List(arrays)


LIST_MIN = 8  # consecutive projections of one kind from which they are one loop over typed lists


def _emit_propagation(plan: KernelPlan, net: BuiltNetwork) -> None:
    """Every spike of the pre population (all blocks, in order) to the synapses onto this thread's post block,
    by a compiled template (``kernels.propagate``, ``propagate_delayed`` or ``propagate_queued``) per projection,
    in order. From ``LIST_MIN`` consecutive projections of one kind (:func:`_propagation_kind`) on, the calls are
    one loop over typed lists of their arrays: Numba's compile time grows faster than linearly with the kernel's
    arguments (64 projections: about a minute), while a list lookup costs tens of ns per step."""
    pops = list(net.populations.values())
    runs = [list(group) for _, group in itertools.groupby(net.projections.values(),
                                                          key=lambda proj: _propagation_kind(proj, net))]
    if any(len(group) >= LIST_MIN for group in runs):
        for name, field_name in (("spks", "spk"), ("nbs", "block_spikes"), ("bnds", "bounds")):
            plan.arg(name, _typed_list([getattr(pop, field_name) for pop in pops]))
    for g, group in enumerate(runs):
        listed = len(group) >= LIST_MIN
        _emit_group(plan, net, f"pg{g}_" if listed else None, group)


def _emit_group(plan: KernelPlan, net: BuiltNetwork, prefix: str | None, group: list[BuiltProjection]) -> None:
    """The propagation of projections of one kind: one loop over typed lists named ``<prefix><field>``, or
    (``prefix`` None) a call per projection with its own arguments ``p<index>_<field>``."""
    kind = _propagation_kind(group[0], net)
    fields: dict[str, list[Any]] = {
        "seg": [proj.segments for proj in group],
        "uidx": [proj.indices.view(np.uint32) for proj in group],  # unsigned: no negative-index wraparound check
        "w": [proj.weights if proj.weights is not None else np.array([proj.weight_const]) for proj in group],
        "wmask": [-1 if proj.weights is not None else 0 for proj in group]}
    if kind[0] in ("delayed", "queued"):
        fields["delay"] = [proj.delays for proj in group]
    else:
        gates = [_gate(proj.post, proj.target_row) for proj in group]
        fields["last"] = [steps for steps, _, _ in gates]
        fields["ref"] = [ref if kind[0] == "direct" else 0 for _, _, ref in gates]
    if kind[0] != "direct":
        fields["ring"] = [net.rings[proj.ring][2] for proj in group]
    if kind[0] == "ring":
        fields["dconst"] = [proj.delay_const for proj in group]
    if kind[0] == "direct":
        fields["target"] = [proj.post.S[proj.target_row] for proj in group]
    if kind[0] == "queued":
        for name, k in (("qj", 0), ("qw", 1), ("qn", 2)):
            fields[name] = [net.queues[proj.ring][k] for proj in group]
    if prefix is not None:
        for field_name, values in fields.items():
            plan.arg(prefix + field_name, _typed_list(values) if isinstance(values[0], np.ndarray) else
                     np.array(values, np.int64))
        plan.arg(prefix + "pre", np.array([proj.pre.index for proj in group], np.int64))
        plan.emit(f"for m in range({prefix}pre.shape[0]):")
        plan.emit(f"a = {prefix}pre[m]", 3)
        _emit_call(plan, kind, "spks[a], nbs[a], bnds[a]", lambda field_name: f"{prefix}{field_name}[m]", 3)
        return
    for position, proj in enumerate(group):
        r, a = proj.index, proj.pre.index
        for field_name, values in fields.items():
            value = values[position]
            plan.arg(f"p{r}_{field_name}", value if isinstance(value, np.ndarray) else np.int64(value))
        _emit_call(plan, kind, f"spk{a}, nb{a}, bounds{a}", lambda field_name, r=r: f"p{r}_{field_name}", 2)


def _emit_call(plan: KernelPlan, kind: tuple[str, ...], pre: str, field: Any, indent: int) -> None:
    """One template call; ``field(name)`` is how the kernel reaches an argument of the projection."""
    spikes = f"{pre}, T, {field('seg')}, c, {field('uidx')}, {field('w')}, {field('wmask')}"
    if kind[0] == "delayed":
        fn = plan.use(kernels.propagate_delayed, "propagate_delayed")
        plan.emit(f"{fn}({spikes}, {field('delay')}, {field('ring')}, t)", indent)
        return
    if kind[0] == "queued":
        fn = plan.use(kernels.propagate_queued, "propagate_queued")
        plan.emit(f"{fn}({spikes}, {field('delay')}, {field('ring')}, {field('qj')}, {field('qw')}, {field('qn')}, t)",
                  indent)
        return
    fn = plan.use(kernels.propagate, "propagate")
    if kind[0] == "ring":
        plan.emit(f"ring = {field('ring')}", indent)
        target = f"ring[(t + {field('dconst')}) % ring.shape[0]]"
    else:
        target = field("target")
    plan.emit(f"{fn}({spikes}, {target}, {field('last')}, t, {field('ref')})", indent)


def _emit_plasticity(plan: KernelPlan, proj: BuiltProjection, net: BuiltNetwork) -> None:
    r, a, b = proj.index, proj.pre.index, proj.post.index
    arrays, rule = proj.plasticity, proj.rule
    plan.arg(f"indptr{r}", proj.indptr), plan.arg(f"idx{r}", proj.indices), plan.arg(f"w{r}", proj.weights)
    for field_name, value in arrays.items():
        plan.arg(f"{field_name}{r}", value)
    name = f"{proj.spec.rule.registry_name}_{r}"  # two projections may run different kernels of one rule name
    common = f"w{r}, syn{r}, pre_tr{r}, post_tr{r}, params{r}"
    decay, bump = plan.use(kernels.decay_traces, "decay_traces"), plan.use(kernels.bump_traces, "bump_traces")
    write = _device_writes(plan, proj)
    for side in ("pre", "post"):
        if arrays[f"{side}_tr"].shape[0]:
            plan.emit(f"{decay}({side}_tr{r}, {side}_decay{r})")
    if rule.on_step is not None and rule.modulator is None:  # synaptic dynamics first, as in Brian2
        fn = plan.use(rule.on_step, f"on_step_{name}")
        plan.emit(f"{fn}(w{r}, syn{r}, params{r}, 0.0)")
        write(f"range(w{r}.shape[0])", "s", 2)
    if rule.on_pre is not None:
        fn = plan.use(rule.on_pre, f"on_pre_{name}")
        plan.emit(f"for q in range(n{a}):")
        plan.emit(f"i = sp{a}[q]", 3)
        plan.emit(f"{fn}(i, indptr{r}[i], indptr{r}[i + 1], idx{r}, {common})", 3)
        write(f"range(indptr{r}[i], indptr{r}[i + 1])", "s", 3)
    if arrays["pre_tr"].shape[0]:
        plan.emit(f"{bump}(pre_tr{r}, pre_nearest{r}, sp{a}, n{a})")
    if rule.on_post is not None:
        fn = plan.use(rule.on_post, f"on_post_{name}")
        plan.emit(f"for q in range(n{b}):")
        plan.emit(f"j = sp{b}[q]", 3)
        plan.emit(f"{fn}(j, col_ptr{r}[j], col_ptr{r}[j + 1], col_syn{r}, col_pre{r}, {common})", 3)
        write(f"range(col_ptr{r}[j], col_ptr{r}[j + 1])", f"col_syn{r}[k]", 3)
    if arrays["post_tr"].shape[0]:
        plan.emit(f"{bump}(post_tr{r}, post_nearest{r}, sp{b}, n{b})")
    if rule.on_step is not None and rule.modulator is not None:
        fn = plan.use(rule.on_step, f"on_step_{name}")
        m = net.populations[proj.spec.modulator].index
        plan.emit(f"mod_level{r}[0] = mod_level{r}[0] * mod_decay{r} + mod_jump{r} * n{m}")
        plan.emit(f"{fn}(w{r}, syn{r}, params{r}, mod_level{r}[0])")
        write(f"range(w{r}.shape[0])", "s", 2)
    device = proj.device
    if device is not None and device.age is not None:
        fn = plan.use(device.age, f"age_{r}")
        plan.arg(f"dev_every{r}", device.every)
        plan.emit(f"if t % dev_every{r} == 0:")
        plan.emit(f"{fn}(w{r}, dev_state{r}, dev_params{r}, t)", 3)


def _device_writes(plan: KernelPlan, proj: BuiltProjection):
    """An emitter of the device's write over the synapses a rule call could have changed (none without a
    device): ``over`` a range of positions, ``synapse`` the id at position ``k`` (or ``s`` itself)."""
    device, r = proj.device, proj.index
    if device is None:
        return lambda over, synapse, indent: None
    fn = plan.use(device.write, f"write_{r}")
    plan.arg(f"dev_state{r}", device.state), plan.arg(f"dev_params{r}", device.params)
    plan.arg(f"dev_rng{r}", proj.device_rng)

    def emit(over: str, synapse: str, indent: int) -> None:
        loop = "s" if synapse == "s" else "k"
        plan.emit(f"for {loop} in {over}:", indent)
        plan.emit(f"{fn}({synapse}, w{r}, dev_state{r}, dev_params{r}, dev_rng{r}, t)", indent + 1)

    return emit


def load_kernel(plan: KernelPlan) -> Any:
    """Write the plan's source under a content hash (once) and import its ``run_chunk``."""
    return load_source(plan.source(), "fused").run_chunk


def bind_kernels(templates: list[Any], kernels: dict[str, Any], prefix: str) -> Any:
    """Compile plain-Python ``templates`` (functions of one module) with the global names in ``kernels``
    bound to those @njit functions (e.g. a rule's kernels), in a generated, cached module; returns it.

    Numba cannot cache a function that receives other compiled functions as arguments, so plug-in
    kernels are bound as globals of generated source instead. Every other global the templates use is
    imported from their home module."""
    home = templates[0].__module__
    module_globals = vars(sys.modules[home])
    used = sorted({name for t in templates for name in t.__code__.co_names
                   if name in module_globals and name not in kernels})
    lines = ["# generated by biosim.engine.codegen.bind_kernels; do not edit", "from numba import njit"]
    lines += [f"from {home} import {name}" for name in used]
    lines += [f"from {k.__module__} import {k.__name__} as {alias}" for alias, k in sorted(kernels.items())]
    for template in templates:
        lines += ["", "", "@njit(cache=True)", inspect.getsource(template).rstrip()]
    return load_source("\n".join(lines) + "\n", prefix)


def load_source(source: str, prefix: str) -> Any:
    """Write generated kernel source to the cache directory under a name that hashes it together with
    every module it calls (``module_closure``), once, and import it as a module; its ``@njit(cache=True)``
    functions then load compiled code in every later process."""
    key = hashlib.sha256((source + _sources_digest(source)).encode()).hexdigest()[:20]
    path = cache_dir() / f"{prefix}_{key}.py"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(source)
        tmp.replace(path)
    name = f"biosim_{prefix}_{key}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
