"""Figures of the dense Hebbian family, drawn from saved ``DenseHebbianResults``."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from biosim.networks.dense_hebbian import theory
from biosim.networks.dense_hebbian.family import DenseHebbianResults
from biosim.plotting import figure, note, save
from biosim.registry import register

LABELS = {"alpha": "load alpha = K / N^(P-1)", "beta": "inverse temperature beta", "M": "examples per archetype M",
          "r": "quality r", "N": "neurons N", "K": "archetypes K", "P": "interaction order P"}


def _setting(s: dict) -> str:
    if s["images"]:
        return f"images, N = {s['N']}, P = {s['P']}, beta = {s['beta']:g}, {s['storage']}"
    return (f"N = {s['N']}, K = {s['K']}, M = {s['M']}, r = {s['r']:g}, P = {s['P']}, beta = {s['beta']:g}, "
            f"{s['storage']}, {s['dynamics']}")


@register("plot", "dense_hebbian_traces")
def dense_hebbian_traces(results: DenseHebbianResults, out: Path) -> list[Path]:
    """Mattis magnetisation of the retrieved archetype and energy per spin vs sweeps, every chain of the first grid
    point, with the T = 0 majority vote (and the P = 2 mean-field value) as lines."""
    fig, (left, right) = figure(1, 2, (11, 4.2))
    sweeps, m, e = results.recorded_sweeps, results.m[0], results.energy[0]
    ran = ~np.all(np.isnan(m), axis=1)
    left.set_xlabel("sweeps (N attempted flips each)")
    left.set_ylabel("Mattis magnetisation m of the\nretrieved archetype")
    right.set_xlabel("sweeps (N attempted flips each)")
    right.set_ylabel("energy per spin H / N")
    if not ran.any():
        note(left, "no chain run")
        note(right, "no chain run")
    else:
        for trace in m[ran][:50]:
            left.plot(sweeps, trace, color="C0", alpha=0.4, lw=1)
        for trace in e[ran][:50]:
            right.plot(sweeps, trace, color="C1", alpha=0.4, lw=1)
        if np.isfinite(results.theory_m[0]):
            left.axhline(results.theory_m[0], color="k", ls="--",
                         label=f"T = 0 majority vote {results.theory_m[0]:.3f}")
        if np.isfinite(results.mean_field_m[0]):
            left.axhline(results.mean_field_m[0], color="C3", ls=":",
                         label=f"P = 2 mean field {results.mean_field_m[0]:.3f}")
        if left.get_legend_handles_labels()[0]:
            left.legend(fontsize=8)
        left.set_ylim(min(-0.05, float(np.nanmin(m))), 1.05)
    s = results.settings[0]
    left.set_title(f"{int(ran.sum())} chains" + (f" ({int(ran.size - ran.sum())} not run)" if not ran.all() else ""),
                   fontsize=9)
    fig.suptitle(f"{results.title}\n{_setting(s)}", fontsize=9)
    return save(fig, out / "dense_hebbian_traces.png")


def _theory_lines(ax, results: DenseHebbianResults, x: str, y: str, xs: np.ndarray, ys: np.ndarray) -> None:
    """Draw the analytic lines that apply to the swept pair (x, y) (positions are in grid-index coordinates)."""
    s = results.settings[0]

    def at(values: np.ndarray, grid: np.ndarray) -> np.ndarray:  # data value -> fractional grid index
        return np.interp(values, grid, np.arange(grid.size))

    if {x, y} == {"M", "r"}:
        theory_grid = np.array([[theory.majority_magnetization(int(M if x == "M" else b), float(b if x == "M" else M))
                                 for M in xs] for b in ys])
        lines = ax.contour(np.arange(xs.size), np.arange(ys.size), theory_grid, levels=[0.5, 0.9], colors="w",
                           linestyles=["--", ":"])
        ax.clabel(lines, fmt={0.5: "theory m = 0.5", 0.9: "theory m = 0.9"}, fontsize=7)
    if x == "alpha" and y == "beta":
        if s["P"] == 2:
            ax.axhline(at(np.array([1.0]), ys)[0], color="w", ls="--", lw=1, label="beta_c = 1 (low load)")
            if s["M"] == 1 and s["r"] == 1:
                a = np.linspace(xs.min(), xs.max(), 100)
                ax.plot(at(a, xs), at(theory.hopfield_glass_beta(a), ys), color="w", ls=":",
                        label="Hopfield T_g = 1 + sqrt(alpha)")
                if xs.min() <= theory.HOPFIELD_ALPHA_C <= xs.max():
                    ax.axvline(at(np.array([theory.HOPFIELD_ALPHA_C]), xs)[0], color="w", ls="-.", lw=1,
                               label="Hopfield alpha_c(T = 0) = 0.138")
        crosstalk = theory.crosstalk_load(s["P"], s["M"], s["r"])
        if xs.min() <= crosstalk <= xs.max():
            ax.axvline(at(np.array([crosstalk]), xs)[0], color="0.8", ls="--", lw=1, label="crosstalk SNR = 1")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="lower left")


@register("plot", "dense_hebbian_phase")
def dense_hebbian_phase(results: DenseHebbianResults, out: Path) -> list[Path]:
    """Final Mattis magnetisation over the swept parameters: a heat map with the theory lines drawn over it (two
    axes), or m against the one swept parameter with the T = 0 and mean-field theory (one axis)."""
    axes = results.axes
    fig, ax = figure(1, 1, (7, 5))
    s = results.settings[0]
    if len(axes) == 1:
        xs = np.asarray(results.values[0], float)
        ax.plot(xs, results.final_m, "o-", label="Monte Carlo (mean over chains)")
        if np.isfinite(results.theory_m).any():
            ax.plot(xs, results.theory_m, "k--", label="T = 0 majority vote")
        if np.isfinite(results.mean_field_m).any():
            ax.plot(xs, results.mean_field_m, "C3:", label="P = 2 mean field")
        ax.set_xlabel(LABELS[axes[0]])
        ax.set_ylabel("Mattis magnetisation m")
        ax.set_ylim(-0.05, 1.05)
        ax.legend(fontsize=8)
    elif len(axes) == 2:
        ys, xs = (np.asarray(v, float) for v in results.values)
        grid = results.final_m.reshape(ys.size, xs.size)
        image = ax.imshow(grid, origin="lower", aspect="auto", vmin=0, vmax=1, cmap="viridis")
        fig.colorbar(image, ax=ax, label="Mattis magnetisation m")
        ax.set_xticks(np.arange(xs.size), [f"{v:g}" for v in xs], fontsize=7, rotation=45)
        ax.set_yticks(np.arange(ys.size), [f"{v:g}" for v in ys], fontsize=7)
        ax.set_xlabel(LABELS[axes[1]])
        ax.set_ylabel(LABELS[axes[0]])
        _theory_lines(ax, results, axes[1], axes[0], xs, ys)
    else:
        note(ax, "no swept parameter")
    fixed = ", ".join(f"{k} = {s[k]:g}" for k in ("N", "K", "M", "r", "P", "beta") if k not in axes
                      and not (k == "K" and "alpha" in axes))
    fig.suptitle(f"{results.title}\n{fixed}, {s['storage']}", fontsize=9)
    return save(fig, out / "dense_hebbian_phase.png")


@register("plot", "dense_hebbian_accuracy")
def dense_hebbian_accuracy(results: DenseHebbianResults, out: Path) -> list[Path]:
    """Test accuracy of classification by relaxation against the swept parameter (P), with the nearest-mean
    accuracy of the unrelaxed images as a line."""
    fig, ax = figure(1, 1, (6.5, 4.5))
    ax.set_ylabel("test accuracy (fraction correct)")
    if len(results.axes) != 1 or not np.isfinite(results.accuracy).any():
        ax.set_xlabel("interaction order P")
        note(ax, "needs image data and one swept parameter")
    else:
        xs = np.asarray(results.values[0], float)
        ax.plot(xs, results.accuracy, "o-", label="after relaxation")
        if not math.isnan(results.nearest_mean_accuracy):
            ax.axhline(results.nearest_mean_accuracy, color="k", ls="--", label="nearest class mean (no dynamics)")
        ax.set_xlabel(LABELS[results.axes[0]])
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=8)
    s = results.settings[0]
    fig.suptitle(f"{results.title}\nN = {s['N']}, {len(results.settings)} points, beta = {s['beta']:g}, "
                 f"{s['storage']}", fontsize=9)
    return save(fig, out / "dense_hebbian_accuracy.png")
