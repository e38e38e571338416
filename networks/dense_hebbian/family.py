"""The ``dense_hebbian`` family: dense Hebbian (P-body) associative networks learning from examples.

Synthetic data (the papers' structureless setting): K archetypes of N spins, M examples of quality r each, stored
by a ``storage`` rule (``supervised``: class averages; ``unsupervised``: every example apart). Chains start from
an example of archetype 1 (``start: example``; chain c from example c mod M), from the archetype itself or from
a random state, and run ``sweeps`` sweeps of Glauber or Metropolis dynamics at ``beta`` (``.inf``: T = 0), or
annealed to it from ``anneal.beta0``. The retrieved archetype (archetype 1; from a random start or after annealing,
the one of largest |m| at the end, sign-flipped to positive) has its Mattis magnetisation compared with the T = 0
majority vote and, for P = 2, the mean-field solution.

Images (``data``: a dataset of kind images, e.g. ``digits``): binarised (pixel >= ``threshold`` -> +1), the
class means of the training images are the stored eta_bar, every test image relaxes at ``beta`` and is classified by
its largest overlap eta_bar^mu . sigma / N.

``sweep`` maps one or two parameters (N, K, M, r, P, beta, alpha) to lists of values: the run covers their grid, a
fresh network per point (``alpha`` sets K = round(alpha N^(P-1))).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from biosim import registry
from biosim.config import ExperimentBase, Source, Spec, explain, instantiate
from biosim.errors import did_you_mean
from biosim.family import INTERRUPTED, Family, Outcome, Results, Run, number
from biosim.memory import available_memory
from biosim.networks.dense_hebbian import montecarlo as mc
from biosim.networks.dense_hebbian import patterns, theory
from biosim.rules.dense_hebbian import DENSE_HEBBIAN, Supervised
from biosim.streams import stream

SWEEPABLE = ("N", "K", "M", "r", "P", "beta", "alpha")
IMAGE_SWEEPABLE = ("P", "beta")
SYNTHETIC_ONLY = frozenset({"N", "K", "M", "r", "alpha", "chains", "start"})  # keys image data has no use for
MAX_POINTS = 10_000


class Setting(BaseModel):
    """One network: the papers' symbols."""

    model_config = ConfigDict(extra="forbid")
    N: int = Field(1000, ge=2, description="neurons (spins)")
    K: int = Field(5, ge=1, description="archetypes")
    M: int = Field(50, ge=1, description="examples per archetype")
    r: float = Field(0.3, ge=0, le=1, description="example quality, P(chi = +-1) = (1 +- r)/2")
    P: int = Field(2, ge=2, le=1000, description="interaction order (even)")
    beta: float = Field(math.inf, ge=0, description="inverse temperature (.inf: T = 0)")
    alpha: float | None = Field(None, gt=0, description="load K / N^(P-1); when set, K = round(alpha N^(P-1)) "
                                                        "replaces K")

    @field_validator("P")
    @classmethod
    def _even(cls, P: int) -> int:
        if P % 2:
            raise ValueError(f"P = {P}: the P-body energy needs an even P (2, 4, 6, ...)")
        return P

    def archetypes(self) -> int:
        """K, or the one alpha sets."""
        if self.alpha is None:
            return self.K
        log_k = math.log(self.alpha) + (self.P - 1) * math.log(self.N)  # N^(P-1) overflows a float at large P
        return max(1, round(math.exp(log_k))) if log_k < 60 else 2**90  # 2**90: refused by the memory check


class Anneal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    beta0: float = Field(gt=0, description="inverse temperature of the first sweep (the last is beta)")
    schedule: Literal["linear", "geometric"] = "linear"


class DenseHebbianExperiment(ExperimentBase, Setting):
    """A dense Hebbian network experiment (family ``dense_hebbian``)."""

    family: str = "dense_hebbian"
    storage: Spec = "supervised"
    dynamics: Literal["glauber", "metropolis"] = "glauber"
    order: Literal["random", "sequential"] = "random"
    sweeps: int = Field(20, ge=1, le=10**6, description="sweeps of N attempted flips per chain")
    record_every: int = Field(1, ge=1, description="sweeps between recorded states")
    chains: int = Field(4, ge=1, le=10**6, description="independent chains per point (synthetic data)")
    start: Literal["example", "archetype", "random"] = "example"
    anneal: Anneal | None = None
    sweep: dict[str, list[float]] = {}
    data: Spec | None = None
    threshold: float = Field(0.5, ge=0, le=1, description="pixel value (in [0, 1]) from which a pixel is +1")
    plots: list[str] = ["dense_hebbian_traces"]


@dataclass
class Point:
    """One grid point, ready to run."""

    setting: Setting
    K: int


@dataclass
class Prepared:
    storage: Any  # the storage rule
    axes: list[str]
    values: list[list[float]]
    points: list[Point]
    images: Any = None  # (train [n, N] int8, train labels, test [n, N] int8, test labels, shape) for image data


@dataclass
class DenseHebbianResults:
    """A dense Hebbian run: per grid point (``points`` = product of the axes' lengths, row-major), per chain, the
    traces of the retrieved archetype (images: of the test image's class) at ``recorded_sweeps``. Saved as
    ``results.npz`` (arrays by name; axes, values and settings in the JSON header)."""

    title: str
    axes: list[str]  # swept parameters (0, 1 or 2)
    values: list[list[float]]  # their values
    settings: list[dict[str, Any]]  # the parameters of every point (N, K, M, r, P, beta, storage, ...)
    recorded_sweeps: np.ndarray  # int [records]
    m: np.ndarray  # [points, chains, records]: Mattis magnetisation of the retrieved archetype (NaN: not run)
    n: np.ndarray  # [points, chains, records]: overlap with its example average eta_bar . sigma / N
    energy: np.ndarray  # [points, chains, records]: H / N
    final_m: np.ndarray  # [points]: mean over chains of the last m (NaN: not run)
    theory_m: np.ndarray  # [points]: T = 0 majority vote (NaN for image data)
    mean_field_m: np.ndarray  # [points]: P = 2 mean-field m at the point's beta (NaN otherwise)
    accuracy: np.ndarray  # [points]: test accuracy (image data; NaN otherwise)
    nearest_mean_accuracy: float  # images: the class of the largest overlap of the unrelaxed test image (P-free)

    FILE: ClassVar[str] = Results.FILE
    ARRAYS: ClassVar[tuple[str, ...]] = ("recorded_sweeps", "m", "n", "energy", "final_m", "theory_m",
                                         "mean_field_m", "accuracy")

    def save(self, run_dir: Path) -> Path:
        meta = {"title": self.title, "axes": self.axes, "values": self.values, "settings": self.settings,
                "nearest_mean_accuracy": self.nearest_mean_accuracy}
        return Results({k: np.asarray(getattr(self, k)) for k in self.ARRAYS}, meta).save(run_dir)

    @classmethod
    def load(cls, run_dir: Path) -> DenseHebbianResults:
        saved = Results.load(run_dir)
        meta = saved.meta
        return cls(meta["title"], meta["axes"], meta["values"], meta["settings"],
                   nearest_mean_accuracy=meta["nearest_mean_accuracy"], **{k: saved.arrays[k] for k in cls.ARRAYS})


def _bytes(exp: DenseHebbianExperiment, point: Point) -> int:
    """Memory a point may need: examples (int8), stored patterns (int32 S and its transpose, at most one per
    example, whatever the storage rule), int64 overlaps and the records."""
    s = point.setting
    stored = point.K * s.M
    records = exp.sweeps // exp.record_every + 1
    return point.K * s.M * s.N + 8 * stored * s.N + 16 * stored * exp.chains + 24 * exp.chains * records * point.K


def prepare(exp: DenseHebbianExperiment, source: Source) -> Prepared:
    storage = instantiate(exp.storage, "rule", source, ("storage",), kind=("plugs_into", DENSE_HEBBIAN))
    allowed = IMAGE_SWEEPABLE if exp.data is not None else SWEEPABLE
    if len(exp.sweep) > 2:
        raise source.error(f"sweeps one or two parameters, got {len(exp.sweep)}: {', '.join(exp.sweep)}", ("sweep",))
    for key, values in exp.sweep.items():
        if key not in allowed:
            kind = "image data" if exp.data is not None else "synthetic data"
            raise source.error(f"{key!r} is not a parameter that can be swept with {kind}{did_you_mean(key, allowed)};"
                               f" allowed: {', '.join(allowed)}", ("sweep", key))
        if not values:
            raise source.error("needs at least one value", ("sweep", key))
    if "K" in exp.sweep and (exp.alpha is not None or "alpha" in exp.sweep):
        raise source.error("sweep K or alpha (which sets K), not both", ("sweep", "K"))
    if exp.sweeps % exp.record_every:
        raise source.error(f"sweeps = {exp.sweeps} is not a multiple of record_every = {exp.record_every}: the last "
                           "state would not be recorded; e.g. record_every: 1", ("record_every",))
    fields = DenseHebbianExperiment.model_fields
    if exp.data is not None and (ignored := sorted(key for key in SYNTHETIC_ONLY
                                                   if getattr(exp, key) != fields[key].default)):
        raise source.error(f"{', '.join(ignored)} describe synthetic archetypes and examples; image data sets N, K "
                           f"and M and starts one chain from each test image: leave them out", (ignored[0],))
    if exp.anneal is not None and not math.isfinite(exp.beta) and "beta" not in exp.sweep:
        raise source.error("annealing ends at beta; give a finite beta", ("beta",))
    axes = list(exp.sweep)
    values = [list(exp.sweep[key]) for key in axes]
    if math.prod(len(v) for v in values) > MAX_POINTS:
        raise source.error(f"{math.prod(len(v) for v in values)} grid points; at most {MAX_POINTS}", ("sweep",))
    base = {name: getattr(exp, name) for name in Setting.model_fields}
    points = []
    for combo in itertools.product(*values):
        raw = base | dict(zip(axes, combo, strict=True))
        if "K" in exp.sweep:
            raw["alpha"] = None
        for key in ("N", "K", "M", "P"):  # integers given as 4.0 in a list of numbers
            if isinstance(raw[key], float) and raw[key].is_integer():
                raw[key] = int(raw[key])
        try:
            setting = Setting.model_validate(raw)
        except ValidationError as err:
            bad, message = err.errors()[0]["loc"][0], err.errors()[0]["msg"].removeprefix("Value error, ").replace(
                "Input should be", "must be", 1)
            if bad not in exp.sweep:
                raise explain(err, Setting, source, ()) from None
            prefix = "" if message.startswith(f"{bad} = ") else f"{bad} = {raw[bad]!r}: "
            raise source.error(prefix + message, ("sweep", bad)) from None
        if exp.anneal is not None and not math.isfinite(setting.beta):
            raise source.error("annealing ends at beta; give finite values", ("sweep", "beta"))
        points.append(Point(setting, setting.archetypes()))
    images = _images(exp, source) if exp.data is not None else None
    free = available_memory()
    for point in points:
        if images is not None:
            point.setting = point.setting.model_copy(update={"N": images[0].shape[1]})
            point.K = int(images[1].max()) + 1
            continue
        need = _bytes(exp, point)
        if free is not None and need > free:
            s = point.setting
            raise source.error(f"K = {point.K}, M = {s.M}, N = {s.N}: the examples and stored patterns need "
                               f"{need / 1e9:.3g} GB, {free / 1e9:.3g} GB available",
                               ("sweep",) if exp.sweep else ("K",))
    return Prepared(storage, axes, values, points, images)


def _images(exp: DenseHebbianExperiment, source: Source):
    data = instantiate(exp.data, "dataset", source, ("data",), kind=("kind", "images"))
    try:
        split = data.load(stream(exp.seed, "data"))
    except (OSError, ValueError) as err:
        raise source.error(str(err), ("data",)) from None

    def binary(x: np.ndarray) -> np.ndarray:
        flat = x.reshape(len(x), -1)
        return np.where(flat >= exp.threshold, 1, -1).astype(np.int8)

    missing = sorted(set(range(int(split.train_y.max()) + 1)) - set(split.train_y.tolist()))
    if missing:
        raise source.error(f"classes {missing} have no training image: every class needs one for its mean",
                           ("data",))
    return binary(split.train_x), split.train_y, binary(split.test_x), split.test_y, split.shape


def _starts(exp: DenseHebbianExperiment, data: patterns.Dataset, rngs: list[np.random.Generator]) -> np.ndarray:
    K, M, N = data.eta.shape
    if exp.start == "example":
        return data.eta[0, np.arange(exp.chains) % M]
    if exp.start == "archetype":
        return np.repeat(data.xi[:1], exp.chains, axis=0)
    return np.stack([np.where(rng.random(N) < 0.5, 1, -1).astype(np.int8) for rng in rngs])


def execute(prepared: Prepared, exp: DenseHebbianExperiment, run: Run) -> Outcome:
    images = prepared.images
    chains = exp.chains if images is None else len(images[3])
    records = exp.sweeps // exp.record_every + 1
    shape = (len(prepared.points), chains, records)
    m, n, e = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    final_m, theory_m, mean_field_m, accuracy = (np.full(len(prepared.points), np.nan) for _ in range(4))
    nearest = math.nan
    rows, complete, mc_s, attempts = [], True, 0.0, 0
    for p, point in enumerate(prepared.points):
        s = point.setting
        betas = mc.beta_schedule(s.beta, exp.sweeps, exp.anneal and exp.anneal.beta0,
                                 exp.anneal.schedule if exp.anneal else "linear")
        rngs = [stream(exp.seed, f"point {p} chain {c}") for c in range(chains)]
        if images is None:
            # keyed by what defines the data: every point of a grid with the same N, K, M, r sees the same data
            data = patterns.draw(s.N, point.K, s.M, s.r, stream(exp.seed, f"archetypes N={s.N} K={point.K}"),
                                 stream(exp.seed, f"examples N={s.N} K={point.K} M={s.M} r={s.r!r}"))
            stored = prepared.storage.implementation("numba", examples=list(data.eta), P=s.P,
                                                     R=patterns.example_norm(s.M, s.r))
            xi, starts, labels = data.xi, _starts(exp, data, rngs), None
        else:
            train, train_y, starts, labels, _ = images
            examples = [train[train_y == c] for c in range(point.K)]
            means = np.stack([x.mean(axis=0) for x in examples])
            stored = prepared.storage.implementation("numba", examples=examples, P=s.P, R=float(np.mean(means ** 2)))
            xi = np.where(means >= 0, 1, -1).astype(np.int8)  # the "archetype" of a class: the sign of its mean
            nearest = float(np.mean(np.argmax(starts.astype(np.float64) @ means.T, axis=1) == labels))
        traces = mc.run_chains(stored, s.P, xi, starts, betas, rngs, exp.dynamics, exp.order, exp.record_every,
                               stop=lambda: run.stop_requested)
        mc_s += traces.seconds
        attempts += traces.done * exp.sweeps * s.N
        done = slice(0, traces.done)
        free = exp.start == "random" or exp.anneal is not None  # the chain may settle on any archetype
        if images is None:
            target = np.argmax(np.abs(traces.m[:, -1, :]), axis=1) if free else np.zeros(chains, np.int64)
        else:
            target = labels
            predicted = np.argmax(traces.n[:, -1, :], axis=1)
            accuracy[p] = np.mean(predicted[done] == labels[done]) if traces.done else np.nan
        pick = np.arange(chains)
        sign = np.where(np.nan_to_num(traces.m[pick, -1, target]) < 0, -1, 1) if free else 1
        m[p] = traces.m[pick, :, target] * np.reshape(sign, (-1, 1))
        n[p] = traces.n[pick, :, target] * np.reshape(sign, (-1, 1))
        e[p] = traces.energy
        if traces.done:
            final_m[p] = float(np.mean(m[p, done, -1]))
        if images is None and s.beta == math.inf:  # the T = 0 prediction
            theory_m[p] = theory.majority_magnetization(s.M, s.r)
        if images is None and s.P == 2 and isinstance(prepared.storage, Supervised):  # at the last sweep's beta
            mean_field_m[p] = theory.mean_field(float(betas[-1]), s.M, s.r)[0]
        row = {**{axis: s.model_dump()[axis] if axis != "alpha" else s.alpha for axis in prepared.axes},
               "K": point.K, "mattis_magnetization": final_m[p], "theory_magnetization": theory_m[p],
               "mean_field_magnetization": mean_field_m[p], "chains_run": traces.done}
        if images is not None:
            row |= {"test_accuracy": accuracy[p]}
        rows.append(row)
        run.log.info("point %d/%d %s: m %s (theory %s)%s", p + 1, len(prepared.points),
                     ", ".join(f"{a}={row[a]}" for a in prepared.axes) or "-", number(final_m[p], 4),
                     number(theory_m[p], 4), f", test accuracy {accuracy[p]:.3f}" if images is not None else "")
        if run.stop_requested:
            complete = False
            break
    storage = prepared.storage.registry_name
    settings = [{**pt.setting.model_dump(), "K": pt.K, "storage": storage, "dynamics": exp.dynamics,
                 "order": exp.order, "start": exp.start if images is None else "test image",
                 "images": images is not None} for pt in prepared.points]
    single = len(prepared.points) == 1  # a sweep's values are per point, in "points"
    metrics = {"mattis_magnetization": final_m[0] if single else None,
               "theory_magnetization": theory_m[0] if single else None,
               "mean_field_magnetization": mean_field_m[0] if single else None, "points": rows, "montecarlo_s": mc_s,
               "flip_attempts_per_s": attempts / mc_s if mc_s else None}
    if images is not None:
        metrics |= {"test_accuracy": accuracy[0] if len(accuracy) == 1 else
                    {", ".join(f"{a}={row[a]}" for a in prepared.axes): row["test_accuracy"] for row in rows},
                    "nearest_mean_accuracy": nearest}
    results = DenseHebbianResults(exp.description or exp.name, prepared.axes, prepared.values, settings,
                                  np.arange(records) * exp.record_every, m, n, e, final_m, theory_m, mean_field_m,
                                  accuracy, nearest)
    return Outcome(metrics, results, complete, None if complete else INTERRUPTED)


@registry.register("family", "dense_hebbian")
class DenseHebbian(Family):
    """Dense Hebbian (P-body) networks from examples: retrieval, phase diagrams, images classified by relaxation."""

    schema = DenseHebbianExperiment
    results = DenseHebbianResults
    plots = ("dense_hebbian_traces", "dense_hebbian_phase", "dense_hebbian_accuracy")
    prepare = staticmethod(prepare)
    execute = staticmethod(execute)

    def summary(self, metrics: dict[str, Any]) -> str:
        points = metrics["points"]
        if len(points) == 1:
            theories = [f"{name} {number(metrics[key], 4)}" for name, key in
                        (("T = 0 majority vote", "theory_magnetization"),
                         ("P = 2 mean field", "mean_field_magnetization")) if metrics[key] is not None]
            line = f"m = {number(metrics['mattis_magnetization'], 4)}"
            line += f" ({', '.join(theories)})" if theories else ""
        else:
            m = [p["mattis_magnetization"] for p in points if p["mattis_magnetization"] is not None]
            gaps = [abs(p["mattis_magnetization"] - p["theory_magnetization"]) for p in points
                    if p["mattis_magnetization"] is not None and p["theory_magnetization"] is not None]
            low, high = (number(f(m, default=None), 3) for f in (min, max))
            line = f"{len(points)} points: m from {low} to {high}"
            if gaps:
                line += f", mean |m - T = 0 majority vote| {number(float(np.mean(gaps)), 3)} (a low-load prediction)"
        line += f", {number(metrics['flip_attempts_per_s'], 3)} flip attempts/s"
        accuracy = metrics.get("test_accuracy")
        if isinstance(accuracy, dict):
            line += "; test accuracy " + ", ".join(f"{k}: {number(v, 3)}" for k, v in accuracy.items())
        elif "test_accuracy" in metrics:
            line += f"; test accuracy {number(accuracy, 3)}"
        return line
