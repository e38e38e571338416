"""Run an experiment file end to end into a fresh run directory.

A run directory holds ``config.yaml`` (resolved: SI units, defaults filled in), ``metrics.json``,
``recording.npz``, the figures and ``run.log``. Existing directories are never reused.
"""

from __future__ import annotations

import json
import logging
import math
import time
from datetime import datetime
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from biosim import registry
from biosim.analysis import population_summary, rate_rhythm
from biosim.config import Experiment, load_experiment
from biosim.engine.simulation import Recording, Timing

log = logging.getLogger("biosim")


def new_run_dir(root: Path, name: str) -> Path:
    """Create ``root/name-YYYYmmdd-HHMMSS[-k]``, never an existing directory."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for k in count():
        path = root / (f"{name}-{stamp}" + (f"-{k}" if k else ""))
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def weight_summary(w: np.ndarray, bounds: tuple[float, float] | None) -> dict[str, float]:
    """Mean weight and, for bounded rules, the fractions within 10% of either bound (bimodality)."""
    summary = {"mean": float(w.mean()), "std": float(w.std())}
    if bounds is not None:
        low, high = bounds
        span = high - low
        summary["fraction_near_min"] = float(np.mean(w < low + 0.1 * span))
        summary["fraction_near_max"] = float(np.mean(w > high - 0.1 * span))
    return summary


def compute_metrics(exp: Experiment, rec: Recording, timing: Timing, network, extra: dict[str, Any]) -> dict[str, Any]:
    populations = {pop: {**population_summary(t, i, rec.sizes[pop], rec.duration), "n": rec.sizes[pop]}
                   for pop, (t, i) in rec.spikes.items()}
    for pop, rate in rec.rates.items():
        populations.setdefault(pop, {}).update(rate_rhythm(rate, rec.dt))
    weights = {name: {"initial": weight_summary(table["w"][0], network.projections[name].rule.weight_bounds()),
                      "final": weight_summary(table["w"][-1], network.projections[name].rule.weight_bounds())}
               for name, table in rec.weights.items() if len(table["w"])}
    return _json_safe({
        "experiment": exp.name,
        "backend": exp.backend,
        "seed": exp.seed,
        "complete": rec.complete,
        "stop_reason": rec.stop_reason,
        "notes": rec.notes,
        "duration_s": rec.duration,
        "requested_duration_s": exp.duration,
        "populations": populations,
        "weights": weights,
        "build_s": timing.build_s,
        "jit_s": timing.jit_s,
        "sim_s": timing.sim_s,
        **extra,
    })


def _attach_log(run_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(run_dir / "run.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler


def simulate(exp: Experiment, network) -> tuple[Recording, Timing, dict[str, Any]]:
    """Run ``network`` on the experiment's backend; returns the recording, timing and extras."""
    if exp.backend == "brian2":
        from biosim.backends.brian2_backend import run_brian2

        rec, timing, synapses = run_brian2(network, exp.duration)
        return rec, timing, {"synapse_count": synapses}
    from biosim.engine.simulation import Simulation

    sim = Simulation(network, chunk=exp.chunk)
    memory = sim.memory_bytes()
    synapses = sum(p.n_synapses for p in sim.net.projections.values())
    log.info("built %d neurons, %d synapses; connectivity %.1f MB; monitor buffers %.1f MB (spikes cost 8 B each, "
             "at most %d per population)", sum(p.n for p in network.populations.values()), synapses,
             sum(v for k, v in memory.items() if k.startswith("projection")) / 1e6,
             memory["monitor_buffers"] / 1e6, network.max_spikes)
    log.info("build %.2f s, kernel load/JIT %.2f s", sim.timing.build_s, sim.timing.jit_s)
    rec = sim.run(exp.duration, progress=True)
    return rec, sim.timing, {"synapse_count": synapses, "memory_bytes": memory}


def run_experiment(path: str | Path, overrides: list[str] | None = None, out: str | Path | None = None) -> Path:
    """Validate, build, run, save and plot. Returns the run directory."""
    start = time.perf_counter()
    exp, source = load_experiment(path, overrides)
    for k, name in enumerate(exp.plots):
        try:
            registry.get("plot", name)
        except ValueError as err:
            raise source.error(str(err), ("plots", k)) from None
    network, resolved = registry.get("network", exp.network, key="network")(exp, source)

    run_dir = new_run_dir(Path(out) if out else Path("runs"), exp.name)
    handler = _attach_log(run_dir)
    try:
        config = exp.model_dump(mode="json")
        for section, entries in resolved.items():
            for name, values in entries.items():
                config[section][name].update(values)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        log.info("experiment %s (%s), backend %s, seed %d -> %s", exp.name, path, exp.backend, exp.seed, run_dir)
        rec, timing, extra = simulate(exp, network)
        rec.save(run_dir / "recording.npz")
        metrics = compute_metrics(exp, rec, timing, network, {**extra, "wall_s": time.perf_counter() - start})
        (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
        for pop, values in metrics["populations"].items():
            log.info("%s: %.3f Hz, CV ISI %s, %d spikes", pop, values["rate_hz"], values["cv_isi"],
                     values["spike_count"])
        if not rec.complete:
            log.warning("run incomplete: %s (kept %.3f s of %.3f s)", rec.stop_reason, rec.duration, exp.duration)
        from biosim.plotting import draw

        files = draw(rec, run_dir, exp.plots)
        log.info("figures: %s", ", ".join(f.name for f in files))
        metrics["wall_s"] = time.perf_counter() - start
        (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    finally:
        log.removeHandler(handler)
        handler.close()
    return run_dir


def replot(run_dir: str | Path) -> list[Path]:
    """Redraw the figures of a finished run from its saved data."""
    from biosim.plotting import draw

    run_dir = Path(run_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    return draw(Recording.load(run_dir / "recording.npz"), run_dir, config.get("plots", []))
