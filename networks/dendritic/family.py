"""The ``dendritic_segments`` family: Ahmad & Hawkins' error curves, exact theory with Monte-Carlo points.

An experiment picks a ``study`` (E1 false_match, E2 false_negative, E3 union, E4 classifier, E5
threshold), the parameter on the x axis and its ``values``, and one or more ``curves`` that fix the
other parameters. Every point gets the exact probability (``theory``); points whose expected
number of Monte-Carlo hits reaches ``montecarlo.min_expected_hits`` are also simulated
(``montecarlo``, each point with its own random stream of the run's seed) and compared with the exact value
(z-score, relative error).
"""

from __future__ import annotations

import ast
import math
import operator
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from biosim import registry
from biosim.config import ExperimentBase, Source, explain
from biosim.errors import did_you_mean
from biosim.family import INTERRUPTED, Family, Outcome, Results, Run, number
from biosim.memory import available_memory
from biosim.networks.dendritic import montecarlo as mc
from biosim.networks.dendritic import theory
from biosim.streams import stream

MAX_CELLS = 2**31 - 1  # the Monte-Carlo kernels index cells with int32
MAX_BITS = 10**6  # largest binomial coefficient C(n, k) the exact theory computes, in bits (~k log2 n)
MAX_UNION_STEPS = 10**7  # largest exact union distribution, in chain steps m x union sizes x k (~1 min / 3e6)
MAX_POINTS = 10_000  # values of the swept parameter


class _Point(BaseModel):
    """One parameter setting of a study; subclasses list the parameters and compute the probabilities."""

    model_config = ConfigDict(extra="forbid")
    label: ClassVar[str] = ""

    @model_validator(mode="after")
    def _exact_cost(self):
        """The exact theory stays within reach: C(n, k) of at most ``MAX_BITS`` bits for every size k."""
        n = getattr(self, "n", 0)
        for name in ("a", "s", "w"):
            k = getattr(self, name, None)
            if k is not None and 0 < k <= n and (bits := min(k, n - k) * math.log2(n)) > MAX_BITS:
                raise ValueError(f"{name} = {k} of n = {n}: the exact probabilities need integers of {bits:,.0f} bits "
                                 f"(min({name}, n - {name}) log2 n); at most {MAX_BITS:,}")
        return self

    def exact(self) -> theory.Fraction:
        raise NotImplementedError

    def simulate(self, trials: int, rng: np.random.Generator) -> int:
        """Matches (or misses) in ``trials`` Monte-Carlo trials drawn from ``rng``."""
        raise NotImplementedError

    def segments_per_trial(self) -> int:
        return 1


class _Segment(_Point):
    """n cells, a active, a segment of s synapses onto distinct cells, threshold theta."""

    label: ClassVar[str] = "false match probability"
    n: int = Field(gt=0, le=MAX_CELLS)
    a: int = Field(gt=0)
    s: int = Field(gt=0)
    theta: int = Field(gt=0)

    @model_validator(mode="after")
    def _sizes(self):
        if self.a > self.n or self.s > self.n:
            raise ValueError(f"a = {self.a} and s = {self.s} must not exceed n = {self.n}")
        top, why = self.max_theta()
        if self.theta > top:
            raise ValueError(f"theta = {self.theta} must lie in [1, {why} = {top}]: the segment could never reach it")
        return self

    def max_theta(self) -> tuple[int, str]:
        """The most active synapses a segment can have, and its formula."""
        return min(self.a, self.s), "min(a, s)"


class FalseMatch(_Segment):
    """E1: n cells, a active, segment of s synapses, threshold theta."""

    def exact(self):
        return theory.false_match(self.n, self.a, self.s, self.theta)

    def simulate(self, trials, rng):
        return mc.false_match_trials(rng, self.n, self.a, self.s, self.theta, trials)


class FalseNegative(_Point):
    """E2: v of the a pattern cells replaced by noise; n only sets where the noise cells come from."""

    label: ClassVar[str] = "false negative probability"
    n: int = Field(6000, gt=0, le=MAX_CELLS, description="cells (the simulation draws noise cells from the n - a "
                                                           "others)")
    a: int = Field(gt=0)
    s: int = Field(gt=0)
    theta: int = Field(gt=0)
    v: int = Field(ge=0)

    @model_validator(mode="after")
    def _sizes(self):
        if not self.s <= self.a or not self.v <= self.a or 2 * self.a > self.n:
            raise ValueError(f"need s <= a, v <= a and 2 a <= n (got n={self.n}, a={self.a}, s={self.s}, "
                             f"v={self.v})")
        if self.theta > self.s:
            raise ValueError(f"theta = {self.theta} must lie in [1, s = {self.s}]: the segment could never reach it")
        return self

    def exact(self):
        return theory.false_negative(self.a, self.s, self.theta, self.v)

    def simulate(self, trials, rng):
        return mc.false_negative_trials(rng, self.n, self.a, self.s, self.theta, self.v, trials)


class Union(_Segment):
    """E3: m patterns stored on one segment (form segment) or active at once (form input)."""

    m: int = Field(gt=0)
    form: theory.UnionForm = "segment"
    method: theory.UnionMethod = "exact"

    @model_validator(mode="after")
    def _union_cost(self):
        grown = self.s if self.form == "segment" else self.a
        steps = self.m * min(self.n, self.m * grown) * grown
        if self.method == "exact" and steps > MAX_UNION_STEPS:
            raise ValueError(f"m = {self.m}: the exact union distribution takes {steps:,} steps (m x min(n, m k) x k "
                             f"with k = {grown}); at most {MAX_UNION_STEPS:,}, or method: approx")
        return self

    def max_theta(self):
        if self.form == "segment":  # the segment holds up to m s synapses
            return min(self.a, self.m * self.s, self.n), "min(a, m s, n)"
        return min(self.s, self.m * self.a, self.n), "min(s, m a, n)"  # the input has up to m a active cells

    def exact(self):
        return theory.union_false_match(self.n, self.a, self.s, self.theta, self.m, form=self.form,
                                        method=self.method)

    def approximate(self) -> theory.Fraction:
        return theory.union_false_match(self.n, self.a, self.s, self.theta, self.m, form=self.form, method="approx")

    def simulate(self, trials, rng):
        form = mc.FORM_SEGMENT if self.form == "segment" else mc.FORM_INPUT
        return mc.union_trials(rng, self.n, self.a, self.s, self.theta, self.m, form, trials)


class Classifier(_Point):
    """E4: a w-of-n probe against m stored w-of-n patterns (exact value; the union bound is reported)."""

    label: ClassVar[str] = "false match probability"
    n: int = Field(gt=0, le=MAX_CELLS)
    w: int = Field(gt=0)
    theta: int = Field(gt=0)
    m: int = Field(gt=0)

    @model_validator(mode="after")
    def _sizes(self):
        if self.w > self.n:
            raise ValueError(f"w = {self.w} must not exceed n = {self.n}")
        if self.theta > self.w:
            raise ValueError(f"theta = {self.theta} must lie in [1, w = {self.w}]: a probe could never reach it")
        return self

    def exact(self):
        return theory.classifier_false_match(self.n, self.w, self.theta, self.m)[1]

    def bound(self) -> theory.Fraction:
        return theory.classifier_false_match(self.n, self.w, self.theta, self.m)[0]

    def simulate(self, trials, rng):
        return mc.classifier_trials(rng, self.n, self.w, self.theta, self.m, trials)

    def segments_per_trial(self):
        return self.m


STUDIES: dict[str, type[_Point]] = {"false_match": FalseMatch, "false_negative": FalseNegative, "union": Union,
                                    "classifier": Classifier}


class Range(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: int
    stop: int  # inclusive
    step: int = Field(1, gt=0)

    def points(self) -> int:
        return max(0, (self.stop - self.start) // self.step + 1)

    def values(self) -> list[int]:
        return list(range(self.start, self.stop + 1, self.step))


class MonteCarlo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trials: int = Field(100_000, ge=0, description="random patterns per simulated point (0: theory only)")
    min_expected_hits: float = Field(10.0, gt=0, description="simulate points with trials x exact >= this")


class SegmentsExperiment(ExperimentBase):
    """An error-curve study of dendritic segments (family ``dendritic_segments``)."""

    family: str = "dendritic_segments"
    study: Literal["false_match", "false_negative", "union", "classifier", "threshold"]
    x: str = Field("n", description="the swept parameter; for study threshold: theta")
    values: list[int] | Range
    curves: list[dict[str, Any]] = [{}]
    montecarlo: MonteCarlo = MonteCarlo()
    plots: list[str] = ["error_curves"]


@dataclass
class Curve:
    """One curve of a study: a value per point of the sweep."""

    label: str  # the curve's fixed parameters, e.g. "a=20, s=10, theta=5"
    exact: np.ndarray  # exact probability per point (float; 0 where below the float range)
    log10_exact: np.ndarray  # its log10, finite far below the float range (-inf for a probability of 0)
    hits: np.ndarray  # int: Monte-Carlo matches (misses for false_negative) per point; -1 where not simulated
    approx: np.ndarray | None = None  # study union: the paper's expected-union-size approximation
    bound: np.ndarray | None = None  # study classifier: the union bound m x P(one match)

    ARRAYS: ClassVar[tuple[str, ...]] = ("exact", "log10_exact", "hits", "approx", "bound")


@dataclass
class CurveResults:
    """An error-curve study: the swept parameter ``x`` and its ``values``, one :class:`Curve` per
    ``curves`` entry, ``trials`` Monte-Carlo trials per simulated point. Saved as ``results.npz``
    (arrays ``values`` and ``c<k>_<array>``, the rest in its JSON header)."""

    study: str
    x: str  # name of the swept parameter (theta for study threshold)
    values: np.ndarray  # int: its values, the x axis
    curves: list[Curve]
    trials: int  # Monte-Carlo trials per simulated point (0: theory only)
    ylabel: str  # what the probabilities are, e.g. "false match probability"
    title: str

    FILE: ClassVar[str] = Results.FILE

    def save(self, run_dir: Path) -> Path:
        arrays = {"values": self.values}
        for c, curve in enumerate(self.curves):
            arrays |= {f"c{c}_{name}": value for name in Curve.ARRAYS if (value := getattr(curve, name)) is not None}
        meta = {"study": self.study, "x": self.x, "curves": [curve.label for curve in self.curves],
                "trials": self.trials, "ylabel": self.ylabel, "title": self.title}
        return Results(arrays, meta).save(run_dir)

    @classmethod
    def load(cls, run_dir: Path) -> CurveResults:
        saved = Results.load(run_dir)
        arrays, meta = saved.arrays, saved.meta
        curves = [Curve(label, **{name: arrays.get(f"c{c}_{name}") for name in Curve.ARRAYS})
                  for c, label in enumerate(meta["curves"])]
        return cls(meta["study"], meta["x"], arrays["values"], curves, meta["trials"], meta["ylabel"], meta["title"])


def _xs(exp: SegmentsExperiment) -> list[int]:
    return exp.values.values() if isinstance(exp.values, Range) else list(exp.values)


def prepare(exp: SegmentsExperiment, source: Source) -> list[tuple[str, list[_Point]]] | list[int]:
    """Validate every point of every curve; returns (label, points) per curve, or the thetas of a
    threshold study."""
    count = exp.values.points() if isinstance(exp.values, Range) else len(exp.values)
    if count > MAX_POINTS:
        raise source.error(f"{count} values; at most {MAX_POINTS}", ("values",))
    xs = _xs(exp)
    if not xs:
        raise source.error("needs at least one value", ("values",))
    if exp.study == "threshold":
        if exp.x != "theta":
            raise source.error(f"study threshold sweeps theta, not {exp.x!r}", ("x",))
        if min(xs) < 1:
            raise source.error(f"theta = {min(xs)} must be at least 1", ("values",))
        return xs
    point = STUDIES[exp.study]
    if exp.x not in point.model_fields:
        allowed = list(point.model_fields)
        raise source.error(f"{exp.x!r} is not a parameter of study {exp.study!r}{did_you_mean(exp.x, allowed)}; "
                           f"allowed: {', '.join(allowed)}", ("x",))
    curves, free = [], available_memory()
    for k, fixed in enumerate(exp.curves):
        if exp.x in fixed:
            raise source.error(f"{exp.x!r} is the swept parameter; it takes its values from 'values'",
                               ("curves", k, exp.x))
        try:
            points = [point.model_validate(_resolve(fixed, exp.x, x)) for x in xs]
        except ValidationError as err:
            raise explain(err, point, source, ("curves", k)) from None
        except ValueError as err:
            raise source.error(str(err), ("curves", k)) from None
        cells = max(p.n for p in points)
        if exp.montecarlo.trials and free is not None and 5 * cells > free:
            raise source.error(f"n = {cells}: the Monte Carlo needs {5 * cells / 1e9:.3g} GB (5 bytes per cell), "
                               f"{free / 1e9:.3g} GB available; set montecarlo.trials: 0 for theory only",
                               ("curves", k))
        curves.append((", ".join(f"{key}={value}" for key, value in fixed.items() if key != "method"), points))
    return curves


_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv}


def _resolve(fixed: dict[str, Any], name: str, value: int) -> dict[str, Any]:
    """The curve's parameters at one x value; a string parameter is an integer formula of the swept
    parameter, e.g. ``theta: s // 2`` (+, -, *, // and integer constants)."""

    def evaluate(node: ast.AST) -> int:
        if isinstance(node, ast.Expression):
            return evaluate(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name) and node.id == name:
            return value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            left, right = evaluate(node.left), evaluate(node.right)
            if isinstance(node.op, ast.FloorDiv) and right == 0:
                raise ValueError(f"{ast.unparse(node)!r} divides by 0 at {name} = {value}")
            return _OPERATORS[type(node.op)](left, right)
        raise ValueError(f"formulas may use {name!r}, integers and + - * //; got {ast.unparse(node)!r}")

    resolved = {name: value}
    for key, raw in fixed.items():
        if key in ("form", "method") or not isinstance(raw, str):
            resolved[key] = raw
        else:
            try:
                resolved[key] = evaluate(ast.parse(raw, mode="eval"))
            except SyntaxError:
                raise ValueError(f"{key}: {raw!r} is not a formula") from None
    return resolved


def execute(prepared, exp: SegmentsExperiment, run: Run) -> Outcome:
    if exp.study == "threshold":
        return _execute_threshold(prepared, exp)
    curves, points_meta = [], []
    complete, mc_seconds, segments = True, 0.0, 0
    trials = exp.montecarlo.trials
    for c, (label, points) in enumerate(prepared):
        exact = [p.exact() for p in points]
        hits = np.full(len(points), -1, np.int64)  # -1: not simulated
        for k, (p, e) in enumerate(zip(points, exact, strict=True)):
            if run.stop_requested or trials == 0 or trials * float(e) < exp.montecarlo.min_expected_hits:
                continue
            start = time.perf_counter()
            hits[k] = p.simulate(trials, stream(exp.seed, f"montecarlo curve {c} point {k}"))
            mc_seconds += time.perf_counter() - start
            segments += trials * p.segments_per_trial()
            points_meta.append(_compare(c, p, float(e), int(hits[k]), trials, exp.x))
        curves.append(Curve(
            label, np.array([float(e) for e in exact]), np.array([theory.log10(e) for e in exact]), hits,
            approx=np.array([float(p.approximate()) for p in points]) if isinstance(points[0], Union) else None,
            bound=np.array([float(p.bound()) for p in points]) if isinstance(points[0], Classifier) else None))
        if run.stop_requested:
            complete = False
            break
    z = [abs(p["z"]) for p in points_meta if p["z"] is not None]
    metrics = {"study": exp.study, "x": exp.x, "curves": [curve.label for curve in curves],
               "montecarlo_trials": trials, "points": points_meta, "max_abs_z": max(z, default=None),
               "max_abs_relative_error": max((abs(p["relative_error"]) for p in points_meta), default=None),
               "montecarlo_s": mc_seconds, "segments_per_s": segments / mc_seconds if mc_seconds else None}
    results = CurveResults(exp.study, exp.x, np.array(_xs(exp)), curves, trials, STUDIES[exp.study].label,
                           exp.description or exp.name)
    return Outcome(metrics, results, complete, None if complete else INTERRUPTED)


def _compare(curve: int, point: _Point, exact: float, hits: int, trials: int, x: str) -> dict[str, Any]:
    """Monte-Carlo estimate vs exact: relative error and z-score under the binomial standard error."""
    rate = hits / trials
    sd = math.sqrt(exact * (1 - exact) / trials)
    return {"curve": curve, x: getattr(point, x), "exact": exact, "montecarlo": rate, "hits": hits,
            "relative_error": rate / exact - 1 if exact else None, "z": (rate - exact) / sd if sd else None}


def _execute_threshold(thetas: list[int], exp: SegmentsExperiment) -> Outcome:
    medians = theory.threshold_medians(thetas)
    exact = np.array([medians[t] for t in thetas])
    label = (f"median over n in {theory.THRESHOLD_GRID_N}, a/n in {theory.THRESHOLD_GRID_SPARSITY}, "
             f"s in {theory.THRESHOLD_GRID_S}")
    with np.errstate(divide="ignore"):
        curve = Curve(label, exact, np.log10(exact), np.full(len(thetas), -1, np.int64))
    below = [t for t in thetas if medians[t] <= 1e-7]
    metrics = {"study": "threshold", "median_false_match": {str(t): medians[t] for t in thetas},
               "min_theta_with_median_below_1e-7": min(below, default=None)}
    results = CurveResults("threshold", "theta", np.array(thetas), [curve], 0, "median false match probability",
                           exp.description or exp.name)
    return Outcome(metrics, results)


@registry.register("family", "dendritic_segments")
class DendriticSegments(Family):
    """Ahmad & Hawkins' error curves of dendritic segments on SDRs: exact theory and Monte-Carlo points."""

    schema = SegmentsExperiment
    results = CurveResults
    plots = ("error_curves",)
    prepare = staticmethod(prepare)
    execute = staticmethod(execute)

    def summary(self, metrics: dict[str, Any]) -> str:
        if metrics["study"] == "threshold":
            return f"median false match below 1e-7 from theta = {number(metrics['min_theta_with_median_below_1e-7'])}"
        return (f"{len(metrics['points'])} Monte-Carlo points, max |z| {number(metrics['max_abs_z'], 3)}, "
                f"{number(metrics['segments_per_s'], 3)} segments/s")
