"""Experiment families: what the ``network:`` key of an experiment file selects.

A family owns the schema of its experiment files and the two halves of a run: ``prepare`` turns a
validated experiment into the objects it will run and raises every configuration error (with file,
line and key) before any compute; ``execute`` runs them into a run directory and returns an
``Outcome``. Figures are registry plots that read the outcome's data (or the data reloaded from a
run directory by ``load``), never the model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Outcome:
    """What a run produced: JSON-able metrics, the data the plots draw, and whether it finished."""

    metrics: dict[str, Any]
    data: Any
    complete: bool = True
    stop_reason: str | None = None


@dataclass
class Results:
    """Named arrays plus JSON-able metadata, saved together as one ``results.npz``."""

    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    FILE = "results.npz"

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
class Family:
    """An experiment family, registered in the ``network`` namespace of the registry."""

    schema: type
    prepare: Callable[[Any, Any], tuple[Any, dict[str, Any]]]  # (exp, source) -> (prepared, resolved params)
    execute: Callable[[Any, Any, Path], Outcome]  # (prepared, exp, run_dir) -> Outcome
    load: Callable[[Path], Any]  # run_dir -> the data its plots draw
    plots: tuple[str, ...]  # the registry plots that can draw this family's data
    summary: Callable[[dict[str, Any]], str] = lambda metrics: ""  # one log line from the metrics
