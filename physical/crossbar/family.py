"""The ``crossbar`` family: a network trained in software (or hardware-aware, through the tiles with programming
noise drawn afresh every step), written onto memristor tiles, and scored under sweeps of the analog setting; or,
with ``task: nladc``, the NL-ADC alone.

Tasks: ``mlp`` (an MLP on flattened images), ``lstm`` (an LSTM reading each image row by row, gates on NL-ADCs of
``bits``), ``nladc`` (transfer curves, maximum error, INL and missing codes of the in-memory ramp ADC). Every
sweep point is scored ``repeats`` times with fresh programming draws; repeat r starts from the same streams (the
run's ``program/r`` and ``read/r``) at every point, so the draws coincide wherever the setting draws alike.
The base setting's inference is counted for the energy and latency estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import Field

from biosim import registry
from biosim.config import ExperimentBase, Source, Spec, instantiate, validate_params
from biosim.family import INTERRUPTED, Outcome, Run
from biosim.physical.crossbar import nladc as nl
from biosim.physical.crossbar.analog import program, set_generator, set_time, to_digital
from biosim.physical.crossbar.energy import EnergyCount, EnergyFigures
from biosim.physical.crossbar.nets import RowLSTM, mlp, to_analog
from biosim.physical.crossbar.settings import Setting, Sweep, base_of, sweep_settings, value_of
from biosim.physical.crossbar.tile import Crossbar
from biosim.streams import stream
from biosim.torch.common import TorchFamily, initialise, load_data, torch_generator
from biosim.torch.results import TrainingResults
from biosim.torch.trainer import Schedule, train

GRID = 2001  # points of the NL-ADC transfer curve and its error
CURVES = ("z", "transfer", "exact")  # the NL-ADC's input grid, its output there and the exact function


class CrossbarExperiment(ExperimentBase):
    """A network (or an NL-ADC) on memristor tiles, scored under sweeps of the analog setting (family
    ``crossbar``)."""

    family: str = "crossbar"
    task: Literal["mlp", "lstm", "nladc"] = Field("mlp", description="what goes on the tiles")
    data: Spec = Field("digits", description="an image dataset (mlp, lstm)")
    hidden: list[Annotated[int, Field(ge=1)]] = Field([64], min_length=1,
                                                      description="hidden widths (mlp), or [LSTM units] (lstm)")
    activation: Literal["relu", "sigmoid", "tanh"] = Field("relu", description="the MLP's hidden activation")
    training: Literal["software", "hardware_aware"] = Field(
        "software", description="train the float net, or train through the tiles with programming noise")
    training_noise: float = Field(0.05, ge=0, description="hardware-aware training: Gaussian programming noise "
                                                           "(fraction of G_max) drawn afresh every step")
    epochs: int = Field(30, ge=1)
    lr: float = Field(3e-3, gt=0)
    batch_size: int = Field(64, gt=0)
    device: Spec = Field("rram", description="the memristive device model (registry 'device')")
    crossbar: dict[str, Any] = Field({}, description="tile layout and periphery (tile_rows, adc_bits, ir_drop, ...)")
    nladc: dict[str, Any] = Field({}, description="the NL-ADC (function, bits, bias_devices, calibrate)")
    time: Any = Field(0.0, description="time since programming of the base setting, e.g. '1 day'")
    bits: int | None = Field(None, ge=1, le=12, description="NL-ADC bits of the LSTM's gates (null: exact)")
    inference: Literal["numba", "torch"] = Field("numba", description="the MVM path used for scoring")
    repeats: int = Field(3, ge=1, description="programming draws per sweep point")
    sweeps: list[Sweep] = Field([], description="settings to score, each varying one key")
    energy: dict[str, Any] = Field({}, description="per-operation figures of the energy estimate")
    threads: int | None = Field(1, gt=0, description="torch CPU threads")


@dataclass
class Prepared:
    base: Setting
    sweeps: list[list[Setting]]
    figures: EnergyFigures
    split: Any  # ImageSplit, or None for the NL-ADC task


def prepare(exp: CrossbarExperiment, source: Source) -> Prepared:
    device = instantiate(exp.device, "device", source, ("device",))
    crossbar = validate_params(Crossbar, exp.crossbar, source, ("crossbar",))
    spec = validate_params(nl.NLADCSpec, exp.nladc, source, ("nladc",))
    if exp.task == "nladc" and spec.function not in nl.FUNCTIONS:
        from biosim.errors import did_you_mean

        raise source.error(f"unknown NL-ADC function {spec.function!r}{did_you_mean(spec.function, nl.FUNCTIONS)};"
                           f" allowed: {', '.join(nl.FUNCTIONS)}", ("nladc", "function"))
    figures = validate_params(EnergyFigures, exp.energy, source, ("energy",))
    start = base_of(device, crossbar, spec, exp.time, exp.bits)  # the time as written: validated by setting()
    base = start.setting({}, source, ())  # only the plain keys (time, bits) can fail here
    sweeps = sweep_settings(start, exp.sweeps, source)
    if exp.task != "lstm" and (exp.bits is not None or any(s.vary == "bits" for s in exp.sweeps)):
        raise source.error("gate bits are for task lstm (the NL-ADC task varies nladc.bits)", ("bits",))
    located = [(base, ("bits",) if exp.task == "lstm" else ("nladc", "bits")), *(
        (setting, ("sweeps", k, "values", i)) for k, points in enumerate(sweeps) for i, setting in enumerate(points))]
    for setting, loc in located:
        check_nladc(exp, setting, source, loc)
    if exp.task == "nladc":
        return Prepared(base, sweeps, figures, None)
    if exp.task == "lstm" and len(exp.hidden) != 1:
        raise source.error("task lstm takes one width, [units]", ("hidden",))
    data = instantiate(exp.data, "dataset", source, ("data",), kind=("kind", "images"))
    split = load_data(data, exp.seed, source)
    rows = split.shape[1] + exp.hidden[0] + 1
    fan_in = rows if exp.task == "lstm" else max(split.shape[0] * split.shape[1], *exp.hidden)
    for setting, loc in located:
        if exp.task == "lstm" and setting.crossbar.tile_rows < rows:
            raise source.error(f"the LSTM cell's {rows} rows (inputs, hidden, bias) must fit on one tile: "
                               f"tile_rows >= {rows}", loc if loc[0] == "sweeps" else ("crossbar", "tile_rows"))
        problem = ir_drop_problem(setting, fan_in)
        if problem:
            raise source.error(problem, loc if loc[0] == "sweeps" else ("crossbar", "ir_drop"))
    return Prepared(base, sweeps, figures, split)


def check_nladc(exp: CrossbarExperiment, setting: Setting, source: Source, loc: tuple) -> None:
    """Refuse an NL-ADC whose ramp steps span more than the device's on/off ratio (it cannot be written)."""
    bits = setting.bits if exp.task == "lstm" else setting.nladc.bits if exp.task == "nladc" else None
    if bits is None:
        return
    function = setting.nladc.function if exp.task == "nladc" else "sigmoid"  # tanh's steps span the same
    problem = nl.on_off_problem(function, bits, nl.needed_on_off(function, bits), setting.device.g_floor)
    if problem:
        raise source.error(problem, loc)


def ir_drop_problem(setting: Setting, fan_in: int) -> str | None:
    """Why the first-order IR-drop model would be used outside its range (None: it is not): its attenuation
    a (0.5 - 0.2 a + 0.05 a^2) is a small-loss expansion, and a reaches r_wire G_max rows^2 with every input and
    device at full scale; we ask for at most 1. ``fan_in``: the largest layer's rows."""
    c = setting.crossbar
    if c.ir_drop != "first_order":
        return None
    rows = min(c.tile_rows, fan_in)
    a = c.r_wire * setting.device.g_max * rows**2
    if a <= 1:
        return None
    return (f"the first-order IR-drop model holds for small losses: r_wire G_max rows^2 = {a:.3g} > 1 with "
            f"{rows} rows per tile; use ir_drop: exact, fewer tile_rows or a smaller r_wire")


def build(exp: CrossbarExperiment, split) -> torch.nn.Module:
    height, width = split.shape
    n_classes = int(max(split.train_y.max(), split.test_y.max())) + 1
    net = (RowLSTM(width, exp.hidden[0], n_classes) if exp.task == "lstm"
           else mlp(height * width, exp.hidden, n_classes, exp.activation))
    initialise(net.double(), torch_generator(exp.seed, "init"))
    return net


def accuracy(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    was = net.training
    net.eval()
    with torch.no_grad():
        score = float((net(x).argmax(dim=1) == y).double().mean())
    net.train(was)
    return score


def fit(exp: CrossbarExperiment, prepared: Prepared, net: torch.nn.Module, data, run: Run):
    """Train ``net`` (the float net, or its analog copy for hardware-aware training); returns (trained float net,
    training record)."""
    x, y, tx, ty = data
    if exp.training == "hardware_aware":
        noisy = prepared.base.device.model_copy(update={"programming": "gaussian",
                                                        "sigma_programming": exp.training_noise})
        trained = to_analog(net, noisy, prepared.base.crossbar, exp.bits, nladc=prepared.base.nladc)
        set_generator(trained, torch_generator(exp.seed, "hardware_aware"))
    else:
        trained = net
    trained.train()

    def losses(index, active):
        return [torch.nn.functional.cross_entropy(trained(x[index]), y[index])], {}

    def evaluate(stage, epoch):
        return {"train_accuracy": accuracy(trained, x, y), "test_accuracy": accuracy(trained, tx, ty)}

    schedule = Schedule(stages=[[0]], epochs=exp.epochs, items=len(x), batch_size=exp.batch_size, seed=exp.seed)
    record = train(trained, [list(trained.parameters())], losses, evaluate, schedule,
                   lambda params: torch.optim.Adam(params, lr=exp.lr), stop=lambda: run.stop_requested, log=run.log)
    return (to_digital(trained) if trained is not net else net), record


def score_network(exp: CrossbarExperiment, net, setting: Setting, draw: int, data, count: EnergyCount | None = None):
    """Test accuracy of ``net`` written on tiles of ``setting`` (programming draw ``draw``)."""
    analog = to_analog(net, setting.device, setting.crossbar, setting.bits, exp.inference, setting.nladc)
    program(analog, stream(exp.seed, f"program/{draw}"), stream(exp.seed, f"read/{draw}"))
    set_time(analog, setting.time)
    if count is not None:
        for part in analog.modules():
            if hasattr(part, "meter"):
                part.meter = count
        count.inferences += len(data[2])
    return {"accuracy": accuracy(analog, data[2], data[3])}


def score_nladc(exp: CrossbarExperiment, setting: Setting, draw: int) -> dict[str, Any]:
    """The NL-ADC of ``setting`` programmed with draw ``draw``: max |f~ - f| over its input range (midpoint
    reconstruction), max |INL| (LSB), missing codes, and the transfer curve."""
    f, f_inverse, (lo, hi) = nl.FUNCTIONS[setting.nladc.function]
    adc = nl.build_nladc(setting.nladc, setting.device, stream(exp.seed, f"program/{draw}"))
    edge = f_inverse(lo + (hi - lo) / 2 ** (setting.nladc.bits + 1))  # half an LSB inside the range
    z = np.linspace(edge, -edge, GRID)  # both functions are odd about their midpoint
    out = adc(z, setting.time)
    linearity = adc.linearity(setting.time)
    return {"max_abs_error": float(np.abs(out - f(z)).max()), "inl_lsb": linearity["max_inl_lsb"],
            "missing_codes": float(linearity["missing_codes"]), "transfer": out, "z": z, "exact": f(z)}


def execute(prepared: Prepared, exp: CrossbarExperiment, run: Run) -> Outcome:
    from tqdm import tqdm

    metrics: dict[str, Any] = {"task": exp.task}
    history: list[dict] = []
    arrays: dict[str, np.ndarray] = {}
    complete, reason = True, None
    if exp.task == "nladc":
        def score(setting, draw, count=None):
            return score_nladc(exp, setting, draw)
    else:
        split = prepared.split
        data = tuple(torch.from_numpy(a) for a in (split.train_x, split.train_y, split.test_x, split.test_y))
        data = (data[0].double(), data[1], data[2].double(), data[3])
        net, record = fit(exp, prepared, build(exp, split), data, run)
        history, complete, reason = record.history, record.complete, record.stop_reason
        metrics["test_accuracy_float"] = accuracy(net, data[2], data[3])
        metrics["train_accuracy_float"] = accuracy(net, data[0], data[1])
        metrics["epochs_run"] = record.epochs_run
        arrays["float_accuracy"] = np.array(metrics["test_accuracy_float"])

        def score(setting, draw, count=None):
            return score_network(exp, net, setting, draw, data, count)

    count = EnergyCount()
    points = [(None, 0, prepared.base)] + [(k, i, s) for k, settings in enumerate(prepared.sweeps)
                                           for i, s in enumerate(settings)]
    jobs = [(k, i, setting, draw) for k, i, setting in points for draw in range(exp.repeats)] if complete else []
    scores: dict[tuple, list[dict]] = {}
    for k, i, setting, draw in tqdm(jobs, unit="setting", desc="scoring on tiles", leave=False, disable=None):
        if run.stop_requested:
            complete, reason = False, INTERRUPTED
            break
        scores.setdefault((k, i), []).append(score(setting, draw, count if (k, draw) == (None, 0) else None))
    measures = [m for m in next(iter(scores.values()), [{}])[0] if m not in CURVES]
    base = scores.get((None, 0), [])
    for m in measures:
        values = [s[m] for s in base]
        key = "test_accuracy" if m == "accuracy" else m
        metrics[key], metrics[f"{key}_std"] = float(np.mean(values)), float(np.std(values))
    sweep_metrics = {}
    for k, sweep in enumerate(exp.sweeps):
        done = [i for i in range(len(sweep.values)) if len(scores.get((k, i), [])) == exp.repeats]
        entry = {"vary": sweep.vary, "values": [sweep.values[i] for i in done]}
        arrays[f"sweep:{sweep.name}:values"] = np.array([value_of(prepared.sweeps[k][i], sweep.vary) for i in done])
        arrays[f"sweep:{sweep.name}:vary"] = np.array(sweep.vary)
        arrays[f"sweep:{sweep.name}:panel"] = np.array(sweep.panel or sweep.name)
        for m in measures:
            table = np.array([[s[m] for s in scores[(k, i)]] for i in done]).reshape(len(done), exp.repeats)
            arrays[f"sweep:{sweep.name}:{m}"] = table
            entry[f"{m}_mean"] = table.mean(axis=1).tolist()
            entry[f"{m}_std"] = table.std(axis=1).tolist()
            entry[f"{m}_median"] = np.median(table, axis=1).tolist()
        if exp.task == "nladc" and done:
            for curve in CURVES:  # the first draw's
                arrays[f"sweep:{sweep.name}:{curve}"] = np.stack([scores[(k, i)][0][curve] for i in done])
        sweep_metrics[sweep.name] = entry
    metrics["sweeps"] = sweep_metrics
    if count.inferences:
        metrics.update(count.report(prepared.figures))
    results = TrainingResults(exp.name, exp.task, "accuracy", ["cross-entropy"], history, np.zeros(0, np.int64),
                              arrays=arrays)
    return Outcome(metrics, results, complete, reason)


@registry.register("family", "crossbar")
class CrossbarFamily(TorchFamily):
    """Networks and NL-ADCs on memristor tiles, scored under sweeps of the analog setting."""

    schema = CrossbarExperiment
    plots = ("learning_curves", "robustness", "nladc_transfer")
    prepare = staticmethod(prepare)
    train = staticmethod(execute)

    def summary(self, metrics: dict[str, Any]) -> str:
        if metrics.get("task") == "nladc":
            return (f"NL-ADC: max error {metrics.get('max_abs_error', math.nan):.4g}, max |INL| "
                    f"{metrics.get('inl_lsb', math.nan):.3g} LSB, missing codes {metrics.get('missing_codes')}")
        return (f"test accuracy: float {metrics.get('test_accuracy_float', math.nan):.4f}, on tiles "
                f"{metrics.get('test_accuracy', math.nan):.4f} +- {metrics.get('test_accuracy_std', math.nan):.4f}"
                f"; energy {metrics.get('energy_j', math.nan):.3g} J per inference")
