"""The ``temporal_memory`` family: learn SDR sequences with a temporal memory, from YAML.

Learning passes over the dataset's sequences (a reset before each sequence unless turned off), then a
test pass without learning. Per step the anomaly (fraction of active columns not predicted) and the
prediction precision (fraction of predicted columns that became active) are recorded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from biosim import registry
from biosim.config import ExperimentBase, Source, Spec, instantiate, validate_params
from biosim.family import INTERRUPTED, Family, Outcome, Results, Run, number
from biosim.memory import available_memory
from biosim.networks.temporal_memory.model import TemporalMemory, TemporalMemoryParams, check_rule
from biosim.rules.dendritic_segments import DENDRITIC_SEGMENTS
from biosim.streams import streams


class TMExperiment(ExperimentBase):
    """Sequence learning with a temporal memory (family ``temporal_memory``)."""

    family: str = "temporal_memory"
    model: dict[str, Any] = {}
    rule: Spec = "htm_permanence"
    data: Spec = "random_sequences"
    passes: int = Field(5, ge=0, description="learning passes over all sequences")
    test: bool = Field(True, description="a final pass without learning")
    reset_between_sequences: bool = True
    shuffle: bool = Field(False, description="present the sequences in a new random order every pass")
    plots: list[str] = ["anomaly"]


@dataclass
class SequenceResults:
    """A temporal-memory run, one value per presented step (learning passes, then the test pass if any).
    Saved as ``results.npz`` (the three arrays, the rest in its JSON header)."""

    title: str
    passes: int  # learning passes asked for
    test: bool  # whether a test pass (no learning) was asked for, after them
    sequence_lengths: list[int]  # elements per sequence of the dataset
    anomaly: np.ndarray  # fraction of active columns that were not predicted, per step, in [0, 1]
    precision: np.ndarray  # fraction of predicted columns that became active, per step (NaN: none predicted)
    phase: np.ndarray  # int: pass of each step (0 .. passes - 1 learning, passes: the test pass)

    FILE: ClassVar[str] = Results.FILE
    ARRAYS: ClassVar[tuple[str, ...]] = ("anomaly", "precision", "phase")

    def save(self, run_dir: Path) -> Path:
        meta = {"title": self.title, "passes": self.passes, "test": self.test,
                "sequence_lengths": self.sequence_lengths}
        return Results({name: getattr(self, name) for name in self.ARRAYS}, meta).save(run_dir)

    @classmethod
    def load(cls, run_dir: Path) -> SequenceResults:
        saved = Results.load(run_dir)
        return cls(**saved.meta, **{name: saved.arrays[name] for name in cls.ARRAYS})


BYTES_PER_CELL = 35  # per cell: the model's arrays (11 bytes) and its segment store's (24), before any segment


def prepare(exp: TMExperiment, source: Source):
    params = validate_params(TemporalMemoryParams, exp.model, source, ("model",))
    rule = instantiate(exp.rule, "rule", source, ("rule",), kind=("plugs_into", DENDRITIC_SEGMENTS))
    data = instantiate(exp.data, "dataset", source, ("data",), kind=("kind", "sdr_sequences"))
    if data.columns != params.columns:
        raise source.error(f"the data has {data.columns} columns but the model {params.columns}", ("data",))
    cells, free = params.columns * params.cells_per_column, available_memory()
    if free is not None and cells * BYTES_PER_CELL > free:
        raise source.error(f"{params.columns} columns x {params.cells_per_column} cells need about "
                           f"{cells * BYTES_PER_CELL / 1e9:.3g} GB before any segment grows, {free / 1e9:.3g} GB "
                           "available", ("model", "columns"))
    if exp.passes == 0 and not exp.test:
        raise source.error("passes = 0 and test = false: nothing to present; set passes >= 1 or test: true",
                           ("passes",))
    try:
        check_rule(params, rule)  # as TemporalMemory does (the thresholds are checked by TemporalMemoryParams)
    except ValueError as err:
        raise source.error(str(err), ("rule", "max_new_synapses")) from None
    return params, rule, data


def execute(prepared, exp: TMExperiment, run: Run) -> Outcome:
    params, rule, data = prepared
    rngs = streams(exp.seed, "data", "order", "temporal_memory")
    sequences = data.sequences(rngs["data"])
    start = time.perf_counter()
    tm = TemporalMemory(params, rule, rngs["temporal_memory"])
    build_s = time.perf_counter() - start
    anomaly, precision, phase = [], [], []
    per_pass, pass_seconds, complete = [], [], True
    schedule = [(k, True) for k in range(exp.passes)] + ([(exp.passes, False)] if exp.test else [])
    for k, learn in schedule:
        order = rngs["order"].permutation(len(sequences)) if exp.shuffle and learn else np.arange(len(sequences))
        inputs = [sdr for q in order for sdr in sequences[q]]
        resets = np.zeros(len(inputs), np.bool_)
        if exp.reset_between_sequences:
            resets[np.cumsum([0] + [len(sequences[q]) for q in order[:-1]])] = True
        begin = time.perf_counter()
        a, p = tm.run(inputs, resets, learn=learn)
        pass_seconds.append(time.perf_counter() - begin)
        anomaly.append(a), precision.append(p), phase.append(np.full(a.size, k))
        per_pass.append({"pass": k, "learn": learn, "mean_anomaly": float(a.mean()),
                         "prediction_precision": float(np.nanmean(p)) if np.isfinite(p).any() else None,
                         "seconds": pass_seconds[-1], "segments": tm.n_segments, "synapses": tm.n_synapses})
        run.log.info("pass %d (%s): mean anomaly %.4f, %d segments, %d synapses, %.2f s", k,
                     "learning" if learn else "test", a.mean(), tm.n_segments, tm.n_synapses, pass_seconds[-1])
        if run.stop_requested:
            complete = False
            break
    steps = sum(a.size for a in anomaly)
    test = per_pass[-1] if exp.test and complete else None
    metrics = {"passes": per_pass, "test_mean_anomaly": test["mean_anomaly"] if test else None,
               "test_prediction_precision": test["prediction_precision"] if test else None,
               "segments": tm.n_segments, "synapses": tm.n_synapses, "build_s": build_s,
               "run_s": sum(pass_seconds), "steps": steps,
               "steps_per_s": steps / sum(pass_seconds) if sum(pass_seconds) > 0 else None}
    results = SequenceResults(exp.description or exp.name, exp.passes, exp.test, [len(s) for s in sequences],
                              np.concatenate(anomaly), np.concatenate(precision), np.concatenate(phase))
    return Outcome(metrics, results, complete, None if complete else INTERRUPTED)


@registry.register("family", "temporal_memory")
class TemporalMemoryFamily(Family):
    """Sequence learning with a temporal memory on dendritic SDR neurons."""

    schema = TMExperiment
    results = SequenceResults
    plots = ("anomaly",)
    prepare = staticmethod(prepare)
    execute = staticmethod(execute)

    def summary(self, metrics: dict[str, Any]) -> str:
        return (f"test mean anomaly {number(metrics['test_mean_anomaly'])}, precision "
                f"{number(metrics['test_prediction_precision'])}, {number(metrics['steps_per_s'], 3)} steps/s")
