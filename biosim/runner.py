"""Run an experiment file end to end into a fresh run directory.

A run directory holds ``config.yaml`` (resolved: SI units, defaults filled in), ``metrics.json``,
the family's data file (``recording.npz`` for spiking runs, ``results.npz`` otherwise), the figures
and ``run.log``. Existing directories are never reused.
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

import yaml

from biosim import registry
from biosim.config import load_experiment
from biosim.errors import did_you_mean

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


def _attach_log(run_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(run_dir / "run.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler


def run_experiment(path: str | Path, overrides: list[str] | None = None, out: str | Path | None = None) -> Path:
    """Validate, prepare, run, save and plot. Returns the run directory."""
    start = time.perf_counter()
    exp, source = load_experiment(path, overrides)
    family = registry.get("network", exp.network)
    check_plots(exp.plots, family, source)
    prepared, resolved = family.prepare(exp, source)

    run_dir = new_run_dir(Path(out) if out else Path("runs"), exp.name)
    handler = _attach_log(run_dir)
    try:
        config = _merge(exp.model_dump(mode="json"), resolved)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        log.info("experiment %s (%s), family %s, seed %d -> %s", exp.name, path, exp.network, exp.seed, run_dir)
        outcome = family.execute(prepared, exp, run_dir)
        metrics = _json_safe({"experiment": exp.name, "network": exp.network, "seed": exp.seed,
                              "complete": outcome.complete, "stop_reason": outcome.stop_reason,
                              **outcome.metrics, "wall_s": time.perf_counter() - start})
        (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
        line = family.summary(metrics)
        if line:
            log.info("%s", line)
        if not outcome.complete:
            log.warning("run incomplete: %s", outcome.stop_reason)
        from biosim.plotting import draw

        files = draw(outcome.data, run_dir, exp.plots)
        log.info("figures: %s", ", ".join(f.name for f in files))
        metrics["wall_s"] = time.perf_counter() - start
        (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    finally:
        log.removeHandler(handler)
        handler.close()
    return run_dir


def _merge(config: dict[str, Any], resolved: dict[str, Any]) -> dict[str, Any]:
    """``config`` with the resolved values (SI units, defaults filled in) laid over it, recursively."""
    for key, value in resolved.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            _merge(config[key], value)
        else:
            config[key] = value
    return config


def check_plots(names: list[str], family, source) -> None:
    """Every named plot exists and draws this family's data; else a ConfigError at ``plots[k]``."""
    for k, name in enumerate(names):
        try:
            registry.get("plot", name)
        except ValueError as err:
            raise source.error(str(err), ("plots", k)) from None
        if name not in family.plots:
            raise source.error(f"plot {name!r} does not draw {family.registry_name!r} results; allowed: "
                               f"{', '.join(family.plots)}{did_you_mean(name, family.plots)}", ("plots", k))


def replot(run_dir: str | Path) -> list[Path]:
    """Redraw the figures of a finished run from its saved data."""
    from biosim.plotting import draw

    run_dir = Path(run_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    family = registry.get("network", config.get("network", "spiking"))
    return draw(family.load(run_dir), run_dir, config.get("plots", []))
