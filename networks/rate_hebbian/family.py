"""The ``rate_hebbian`` family: a rate projection trained by one Hebbian rule on vectors from a dataset, with what
it learned measured against the closed form along the way.

Every ``records`` points (geometrically spaced in samples presented) the run records the weights and: the
``subspace_error`` (normalised Frobenius distance between the projectors onto the row space of W and onto the top-k
eigenvectors of E[x x^T]), the ``orthonormality_error`` (max |W W^T - I|), |cos| of each row with the eigenvector of
the same rank and with the first one, the responses to each pattern (datasets of a few patterns: BCM) and the
largest correlation between two outputs on held-out probe inputs (Foldiak). The rule is one YAML line.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np
from pydantic import Field

from biosim import registry
from biosim.config import ExperimentBase, Source, Spec, instantiate
from biosim.family import DIVERGED, INTERRUPTED, Family, Outcome, Results, Run, number
from biosim.memory import available_memory
from biosim.networks.rate_hebbian import model
from biosim.networks.rate_hebbian.data import Samples
from biosim.networks.rate_hebbian.target import RATE_PROJECTION, RateRuleKernels
from biosim.rules.rate_projection import RateRule
from biosim.streams import stream, streams

CHUNK_VALUES = 2**22  # input values drawn at once (32 MB)
MAX_HISTORY_VALUES = 10**7  # weight snapshots kept at every record while k x n x records stays below this


class RateHebbianExperiment(ExperimentBase):
    """A rate Hebbian experiment (family ``rate_hebbian``)."""

    family: str = "rate_hebbian"
    rule: Spec = "oja_subspace"
    data: Spec = "gaussian_spectrum"
    outputs: int = Field(5, ge=1, le=4096, description="k: outputs of the projection")
    activation: Literal["linear", "rectified"] = Field("linear", description="f in y = f(W x)")
    fan_in: int | None = Field(None, ge=1, description="inputs each output reads (CSR weights); none: dense")
    backend: Literal["numba", "torch"] = Field(
        "numba", description="numba: the fused per-sample loop (any rule, fastest for small batches); torch: each "
                             "batch's matrix-form update (dense, linear outputs, rules with a torch builder)")
    init: Literal["gaussian", "uniform", "identity"] = Field(
        "gaussian", description="initial weights: N(0, s^2 / fan-in), U(0, s sqrt(3 / fan-in)) (rows of norm about "
                                "s = init_scale), or W = I (k = n, dense)")
    init_scale: float = Field(0.1, gt=0, le=1e6, description="s: initial row norm (about)")
    samples: int = Field(200_000, ge=1, le=10**10, description="samples presented")
    batch: int = Field(100, ge=1, le=10**6, description="samples per update (W fixed within a batch)")
    records: int = Field(40, ge=1, le=10_000, description="recorded points, geometric in samples presented")
    probe: int = Field(2000, ge=2, le=10**6, description="held-out samples for the output correlations")
    plots: list[str] = ["hebbian_curves", "hebbian_filters"]


class Prepared(NamedTuple):
    rule: RateRule
    kernels: RateRuleKernels
    samples: Samples


@dataclass
class RateResults:
    """A rate Hebbian run: one row per record of ``samples`` (samples presented before it); ``cos_ordered[:, i]``
    is |cos| of row i with eigenvector i of E[x x^T] (descending), ``cos_first`` with eigenvector 1; ``responses``
    (records x k x patterns) the outputs to each pattern (empty without patterns); ``weights`` the snapshots
    (empty when too large). Saved as ``results.npz`` (arrays by field name, the rest in its JSON header)."""

    rule: str
    title: str
    samples: np.ndarray  # int
    subspace_error: np.ndarray  # dimensionless
    orthonormality_error: np.ndarray
    cos_ordered: np.ndarray  # records x min(k, n)
    cos_first: np.ndarray  # records x k
    responses: np.ndarray  # records x k x patterns
    output_correlation: np.ndarray  # max |off-diagonal correlation| of the outputs on the probe inputs
    weights: np.ndarray  # records x k x n, or 0 x k x n
    final_weights: np.ndarray  # k x n (dense)
    lateral: np.ndarray  # k x k
    eigenvalues: np.ndarray  # n, of E[x x^T], descending
    eigenvectors: np.ndarray  # n x min(k, n): the leading ones
    correlation_before: np.ndarray  # k x k, outputs of the initial network on the probe inputs
    correlation_after: np.ndarray  # k x k, of the final network
    patch_shape: np.ndarray  # int: (height, width) of an input seen as an image, or empty

    FILE: ClassVar[str] = Results.FILE
    META: ClassVar[tuple[str, ...]] = ("rule", "title")

    def save(self, run_dir: Path) -> Path:
        arrays = {f.name: np.asarray(getattr(self, f.name)) for f in fields(self) if f.name not in self.META}
        return Results(arrays, {name: getattr(self, name) for name in self.META}).save(run_dir)

    @classmethod
    def load(cls, run_dir: Path) -> RateResults:
        saved = Results.load(run_dir)
        return cls(**{name: saved.meta[name] for name in cls.META},
                   **{f.name: saved.arrays[f.name] for f in fields(cls) if f.name not in cls.META})


def prepare(exp: RateHebbianExperiment, source: Source) -> Prepared:
    rule = instantiate(exp.rule, "rule", source, ("rule",), kind=("plugs_into", RATE_PROJECTION))
    data = instantiate(exp.data, "dataset", source, ("data",), kind=("kind", "vectors"))
    try:
        samples = data.load(stream(exp.seed, "data"))
    except ValueError as err:
        raise source.error(str(err), ("data",)) from None
    n, k = samples.dim, exp.outputs
    if rule.orthonormal_rows and k > n:
        raise source.error(f"outputs = {k}: rule {rule.registry_name!r} learns k orthonormal rows, so k must not "
                           f"exceed the n = {n} inputs", ("outputs",))
    if exp.fan_in is not None and exp.fan_in > n:
        raise source.error(f"fan_in = {exp.fan_in} exceeds the n = {n} inputs", ("fan_in",))
    if exp.init == "identity" and (k != n or exp.fan_in is not None):
        raise source.error(f"init identity needs a dense square projection (outputs = n = {n}, no fan_in); "
                           f"got outputs = {k}" + (f", fan_in = {exp.fan_in}" if exp.fan_in is not None else ""),
                           ("init",))
    if exp.backend == "torch":
        _check_torch(exp, rule, source)
    kernels = rule.implementation("numba")
    if kernels.lateral and exp.activation != "linear":
        raise source.error(f"rule {rule.registry_name!r} solves y = W x + Q y exactly, which needs activation: "
                           f"linear, not {exp.activation!r}", ("activation",))
    top = float(samples.eigenvalues[0])
    if rule.eta * top >= 1:
        raise source.error(f"eta = {rule.eta:g} with lambda_max(E[x x^T]) = {top:.4g} of these data: "
                           f"eta lambda_max = {rule.eta * top:.3g} >= 1 makes the updates diverge; use "
                           f"eta < {1 / top:.3g}, e.g. {0.1 / top:.2g}",
                           ("rule", "eta") if isinstance(exp.rule, dict) else ("rule",))
    if exp.batch > exp.samples:
        raise source.error(f"batch = {exp.batch} is more than the {exp.samples} samples presented", ("batch",))
    history = k * n * (exp.records + 1) if k * n * (exp.records + 1) <= MAX_HISTORY_VALUES else 0
    needed = 8 * (history + 4 * k * n + exp.probe * (n + k) + max(CHUNK_VALUES, exp.batch * n))
    free = available_memory()
    if free is not None and needed > free:
        raise source.error(f"outputs = {k}, n = {n}: the run needs {needed / 1e9:.3g} GB, {free / 1e9:.3g} GB "
                           "available", ("outputs",))
    return Prepared(rule, kernels, samples)


def _check_torch(exp: RateHebbianExperiment, rule: RateRule, source: Source) -> None:
    """The torch update is the dense matrix form for linear outputs, where the rule has one."""
    if "torch" not in rule.backends():
        with_torch = [name for name in registry.names("rule") if getattr(registry.get("rule", name), "plugs_into", "")
                      == RATE_PROJECTION and "torch" in registry.get("rule", name).backends()]
        raise source.error(f"rule {rule.registry_name!r} runs on {', '.join(rule.backends())}, not torch; rules "
                           f"with a torch update: {', '.join(with_torch)}", ("backend",))
    for key, value, needed in (("activation", exp.activation, "linear"), ("fan_in", exp.fan_in, None)):
        if value != needed:
            raise source.error(f"backend torch trains a dense projection with linear outputs: {key} must be "
                               f"{needed or 'left out'}, not {value!r}", (key,))


def _projection(exp: RateHebbianExperiment, n: int, rng: np.random.Generator) -> model.Projection:
    k = exp.outputs
    if exp.init == "identity":
        return model.Projection.dense(np.eye(n))
    fan_in = exp.fan_in or n
    proj = model.Projection.dense(np.zeros((k, n))) if exp.fan_in is None else \
        model.Projection.fixed_fan_in(k, n, fan_in, rng)
    if exp.init == "gaussian":
        proj.data[:] = rng.standard_normal(proj.data.size) * (exp.init_scale / math.sqrt(fan_in))
    else:
        proj.data[:] = rng.random(proj.data.size) * (exp.init_scale * math.sqrt(3 / fan_in))
    return proj


def _record_points(exp: RateHebbianExperiment) -> np.ndarray:
    """Samples presented at each record: 0, then ``records`` points geometric in whole batches, the last at
    ``samples``."""
    batches = math.ceil(exp.samples / exp.batch)
    points = np.unique(np.round(np.geomspace(1, batches, exp.records + 1)[1:]).astype(np.int64)) * exp.batch
    return np.concatenate([[0], np.minimum(points, exp.samples)])


def execute(prepared: Prepared, exp: RateHebbianExperiment, run: Run) -> Outcome:
    from tqdm import tqdm

    rule, kernels, samples = prepared
    rngs = streams(exp.seed, "init", "train", "probe")
    n, k = samples.dim, exp.outputs
    projection = _projection(exp, n, rngs["init"])
    net = model.TorchRateNetwork(projection, rule.implementation("torch")) if exp.backend == "torch" else \
        model.RateNetwork(projection, kernels, exp.activation)
    probe = samples.draw(exp.probe, rngs["probe"])
    V = samples.eigenvectors[:, :min(k, n)]
    keep_weights = k * n * (exp.records + 1) <= MAX_HISTORY_VALUES
    rows: list[dict[str, Any]] = []

    def record(seen: int) -> None:
        with np.errstate(over="ignore", invalid="ignore"):  # weights on their way to diverging
            measure(seen)

    def measure(seen: int) -> None:
        W = net.W.matrix()
        cos = model.cosines(W, V)
        patterns = samples.patterns
        # with k >= n both projectors are the identity: the error would be 0 for any full-rank W
        rows.append({"samples": seen, "subspace_error": model.subspace_error(W, V) if k < n else math.nan,
                     "orthonormality_error": model.orthonormality_error(W),
                     "cos_ordered": np.diag(cos).copy(), "cos_first": cos[:, 0],
                     "responses": net.outputs(patterns).T if patterns is not None else np.zeros((k, 0)),
                     "output_correlation": model.max_off_diagonal(model.correlation(net.outputs(probe))),
                     "weights": W if keep_weights else None})

    net.train(probe[:0], exp.batch)  # compile (or load) the fused loop before timing
    record(0)
    before = model.correlation(net.outputs(probe))
    chunk = max(exp.batch, CHUNK_VALUES // n // exp.batch * exp.batch)
    points = _record_points(exp)
    stop_reason, seen, train_s = None, 0, 0.0
    bar = tqdm(total=exp.samples, unit="sample", unit_scale=True, desc="training", leave=False, disable=None)
    for target in points[1:]:
        while seen < target and stop_reason is None:
            count = min(chunk, int(target) - seen)
            X = samples.draw(count, rngs["train"])
            start = time.perf_counter()
            net.train(X, exp.batch)
            train_s += time.perf_counter() - start
            seen += count
            bar.update(count)
            if not net.finite:
                stop_reason = f"{DIVERGED} in the weights after {seen} samples"
            elif run.stop_requested:
                stop_reason = INTERRUPTED
        if stop_reason is not None and stop_reason != INTERRUPTED:
            break
        record(seen)
        if stop_reason is not None:
            break
    bar.close()
    results = _results(rule, exp, rows, net, samples, before, probe, V)
    final = rows[-1]
    selectivity, second = model.selectivity(final["responses"]) if samples.patterns is not None else (None, None)
    silent = int((final["responses"].max(axis=1, initial=0.0) <= 0).sum()) if samples.patterns is not None else 0
    metrics = {"rule": rule.registry_name, "fixed_point": rule.fixed_point, "lateral": kernels.lateral,
               "inputs": n, "outputs": k, "silent_outputs": silent,
               "samples_presented": final["samples"],
               "subspace_error": final["subspace_error"], "orthonormality_error": final["orthonormality_error"],
               "cos_ordered": final["cos_ordered"].tolist(), "min_cos_first": float(final["cos_first"].min()),
               "selectivity": selectivity.tolist() if selectivity is not None else None,
               "second_over_max_response": second.tolist() if second is not None else None,
               "output_correlation_initial": rows[0]["output_correlation"],
               "output_correlation": final["output_correlation"],
               "eigenvalues_top": samples.eigenvalues[:min(k, n) + 1].tolist(),
               "train_s": train_s, "samples_per_s": seen / train_s if train_s else None}
    return Outcome(metrics, results, stop_reason is None, stop_reason)


def _results(rule, exp, rows, net, samples, before, probe, V) -> RateResults:
    def stack(key: str) -> np.ndarray:
        return np.array([row[key] for row in rows])

    k, n = exp.outputs, samples.dim
    weights = stack("weights") if rows[0]["weights"] is not None else np.zeros((0, k, n))
    return RateResults(
        rule.registry_name, exp.description or exp.name, stack("samples"), stack("subspace_error"),
        stack("orthonormality_error"), stack("cos_ordered"), stack("cos_first"), stack("responses"),
        stack("output_correlation"), weights, rows[-1]["weights"] if rows[-1]["weights"] is not None else
        net.W.matrix(), net.Q.copy(), samples.eigenvalues, V, before, model.correlation(net.outputs(probe)),
        np.array(samples.shape if samples.shape is not None else (), np.int64))


@registry.register("family", "rate_hebbian")
class RateHebbian(Family):
    """Rate Hebbian rules (Hebb, Oja, Oja subspace, Sanger, BCM, Foldiak) on a rate projection, measured against
    their fixed points."""

    schema = RateHebbianExperiment
    results = RateResults
    plots = ("hebbian_curves", "hebbian_filters", "bcm_responses", "output_correlations")
    prepare = staticmethod(prepare)
    execute = staticmethod(execute)

    def summary(self, metrics: dict[str, Any]) -> str:
        line = f"{metrics['rule']}: {metrics['samples_presented']} samples, "
        if metrics.get("second_over_max_response") is not None:
            line += ("selectivity " + ", ".join(number(v, 3) for v in metrics["selectivity"]) + "; second / max "
                     "response " + ", ".join(number(v, 3) for v in metrics["second_over_max_response"]))
            if metrics["silent_outputs"]:
                line += f"; {metrics['silent_outputs']} outputs silent (no response to any pattern)"
        elif metrics.get("lateral"):
            line += (f"max |output correlation| {number(metrics['output_correlation_initial'], 3)} -> "
                     f"{number(metrics['output_correlation'], 3)}")
        elif metrics["fixed_point"] == "first principal component":
            line += f"min |cos(w_i, v_1)| {number(metrics['min_cos_first'], 3)}"
        else:
            line += (f"subspace error {number(metrics['subspace_error'], 3)}, orthonormality error "
                     f"{number(metrics['orthonormality_error'], 3)}")
            if metrics["fixed_point"] == "ordered eigenvectors":
                line += ", |cos(w_i, v_i)| " + ", ".join(number(v, 3) for v in metrics["cos_ordered"][:5])
        return line + f"; {number(metrics['samples_per_s'], 3)} samples/s"
