"""The ``pspm`` family: a recurrent spiking network trained to reproduce the spike trains of a ground-truth network
by a rule on ``pspm_weights`` (Bagley, Bordelon, Moseley & Wessel, arXiv 1810.03199; spec ``hebbian.md`` §2).

A ground-truth network (weights U{0..levels-1} x unit, signed by presynaptic type) driven by a frozen Gaussian
current gives the target raster. The model starts from an independent draw (``naive: uniform``) or one of half the
range (``naive: half_max``) and, for ``iterations`` iterations, is simulated on the same input and updated by the
rule from its raster and the target's. With ``control: true`` the random-update control (``pspm_control`` with the
rule's parameters) is trained beside it from the same naive weights. Measured on every simulation: the paper's D_P
and D_A, spike counts, weight error and (excitatory) weight correlation with the ground truth; at the start and end
the ISI-histogram distance and, with ``avalanches``, the avalanche statistics of every network.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np
from pydantic import Field

from biosim import registry
from biosim.analysis.avalanches import avalanche_statistics
from biosim.analysis.distances import count_statistics, isi_distance, kernel_distances, weight_recovery
from biosim.config import ExperimentBase, Source, Spec, Strict, instantiate
from biosim.family import INTERRUPTED, Family, Outcome, Results, Run, number
from biosim.memory import available_memory
from biosim.networks.pspm import network
from biosim.networks.pspm.target import PSPM_WEIGHTS, PspmRuleKernels
from biosim.params import Current, PositiveTime, PositiveVoltage, Time
from biosim.streams import stream, streams

NETWORKS = ("target", "naive", "final", "control")  # the rasters a run keeps


class InputCurrent(Strict):
    """The frozen Gaussian input: an independent current per neuron and step."""

    mean: Current = 2.5e-10
    sd: Current = Field(1e-10, ge=0)


class GroundTruth(Strict):
    """Weights U{0..levels-1} x unit, negative from inhibitory neurons."""

    levels: int = Field(1000, ge=1, le=10**6, description="distinct weight magnitudes")
    unit: PositiveVoltage = 1.5e-6


class AvalancheAnalysis(Strict):
    """Avalanches of the population activity (spikes per bin): runs above a percentile, power-law fits."""

    bin: PositiveTime = Field(3e-3, description="bin width; a multiple of dt")
    percentile: float = Field(35.0, ge=0, lt=100, description="activity threshold (the authors' 35th)")


class PspmExperiment(ExperimentBase):
    """A PSPM training experiment (family ``pspm``)."""

    family: str = "pspm"
    n: int = Field(400, ge=2, le=4000, description="neurons, all to all (self-connections included)")
    inhibitory_fraction: float = Field(0.2, ge=0, lt=1, description="fraction of inhibitory neurons (Dale)")
    dt: PositiveTime = 3e-3
    duration: Time = Field(15.0, gt=0, description="simulated time per iteration (the same frozen input)")
    neuron: Spec = "lif_euler"
    input: InputCurrent = InputCurrent()
    ground_truth: GroundTruth = GroundTruth()
    naive: Literal["uniform", "half_max"] = Field(
        "uniform", description="initial weights: an independent draw of the ground truth's law, or of half its range")
    rule: Spec = "pspm"
    control: bool = Field(True, description="also train the random-update control from the same naive weights")
    iterations: int = Field(150, ge=0, le=100_000, description="simulate-and-update passes")
    avalanches: AvalancheAnalysis | None = None
    plots: list[str] = ["pspm_distances", "pspm_rasters", "pspm_weights", "pspm_isi"]


class Prepared(NamedTuple):
    neuron: Any
    rule: Any
    kernels: PspmRuleKernels
    control: PspmRuleKernels | None
    steps: int
    bin_steps: int


@dataclass
class PspmResults:
    """A PSPM run. Per simulation (``iterations`` + 1 of them, the last after the final update): D_P, D_A, total
    spikes, weight error (V) and correlation, for the trained model and (``control_*``, empty without one) the
    control; per update the spikes paired and left unpaired and the pairing cost (steps). Rasters uint8[steps, n]
    and weights (V, n x n) of the target, naive, final and control networks; avalanche sizes and durations (bins)
    of each analysed network, their fits in ``avalanche_fits``."""

    rule: str
    title: str
    dt: float  # s
    avalanche_bin: float  # s: the bin of the avalanche analysis (0: none)
    avalanche_fits: dict[str, dict[str, float]]  # network -> tau, alpha, cut-offs, KS, crackling
    inhibitory: np.ndarray  # bool[n]
    distance_per_neuron: np.ndarray
    distance_aggregate: np.ndarray
    spikes: np.ndarray
    weight_error: np.ndarray
    weight_correlation: np.ndarray
    paired: np.ndarray
    unpaired_model: np.ndarray
    unpaired_target: np.ndarray
    pairing_cost: np.ndarray
    control_distance_per_neuron: np.ndarray
    control_distance_aggregate: np.ndarray
    control_spikes: np.ndarray
    control_weight_error: np.ndarray
    rasters: np.ndarray  # uint8[networks, steps, n], in ``raster_names`` order
    raster_names: np.ndarray  # str
    weights: np.ndarray  # float64[networks, n, n], same order
    avalanche_sizes: np.ndarray  # float[total]: every analysed network's, concatenated
    avalanche_durations: np.ndarray  # int[total]
    avalanche_networks: np.ndarray  # str[total]: which network each avalanche is from

    FILE: ClassVar[str] = Results.FILE
    META: ClassVar[tuple[str, ...]] = ("rule", "title", "dt", "avalanche_bin", "avalanche_fits")

    def raster(self, name: str) -> np.ndarray:
        """The raster (steps x n) of network ``name``."""
        return self.rasters[list(self.raster_names).index(name)]

    def weight(self, name: str) -> np.ndarray:
        """The weights (V, n x n) of network ``name``."""
        return self.weights[list(self.raster_names).index(name)]

    def save(self, run_dir: Path) -> Path:
        arrays = {f.name: np.asarray(getattr(self, f.name)) for f in fields(self) if f.name not in self.META}
        return Results(arrays, {name: getattr(self, name) for name in self.META}).save(run_dir)

    @classmethod
    def load(cls, run_dir: Path) -> PspmResults:
        saved = Results.load(run_dir)
        return cls(**{name: saved.meta[name] for name in cls.META},
                   **{f.name: saved.arrays[f.name] for f in fields(cls) if f.name not in cls.META})


def prepare(exp: PspmExperiment, source: Source) -> Prepared:
    neuron = instantiate(exp.neuron, "neuron", source, ("neuron",))
    if "syn" not in getattr(neuron, "synaptic_targets", ()) or neuron.state_vars.get("i_ext") != "current":
        allowed = [name for name in registry.names("neuron")
                   if "syn" in getattr(registry.get("neuron", name), "synaptic_targets", ())]
        raise source.error(f"neuron {neuron.registry_name!r} needs a synaptic target 'syn' and an input current "
                           f"i_ext; allowed here: {', '.join(allowed)}", ("neuron",))
    rule = instantiate(exp.rule, "rule", source, ("rule",), kind=("plugs_into", PSPM_WEIGHTS))
    control = None
    if exp.control:
        if rule.registry_name == "pspm_control":
            raise source.error("rule pspm_control is the control itself; set control: false", ("control",))
        control = registry.get("rule", "pspm_control")(**rule.model_dump()).implementation("numba")
    steps = round(exp.duration / exp.dt)
    if abs(steps * exp.dt - exp.duration) > 1e-9 * exp.duration or steps < 1:
        raise source.error(f"duration {exp.duration:g} s is not a whole number of steps of dt = {exp.dt:g} s",
                           ("duration",))
    bin_steps = 1
    if exp.avalanches is not None:
        bin_steps = round(exp.avalanches.bin / exp.dt)
        if bin_steps < 1 or abs(bin_steps * exp.dt - exp.avalanches.bin) > 1e-9 * exp.avalanches.bin:
            raise source.error(f"bin {exp.avalanches.bin * 1e3:g} ms is not a multiple of dt = {exp.dt * 1e3:g} ms",
                               ("avalanches", "bin"))
    n = exp.n
    needed = steps * n * (8 + 8 + 4 * len(NETWORKS)) + 8 * n * n * (6 + len(NETWORKS))
    free = available_memory()
    if free is not None and needed > free:
        raise source.error(f"n = {n} over {steps} steps needs about {needed / 1e9:.3g} GB, {free / 1e9:.3g} GB "
                           "available", ("n",))
    return Prepared(neuron, rule, rule.implementation("numba"), control, steps, bin_steps)


class Trained:
    """Weights under training and what each of their simulations measured."""

    def __init__(self, W: np.ndarray, kernels: PspmRuleKernels, rng: np.random.Generator):
        self.W, self.kernels, self.rng = W, kernels, rng
        self.rows: list[dict[str, float]] = []
        self.updates: list[tuple[int, int, int, int]] = []
        self.S = np.zeros((0, 0), np.uint8)

    def simulate(self, net: network.PspmNetwork, S_ref: np.ndarray, W_ref: np.ndarray, excitatory: np.ndarray,
                 run: Run) -> None:
        self.S = net.raster(self.W, run.interrupts)
        distances = kernel_distances(self.S.T, S_ref.T)
        recovery = weight_recovery(self.W, W_ref, np.broadcast_to(excitatory[None, :], self.W.shape))
        self.rows.append({"distance_per_neuron": distances.per_neuron, "distance_aggregate": distances.aggregate,
                          "spikes": int(self.S.sum()), "weight_error": recovery.mean_abs_error,
                          "weight_correlation": recovery.correlation})

    def update(self, S_ref: np.ndarray, inhibitory: np.ndarray, it: int) -> None:
        k = self.kernels
        self.updates.append(tuple(int(v) for v in k.update(self.S, S_ref, self.W, inhibitory, it, k.params,
                                                            self.rng)))

    def column(self, key: str) -> np.ndarray:
        return np.array([row[key] for row in self.rows])


def execute(prepared: Prepared, exp: PspmExperiment, run: Run) -> Outcome:
    from tqdm import tqdm

    neuron, rule, kernels, control_kernels, steps, bin_steps = prepared
    rngs = streams(exp.seed, "inhibitory", "ground_truth", "naive", "input")
    n, truth = exp.n, exp.ground_truth
    inhibitory = network.inhibitory_neurons(n, exp.inhibitory_fraction, rngs["inhibitory"])
    W_ref = network.uniform_weights(inhibitory, truth.levels, truth.unit, rngs["ground_truth"])
    levels = truth.levels if exp.naive == "uniform" else max(1, truth.levels // 2)
    W_naive = network.uniform_weights(inhibitory, levels, truth.unit, rngs["naive"])
    current = network.gaussian_current(steps, n, exp.input.mean, exp.input.sd, rngs["input"])
    start = time.perf_counter()
    net = network.PspmNetwork(neuron, current, exp.dt, exp.seed)
    build_s = time.perf_counter() - start
    S_ref = net.raster(W_ref, run.interrupts)
    excitatory = ~inhibitory
    model = Trained(W_naive.copy(), kernels, stream(exp.seed, "rule"))
    control = Trained(W_naive.copy(), control_kernels, stream(exp.seed, "control")) if control_kernels else None
    trained = [t for t in (model, control) if t is not None]
    for t in trained:
        t.simulate(net, S_ref, W_ref, excitatory, run)
    S_naive = model.S.copy()
    run.log.info("target %.3g Hz, naive %.3g Hz; network built and kernel loaded in %.2f s",
                 S_ref.mean() / exp.dt, S_naive.mean() / exp.dt, build_s)
    sim_s = update_s = 0.0
    stop_reason = None
    bar = tqdm(total=exp.iterations, unit="it", desc="training", leave=False, disable=None)
    for it in range(exp.iterations):
        if run.stop_requested:
            stop_reason = INTERRUPTED
            break
        for t in trained:
            begin = time.perf_counter()
            t.update(S_ref, inhibitory, it)
            middle = time.perf_counter()
            t.simulate(net, S_ref, W_ref, excitatory, run)
            update_s += middle - begin
            sim_s += time.perf_counter() - middle
        bar.update(1)
        bar.set_postfix(D_P=f"{model.rows[-1]['distance_per_neuron']:.3g}")
    bar.close()
    names = [name for name in NETWORKS if name != "control" or control is not None]
    rasters = {"target": S_ref, "naive": S_naive, "final": model.S, "control": control.S if control else None}
    weights = {"target": W_ref, "naive": W_naive, "final": model.W, "control": control.W if control else None}
    fits, avalanches = _avalanches(exp, rasters, names, bin_steps, run) if exp.avalanches else ({}, [])
    results = _results(exp, rule, inhibitory, model, control, names, rasters, weights, fits, avalanches)
    metrics = _metrics(exp, rule, model, control, rasters, names, fits)
    done = len(model.updates)
    metrics.update({"iterations_done": done, "build_s": build_s, "simulate_s": sim_s, "update_s": update_s,
                    "seconds_per_iteration": (sim_s + update_s) / max(1, done * len(trained))})
    return Outcome(metrics, results, stop_reason is None, stop_reason)


def _avalanches(exp: PspmExperiment, rasters: dict[str, np.ndarray], names: list[str], bin_steps: int,
                run: Run) -> tuple[dict[str, dict[str, float]], list[tuple[str, Any]]]:
    """Avalanche statistics of every network's population activity; a network without enough avalanches for the
    fits is logged and left out."""
    fits, found = {}, []
    for name in names:
        counts = rasters[name].sum(axis=1, dtype=np.int64)
        usable = counts.size // bin_steps * bin_steps
        activity = counts[:usable].reshape(-1, bin_steps).sum(axis=1).astype(np.float64)
        try:
            stats = avalanche_statistics(activity, exp.avalanches.bin, exp.avalanches.percentile)
        except ValueError as err:
            run.log.warning("avalanches of the %s network: %s", name, err)
            continue
        found.append((name, stats.avalanches))
        fits[name] = {"count": int(stats.avalanches.sizes.size), "threshold": stats.avalanches.threshold,
                      "tau": stats.sizes.exponent, "tau_sigma": stats.sizes.sigma, "size_xmin": stats.sizes.xmin,
                      "size_ks": stats.sizes.ks_distance, "size_lognormal_ratio": stats.sizes.lognormal_ratio,
                      "size_lognormal_p": stats.sizes.lognormal_p,
                      "alpha": stats.durations.exponent, "alpha_sigma": stats.durations.sigma,
                      "duration_xmin": stats.durations.xmin, "duration_ks": stats.durations.ks_distance,
                      "duration_lognormal_ratio": stats.durations.lognormal_ratio,
                      "duration_lognormal_p": stats.durations.lognormal_p,
                      "crackling_slope": stats.crackling.slope, "crackling_predicted": stats.crackling.predicted}
    return fits, found


def _results(exp, rule, inhibitory, model: Trained, control: Trained | None, names, rasters, weights, fits,
             avalanches) -> PspmResults:
    def counts(trained: Trained, k: int) -> np.ndarray:
        return np.array([u[k] for u in trained.updates], np.int64)

    empty = np.zeros(0)
    return PspmResults(
        rule=rule.registry_name, title=exp.description or exp.name, dt=exp.dt,
        avalanche_bin=exp.avalanches.bin if exp.avalanches else 0.0, avalanche_fits=fits,
        inhibitory=inhibitory, distance_per_neuron=model.column("distance_per_neuron"),
        distance_aggregate=model.column("distance_aggregate"), spikes=model.column("spikes"),
        weight_error=model.column("weight_error"), weight_correlation=model.column("weight_correlation"),
        paired=counts(model, 0), unpaired_model=counts(model, 1), unpaired_target=counts(model, 2),
        pairing_cost=counts(model, 3),
        control_distance_per_neuron=control.column("distance_per_neuron") if control else empty,
        control_distance_aggregate=control.column("distance_aggregate") if control else empty,
        control_spikes=control.column("spikes") if control else empty,
        control_weight_error=control.column("weight_error") if control else empty,
        rasters=np.stack([rasters[name] for name in names]), raster_names=np.array(names),
        weights=np.stack([weights[name] for name in names]),
        avalanche_sizes=np.concatenate([a.sizes for _, a in avalanches]) if avalanches else empty,
        avalanche_durations=np.concatenate([a.durations for _, a in avalanches]) if avalanches else
        np.zeros(0, np.int64),
        avalanche_networks=np.concatenate([[name] * a.sizes.size for name, a in avalanches]) if avalanches else
        np.zeros(0, str))


def trains(S: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """A raster (steps x n) as the engine's spike trains (times s, neuron indices), in time order."""
    steps, neurons = np.nonzero(S)
    return steps * dt, neurons


def _metrics(exp, rule, model: Trained, control: Trained | None, rasters, names, fits) -> dict[str, Any]:
    dt, n = exp.dt, exp.n
    first, last = model.rows[0], model.rows[-1]
    spikes = {name: trains(rasters[name], dt) for name in names}
    counts = {name: count_statistics(spikes[name][1], n) for name in names}
    metrics: dict[str, Any] = {
        "rule": rule.registry_name, "naive": exp.naive, "neurons": n, "steps": rasters["target"].shape[0],
        "distance_per_neuron_initial": first["distance_per_neuron"],
        "distance_per_neuron_final": last["distance_per_neuron"],
        "distance_aggregate_initial": first["distance_aggregate"],
        "distance_aggregate_final": last["distance_aggregate"],
        "weight_error_initial": first["weight_error"], "weight_error_final": last["weight_error"],
        "weight_correlation_initial": first["weight_correlation"],
        "weight_correlation_final": last["weight_correlation"],
        "rate_hz": {name: float(rasters[name].mean() / dt) for name in names},
        "spike_count_mean": {name: c.mean for name, c in counts.items()},
        "spike_count_sd": {name: c.sd for name, c in counts.items()},
        "isi_distance": {name: _isi(spikes[name], spikes["target"]) for name in names if name != "target"},
    }
    metrics["distance_per_neuron_ratio"] = _ratio(last["distance_per_neuron"], first["distance_per_neuron"])
    metrics["distance_aggregate_ratio"] = _ratio(last["distance_aggregate"], first["distance_aggregate"])
    metrics["weight_error_ratio"] = _ratio(last["weight_error"], first["weight_error"])
    if control is not None:
        c_first, c_last = control.rows[0], control.rows[-1]
        metrics.update({
            "control_distance_per_neuron_final": c_last["distance_per_neuron"],
            "control_distance_aggregate_final": c_last["distance_aggregate"],
            "control_weight_error_final": c_last["weight_error"],
            "control_distance_per_neuron_ratio": _ratio(c_last["distance_per_neuron"], c_first["distance_per_neuron"]),
            "control_distance_aggregate_ratio": _ratio(c_last["distance_aggregate"], c_first["distance_aggregate"])})
    if fits:
        metrics["avalanches"] = fits
    return metrics


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _isi(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float | None:
    try:
        return isi_distance(a, b)
    except ValueError:  # a network in which no neuron spiked twice
        return None


@registry.register("family", "pspm")
class Pspm(Family):
    """Supervised training of a recurrent spiking network's weights to reproduce target spike trains (PSPM)."""

    schema = PspmExperiment
    results = PspmResults
    plots = ("pspm_distances", "pspm_rasters", "pspm_weights", "pspm_isi", "pspm_avalanches")
    prepare = staticmethod(prepare)
    execute = staticmethod(execute)

    def summary(self, metrics: dict[str, Any]) -> str:
        line = (f"{metrics['rule']} ({metrics['iterations_done']} iterations): D_P "
                f"{number(metrics['distance_per_neuron_initial'], 3)} -> "
                f"{number(metrics['distance_per_neuron_final'], 3)}, D_A "
                f"{number(metrics['distance_aggregate_initial'], 3)} -> "
                f"{number(metrics['distance_aggregate_final'], 3)}, weight error "
                f"{number(metrics['weight_error_initial'], 3)} -> {number(metrics['weight_error_final'], 3)} V")
        if "control_distance_per_neuron_final" in metrics:
            line += (f"; control D_P {number(metrics['control_distance_per_neuron_final'], 3)}, D_A "
                     f"{number(metrics['control_distance_aggregate_final'], 3)}")
        rates = metrics["rate_hz"]
        return line + (f"; rates target {number(rates['target'], 3)} Hz, final {number(rates['final'], 3)} Hz; "
                       f"{number(metrics['seconds_per_iteration'], 3)} s per iteration")
