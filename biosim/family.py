"""Experiment families: what the ``family:`` key of an experiment file selects.

A family is a subclass of :class:`Family` registered in the ``family`` namespace. It declares its schema
(the keys of its experiment files), its results type and the plots that draw those results, and writes two
methods: ``prepare`` turns a validated experiment into the objects it will run and raises every
configuration error (with file, line and key) before any compute; ``execute`` runs them and returns an
:class:`Outcome`. The base owns what every family shares: the resolved ``config.yaml`` (the validated schema
with every registry entry's parameters, defaults filled in), Ctrl-C and divergence handling, saving the typed
results, ``metrics.json`` and the summary line. Plots read the results (or the results reloaded from a run
directory), never the model.
"""

from __future__ import annotations

import json
import logging
import math
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import yaml

from biosim.interrupts import Interrupts

DIVERGED = "diverged (NaN or inf)"
INTERRUPTED = "interrupted"
FAILED = "failed"


def number(value: Any, digits: int = 4) -> str:
    """A number for the console: ``digits`` significant digits, ``n/a`` when missing (None, NaN)."""
    if value is None or isinstance(value, bool):
        return "n/a" if value is None else str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return "n/a" if math.isnan(value) else f"{float(value):.{digits}g}"
    return str(value)


def first_line(message: object) -> str:
    """The first line of an error message (Numba's typing errors run to dozens), for the console and run.log."""
    return next(iter(str(message).strip().splitlines()), "")


class SavedResults(Protocol):
    """What a family's results type provides: save into a run directory, load back from one."""

    def save(self, run_dir: Path) -> Any: ...

    @classmethod
    def load(cls, run_dir: Path) -> SavedResults: ...


@dataclass
class Outcome:
    """What a run produced: JSON-able metrics, the typed results the plots draw, and whether it finished."""

    metrics: dict[str, Any]
    results: SavedResults
    complete: bool = True
    stop_reason: str | None = None


@dataclass
class Results:
    """Named arrays plus JSON-able metadata, saved together as one ``results.npz``."""

    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    FILE: ClassVar[str] = "results.npz"

    def save(self, run_dir: Path) -> Path:
        path = Path(run_dir) / self.FILE
        np.savez_compressed(path, _meta=np.array(json.dumps(self.meta)), **self.arrays)
        return path

    @classmethod
    def load(cls, run_dir: Path) -> Results:
        with np.load(Path(run_dir) / cls.FILE) as data:
            arrays = {key: data[key] for key in data.files if key != "_meta"}
            return cls(arrays, json.loads(str(data["_meta"])))


@dataclass
class Run:
    """What ``execute`` gets besides its prepared objects: the run directory, the run's logger and the
    stop flag (Ctrl-C), to be checked between units of work."""

    directory: Path
    log: logging.Logger
    interrupts: Interrupts

    @property
    def stop_requested(self) -> bool:
        return self.interrupts.requested


class Family:
    """Base of experiment families; subclasses set the class attributes and write ``prepare``/``execute``."""

    registry_name: ClassVar[str] = ""
    schema: ClassVar[type]  # an ExperimentBase subclass
    results: ClassVar[type] = Results  # has save(run_dir) and load(run_dir)
    plots: ClassVar[tuple[str, ...]] = ()  # the registry plots that can draw this family's results

    def prepare(self, exp: Any, source: Any) -> Any:
        """Check everything that can be checked before compute; return what ``execute`` runs."""
        raise NotImplementedError

    def execute(self, prepared: Any, exp: Any, run: Run) -> Outcome:
        raise NotImplementedError

    def summary(self, metrics: dict[str, Any]) -> str:
        """One log line from the metrics."""
        return ""

    def load(self, run_dir: Path) -> Any:
        """The results of a finished run, for redrawing its figures."""
        return self.results.load(Path(run_dir))

    # -- what every family shares -------------------------------------------------------------------------
    def run(self, prepared: Any, exp: Any, source: Any, run_dir: Path, log: logging.Logger,
            extra_metrics: dict[str, Any] | None = None) -> tuple[Outcome, dict[str, Any]]:
        """Write the resolved config, execute (Ctrl-C stops cleanly), save results and metrics, log the summary."""
        write_config(run_dir, exp, source)
        with Interrupts() as interrupts:
            outcome = self.execute(prepared, exp, Run(run_dir, log, interrupts))
        stop_signal = signal.Signals(interrupts.signal).name if interrupts.signal and not outcome.complete else None
        if stop_signal:
            outcome.stop_reason = f"{INTERRUPTED} ({stop_signal})"
        outcome.results.save(run_dir)
        metrics = json_safe({"experiment": exp.name, "family": self.registry_name, "seed": exp.seed,
                             "complete": outcome.complete, "stop_reason": outcome.stop_reason,
                             "stop_signal": stop_signal, **outcome.metrics, **(extra_metrics or {})})
        write_metrics(run_dir, metrics)
        try:
            line = self.summary(metrics)
        except Exception as err:  # the run is saved; a summary that cannot be written must not fail it
            line = f"(no summary line: {type(err).__name__}: {err})"
        if line:
            log.info("%s", line)
        if not outcome.complete:
            log.warning("run incomplete: %s", outcome.stop_reason)
        return outcome, metrics


def resolved_config(exp: Any, source: Any) -> dict[str, Any]:
    """The validated experiment, quantities written with their units (it runs again as an experiment file), with
    every registry entry (neuron model, rule, connector, dataset, ...) replaced by its full parameter set, defaults
    filled in, as ``instantiate`` recorded them."""
    from biosim.config import dump_with_units

    config = dump_with_units(exp)
    for loc, params in getattr(source, "resolved", {}).items():
        node = config
        for part in loc[:-1]:
            node = node[part]
        node[loc[-1]] = params
    return config


def write_config(run_dir: Path, exp: Any, source: Any) -> Path:
    """Write ``run_dir/config.yaml``: the resolved config, an experiment file ``biosim run`` takes again."""
    path = Path(run_dir) / "config.yaml"
    path.write_text(yaml.safe_dump(resolved_config(exp, source), sort_keys=False))
    return path


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as None (JSON has no NaN) and tuples as lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def write_metrics(run_dir: Path, metrics: dict[str, Any]) -> None:
    (Path(run_dir) / "metrics.json").write_text(json.dumps(metrics, indent=2))
