"""Run timing snippets in fresh single-core subprocesses and summarise medians and ratios.

Each snippet prints one JSON line with ``setup_s`` (build + compile/JIT), ``sim_s`` (the simulation
phase alone) and ``rate_hz``. Results go to ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
PRELUDE = "import os, json, time\nos.sched_setaffinity(0, {cores})\n"


def run_snippet(code: str, timeout: float = 1800, cores: int = 1) -> dict:
    """Run ``code`` in a fresh process on the first ``cores`` cores (one by default), every library's threads
    limited to that many; returns the JSON its last line prints."""
    env = {**os.environ, "OMP_NUM_THREADS": str(cores), "NUMBA_NUM_THREADS": str(cores),
           "MKL_NUM_THREADS": str(cores), "BIOSIM_THREADS": str(cores)}
    prelude = PRELUDE.format(cores=set(range(cores)))
    out = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                         env=env, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])

EXPERIMENT = """
import logging, torch
from pathlib import Path
from types import SimpleNamespace
torch.set_num_threads(1)
from biosim import registry
from biosim.config import load_experiment
from biosim.family import Run
exp, source = load_experiment("experiments/{file}", {overrides})
family = registry.get("family", exp.family)()
prepared = family.prepare(exp, source)
out = family.execute(prepared, exp, Run(Path("."), logging.getLogger("benchmark"), SimpleNamespace(requested=False)))
print(json.dumps({{key: out.metrics[key] for key in {keys}}}))
"""


def run_experiment_metrics(file: str, overrides: list[str], keys: list[str]) -> dict:
    """Run experiments/``file`` with ``overrides`` in a fresh single-core process (no run directory) and return
    the metrics named in ``keys``."""
    return run_snippet(EXPERIMENT.format(file=file, overrides=overrides, keys=keys))



def measure(name: str, code: str, repeats: int, cores: int = 1) -> dict:
    runs = []
    for k in range(repeats):
        runs.append(run_snippet(code, cores=cores))
        print(f"  {name} run {k + 1}/{repeats}: setup {runs[-1]['setup_s']:.2f} s, sim {runs[-1]['sim_s']:.3f} s, "
              f"{runs[-1]['rate_hz']:.2f} Hz", flush=True)
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]} | {"runs": runs}


BRIAN2_RUNTIME = """net = Network(collect()); net.run(0 * ms); setup = time.perf_counter() - t0
t1 = time.perf_counter(); net.run({duration} * second); sim = time.perf_counter() - t1"""
BRIAN2_STANDALONE = """run({duration} * second)
device.build(directory="{build_dir}", compile=True, run=True, with_output=False)
sim = device._last_run_time; setup = time.perf_counter() - t0 - sim"""


def measure_brian2(name: str, template: str, duration: float, repeats: int, threads: int = 1) -> dict[str, dict]:
    """Time a Brian2 script (with {device}, {run} and {duration} slots) in cython runtime and
    cpp_standalone modes; with ``threads`` > 1, cpp_standalone alone, on that many OpenMP threads (the
    runtime mode has no threads)."""
    build_dir = RESULTS / f"{name}_standalone"
    device = 'set_device("cpp_standalone", build_on_run=False)'
    if threads > 1:
        device += f"\nprefs.devices.cpp_standalone.openmp_threads = {threads}"
    standalone = template.format(device=device, run=BRIAN2_STANDALONE.format(duration=duration, build_dir=build_dir),
                                 duration=duration)
    if threads > 1:
        return {f"brian2 cpp_standalone {threads} threads": measure("brian2 standalone", standalone, repeats,
                                                                     threads)}
    runtime = template.format(device="", run=BRIAN2_RUNTIME.format(duration=duration), duration=duration)
    return {"brian2 cython runtime": measure("brian2 runtime", runtime, repeats),
            "brian2 cpp_standalone": measure("brian2 standalone", standalone, repeats)}


#: the start of every Brian2 template: its clock starts, the {device} slot, the cython target, dt = 0.1 ms
BRIAN2_PRELUDE = """
t0 = time.perf_counter()
from brian2 import *
{device}
prefs.codegen.target = "cython"
defaultclock.dt = 0.1 * ms
"""

#: the start of every NEST snippet: its clock starts, {threads} threads, resolution 0.1 ms, seed 1
NEST_PRELUDE = """
t0 = time.perf_counter()
import nest
nest.set_verbosity("M_ERROR")
nest.ResetKernel()
nest.SetKernelStatus({{"resolution": 0.1, "local_num_threads": {threads}, "rng_seed": 1}})
"""

BIOSIM_EXPERIMENT = """
t0 = time.perf_counter()
from biosim.config import load_experiment
from biosim.networks.spiking.family import build_spiking
from biosim.engine.simulation import Simulation
exp, src = load_experiment("{experiment}", {overrides!r} + ["monitors.state=[]", "monitors.rates=[]"])
sim = Simulation(build_spiking(exp, src), chunk=1.0, threads={threads})
setup = time.perf_counter() - t0
rec = sim.run({duration})
n = sum(rec.sizes.values())
print(json.dumps({{"setup_s": setup, "sim_s": sim.timing.sim_s,
                  "rate_hz": sum(t.size for t, _ in rec.spikes.values()) / n / {duration}}}))
"""


def nest_timing(neurons: str, n: int) -> str:
    """The end of a NEST snippet: record ``neurons`` (a NodeCollection expression of ``n`` neurons), a 0.1 ms
    first step counted as setup, then the timed simulation; a {duration} slot is left for ``str.format``."""
    return (f'rec = nest.Create("spike_recorder"); nest.Connect({neurons}, rec)\n'
            "nest.Simulate(0.1)\n"
            "setup = time.perf_counter() - t0\n"
            "t1 = time.perf_counter(); nest.Simulate({duration} * 1000.0 - 0.1); sim = time.perf_counter() - t1\n"
            f'print(json.dumps({{{{"setup_s": setup, "sim_s": sim, '
            f'"rate_hz": rec.n_events / {n} / {{duration}}}}}}))\n')


def compare_experiment(name: str, doc: str, experiment: Path, overrides: list[str], brian2: str, nest: str, *,
                       title: str, nest_label: str, duration: float) -> None:
    """The command line of a spiking benchmark (``--duration``, ``--repeats``, ``--threads``): biosim running
    ``experiment`` with ``overrides`` (monitors off) against the ``brian2`` template and the ``nest`` snippet
    ({duration} and {threads} slots); ``title`` has {duration} and {repeats} slots. With ``--threads N`` > 1 every
    system runs on N cores with N threads (Brian2 in cpp_standalone with OpenMP) and the results go to
    ``<name>_threads<N>.json``."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--duration", type=float, default=duration)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="threads (and cores) of every system")
    args = parser.parse_args()
    d, n, threads = args.duration, args.repeats, args.threads

    def biosim(length: float) -> str:
        return BIOSIM_EXPERIMENT.format(experiment=experiment, overrides=overrides, duration=length, threads=threads)

    snippets = {"warmup": biosim(0.01), "biosim": biosim(d), "brian2": brian2,
                "nest": nest.format(duration=d, threads=threads), "duration": d}
    if threads > 1:  # the speed-up over one thread, measured in the same run
        snippets["biosim 1 thread"] = BIOSIM_EXPERIMENT.format(experiment=experiment, overrides=overrides,
                                                               duration=d, threads=1)
    title = title.format(duration=d, repeats=n)
    if threads > 1:
        name, title = f"{name}_threads{threads}", title.replace("1 core", f"{threads} cores, {threads} threads each")
        nest_label = nest_label.replace("1 thread", f"{threads} threads")
    compare(name, title, snippets, nest_label=nest_label, repeats=n, threads=threads)


def compare(name: str, title: str, snippets: dict[str, str], *, nest_label: str, repeats: int,
            threads: int = 1) -> None:
    """Warm biosim's kernel cache, then time biosim, Brian2 (both modes; cpp_standalone alone with threads) and
    NEST if installed, each on ``threads`` cores and threads.

    ``snippets`` holds the formatted ``biosim`` and ``warmup`` snippets, the ``brian2`` template (with
    {device} and {run} slots, already filled otherwise) and the ``nest`` snippet."""
    measure("biosim (warm-up)", snippets["warmup"], 1, threads)
    results = {"biosim": measure("biosim", snippets["biosim"], repeats, threads)}
    if "biosim 1 thread" in snippets:
        results["biosim 1 thread"] = measure("biosim 1 thread", snippets["biosim 1 thread"], repeats)
    results |= measure_brian2(name, snippets["brian2"], snippets["duration"], repeats, threads)
    if available("nest"):
        results[nest_label] = measure("nest", snippets["nest"], repeats, threads)
    report(name, title, results)


def available(module: str) -> bool:
    return subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode == 0


def report(name: str, title: str, results: dict[str, dict], reference: str = "biosim") -> None:
    base = results[reference]["sim_s"]
    print(f"\n{title}\n{'system':<28}{'setup (s)':>12}{'sim (s)':>12}{'rate (Hz)':>12}{'sim / biosim':>14}")
    for system, r in results.items():
        print(f"{system:<28}{r['setup_s']:>12.2f}{r['sim_s']:>12.3f}{r['rate_hz']:>12.2f}{r['sim_s'] / base:>14.1f}")
    for r in results.values():
        r["sim_ratio_to_biosim"] = r["sim_s"] / base
    RESULTS.mkdir(exist_ok=True)
    payload = {"benchmark": name, "title": title, "date": datetime.now().isoformat(timespec="seconds"),
               "machine": platform.platform(), "cpu_count": os.cpu_count(), "results": results}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2))
    print(f"wrote {RESULTS / f'{name}.json'}")
