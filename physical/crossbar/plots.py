"""Figures of the crossbar family: robustness curves of every sweep, and the NL-ADC's transfer curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from biosim.plotting import figure, note, save
from biosim.registry import register
from biosim.torch.results import TrainingResults

AXES = {"device.sigma_programming": "programming noise sigma (see the device's programming model)",
        "device.levels": "conductance levels per device", "device.stuck_on": "fraction of devices stuck",
        "device.stuck_off": "fraction of devices stuck", "device.sigma_read": "read noise (relative)",
        "time": "time since programming (s)", "crossbar.tile_rows": "rows per tile",
        "crossbar.adc_bits": "ADC resolution (bits)", "crossbar.dac_bits": "DAC resolution (bits)",
        "bits": "NL-ADC gate resolution (bits)", "nladc.bits": "NL-ADC resolution (bits)"}
MEASURES = {"accuracy": "test accuracy (fraction)", "max_abs_error": "max |error| (output units)",
            "inl_lsb": "max |INL| (LSB)", "missing_codes": "missing codes"}


def sweeps_of(results: TrainingResults) -> dict[str, dict[str, np.ndarray]]:
    """Sweep name -> its arrays (values, vary, panel, one table per measure: values x repeats, curves)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for key, value in results.arrays.items():
        if key.startswith("sweep:"):
            _, name, part = key.split(":", 2)
            out.setdefault(name, {})[part] = value
    return out


def _positions(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """x positions with a null value (NaN: continuous, ideal) one step beyond the largest, and tick labels."""
    finite = values[np.isfinite(values)]
    beyond = finite.max() * 2 if len(finite) and finite.max() > 0 else 1.0
    x = np.where(np.isfinite(values), values, beyond)
    return x, [f"{v:g}" if np.isfinite(v) else "ideal" for v in values]


@register("plot", "robustness")
def robustness(results: TrainingResults, out: Path) -> list[Path]:
    """Each panel: a measure (median and interquartile range over programming draws) against the varied key, the
    float net's test accuracy dashed."""
    sweeps = sweeps_of(results)
    if not sweeps:
        return []
    panels: dict[str, list[str]] = {}
    for name, arrays in sweeps.items():
        panels.setdefault(str(arrays["panel"]), []).append(name)
    measures = [m for m in MEASURES if any(m in arrays for arrays in sweeps.values())]
    if not measures:  # stopped before any point was scored
        return []
    fig, axes = figure(len(measures), len(panels), (4.2 * len(panels), 3.4 * len(measures)), squeeze=False)
    for col, (panel, names) in enumerate(panels.items()):
        for row, measure in enumerate(measures):
            ax = axes[row, col]
            for name in names:
                arrays = sweeps[name]
                if measure not in arrays or not len(arrays["values"]):
                    continue
                x, labels = _positions(arrays["values"])
                low, median, high = np.percentile(arrays[measure], [25, 50, 75], axis=1)
                ax.errorbar(x, median, yerr=np.vstack([median - low, high - median]), marker="o", capsize=3, label=name)
                if not np.isfinite(arrays["values"]).all():
                    ax.set_xticks(x, labels)
                vary = str(arrays["vary"])
                if vary == "time" and (x > 0).all():
                    ax.set_xscale("log")
            if measure == "accuracy" and "float_accuracy" in results.arrays:
                ax.axhline(float(results.arrays["float_accuracy"]), color="grey", linestyle="--",
                           label="float (software)")
            ax.set_xlabel(AXES.get(str(sweeps[names[0]]["vary"]), str(sweeps[names[0]]["vary"])))
            ax.set_ylabel(MEASURES[measure])
            ax.set_title(panel, fontsize=9)
            if ax.lines or ax.collections:
                ax.legend(fontsize=7)
            else:
                note(ax, "no points scored")
    fig.suptitle(f"{results.title}: on memristor tiles", fontsize=10)
    return save(fig, out / "robustness.png")


@register("plot", "nladc_transfer")
def nladc_transfer(results: TrainingResults, out: Path) -> list[Path]:
    """The NL-ADC's reconstructed output against its column signal (first programming draw), per sweep value,
    with the exact function."""
    sweeps = {name: arrays for name, arrays in sweeps_of(results).items() if "transfer" in arrays}
    if not sweeps:
        return []
    cols = min(4, len(sweeps))
    rows = -(-len(sweeps) // cols)
    fig, axes = figure(rows, cols, (4.2 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.flat[len(sweeps):]:
        ax.set_visible(False)
    for ax, (name, arrays) in zip(axes.flat, sweeps.items(), strict=False):
        for value, z, y in zip(arrays["values"], arrays["z"], arrays["transfer"], strict=True):
            ax.step(z, y, where="mid", linewidth=1, label=f"{str(arrays['vary'])} = {value:g}")
        ax.plot(arrays["z"][0], arrays["exact"][0], color="black", linestyle="--", linewidth=1, label="exact")
        ax.set_xlabel("column signal z (G_max V_read units, at 1 V)")
        ax.set_ylabel("reconstructed output f(z)")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(f"{results.title}: NL-ADC transfer curves", fontsize=10)
    return save(fig, out / "nladc_transfer.png")
