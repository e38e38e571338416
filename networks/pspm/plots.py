"""Figures of the PSPM family (Bagley et al. arXiv 1810.03199), drawn from saved ``PspmResults``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from biosim.analysis.avalanches import crackling
from biosim.analysis.distances import isi_distance, weight_recovery
from biosim.analysis.spikes import isis
from biosim.networks.pspm.family import PspmResults, trains
from biosim.plotting import figure, note, save
from biosim.registry import register
from biosim.streams import stream

COLORS = {"target": "k", "naive": "tab:blue", "final": "tab:red", "control": "tab:green"}
RASTER_NEURONS, RASTER_SECONDS = 40, 3.0  # the corner of the rasters drawn
WEIGHT_SAMPLES = 5000  # synapses in each weight scatter
ISI_BINS = 60  # log-spaced ISI bins (before merging those that fall on one step of dt)
UV = 1e6  # V -> uV


def _title(results: PspmResults) -> str:
    return f"{results.title} (rule {results.rule})"


def _trained(results: PspmResults) -> list[str]:
    """The networks compared with the target: naive, final and (when trained) control."""
    return [name for name in results.raster_names if name != "target"]


@register("plot", "pspm_distances")
def distances(results: PspmResults, out: Path) -> list[Path]:
    """D_P, D_A and the population rate against iteration (simulation k follows k updates), for the rule and the
    random-update control, the rate against the target's."""
    fig, axes = figure(1, 3, (15, 4.3))
    steps, n = results.rasters.shape[1:]
    to_hz = 1 / (n * steps * results.dt)
    curves = [(results.rule, COLORS["final"], results.distance_per_neuron, results.distance_aggregate,
               results.spikes)]
    if results.control_spikes.size:
        curves.append(("pspm_control", COLORS["control"], results.control_distance_per_neuron,
                       results.control_distance_aggregate, results.control_spikes))
    for label, color, *series in curves:
        for ax, values, scale in zip(axes, series, (1.0, 1.0, to_hz), strict=True):
            ax.plot(np.arange(values.size), values * scale, "o-", ms=3, lw=1.2, color=color, label=label)
    axes[2].axhline(results.raster("target").sum() * to_hz, color=COLORS["target"], ls="--", lw=1.2, label="target")
    for ax, what in zip(axes, ("D_P, per-neuron distance (dimensionless)", "D_A, aggregate distance (dimensionless)",
                               "population rate (Hz)"), strict=True):
        ax.set_xlabel("iteration (weight updates)")
        ax.set_ylabel(what)
        ax.set_xlim(-0.5, max(results.spikes.size - 0.5, 1))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_title("per-neuron distance to the target", fontsize=9)
    axes[1].set_title("aggregate (population) distance", fontsize=9)
    axes[2].set_title(f"spikes / (n steps dt), n = {n}, {steps * results.dt:g} s", fontsize=9)
    fig.suptitle(_title(results), fontsize=10)
    return save(fig, out / "pspm_distances.png")


@register("plot", "pspm_rasters")
def rasters(results: PspmResults, out: Path) -> list[Path]:
    """The first neurons over the first seconds: the target's spikes overlaid on each trained network's."""
    names = _trained(results)
    fig, axes = figure(len(names), 1, (12, 2.6 * len(names) + 0.8), sharex=True, squeeze=False)
    steps, n = results.rasters.shape[1:]
    shown_steps, shown = min(steps, max(1, round(RASTER_SECONDS / results.dt))), min(n, RASTER_NEURONS)
    final_distance = {"naive": results.distance_per_neuron[0], "final": results.distance_per_neuron[-1]}
    if results.control_distance_per_neuron.size:
        final_distance["control"] = results.control_distance_per_neuron[-1]
    for ax, name in zip(axes[:, 0], names, strict=True):
        for network, marker, size in (("target", "|", 7), (name, "o", 2.5)):
            t, i = trains(results.raster(network)[:shown_steps, :shown], results.dt)
            ax.plot(t, i, marker, ms=size, ls="none", color=COLORS[network], label=f"{network} ({t.size} spikes)")
        ax.set_ylabel("neuron index")
        ax.set_ylim(-0.5, shown - 0.5)
        ax.set_xlim(0, shown_steps * results.dt)
        ax.set_title(f"{name} vs target: D_P = {final_distance[name]:.4g} over all {steps * results.dt:g} s",
                     fontsize=9, loc="left")
        ax.legend(fontsize=8, loc="lower right", bbox_to_anchor=(1, 1), ncol=2, frameon=False, borderaxespad=0.1)
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(f"{_title(results)}: neurons 0-{shown - 1}", fontsize=10)
    return save(fig, out / "pspm_rasters.png")


@register("plot", "pspm_weights")
def weights(results: PspmResults, out: Path) -> list[Path]:
    """Each trained network's weights against the ground truth's on one seeded sample of synapses, excitatory and
    inhibitory (by presynaptic type) apart, with the identity line and the excitatory correlation."""
    names = _trained(results)
    fig, axes = figure(1, len(names), (4.6 * len(names), 4.6), squeeze=False)
    W_ref = results.weight("target")
    n = W_ref.shape[0]
    excitatory = np.broadcast_to(~results.inhibitory[None, :], W_ref.shape)  # W[i, j]: from j to i
    sample = stream(0, "pspm_weights").choice(n * n, min(WEIGHT_SAMPLES, n * n), replace=False)
    rows, cols = np.unravel_index(sample, W_ref.shape)
    inhibitory = results.inhibitory[cols]
    low, high = results.weights.min() * UV, results.weights.max() * UV  # the target's weights included
    for ax, name in zip(axes[0], names, strict=True):
        W = results.weight(name)
        for kind, keep, color in (("excitatory", ~inhibitory, "tab:red"), ("inhibitory", inhibitory, "tab:blue")):
            ax.plot(W_ref[rows[keep], cols[keep]] * UV, W[rows[keep], cols[keep]] * UV, ".", ms=2, alpha=0.4,
                    color=color, label=f"{kind} ({keep.sum()})")
        ax.plot([low, high], [low, high], "k--", lw=1, label="W = W_ref")
        r = weight_recovery(W, W_ref, excitatory).correlation
        ax.set_title(f"{name}: excitatory r = {r:.3g}", fontsize=9)
        ax.set_xlabel("ground-truth weight W_ref (uV)")
        ax.set_ylabel(f"{name} weight W (uV)")
        ax.set_aspect("equal", adjustable="box")
        ax.legend(fontsize=7, loc="upper left", markerscale=4)
    fig.suptitle(f"{_title(results)}: {sample.size} of {n * n} synapses", fontsize=10)
    return save(fig, out / "pspm_weights.png")


@register("plot", "pspm_isi")
def isi(results: PspmResults, out: Path) -> list[Path]:
    """ISI histograms (density per ms, intervals pooled over neurons) of every network on log-spaced bins whose
    edges sit halfway between multiples of dt (each bin holds whole steps), with each ISI distance to the target."""
    fig, ax = figure(1, 1, (7.5, 4.8))
    intervals = {name: isis(*trains(results.raster(name), results.dt)) for name in results.raster_names}
    longest = max((d.max() for d in intervals.values() if d.size), default=0.0)
    if longest == 0.0:
        note(ax, "no neuron spiked twice: no inter-spike interval")
    else:
        shortest = min(d.min() for d in intervals.values() if d.size)
        multiples = np.unique(np.round(np.geomspace(shortest / results.dt, longest / results.dt, ISI_BINS)))
        edges = (np.append(multiples, multiples[-1] + 1) - 0.5) * results.dt * 1e3  # ms
        reference = trains(results.raster("target"), results.dt)
        for name, d in intervals.items():
            if not d.size:
                continue
            label = f"{name} ({d.size} ISIs"
            if name != "target" and intervals["target"].size:
                label += f", ISI distance {isi_distance(trains(results.raster(name), results.dt), reference):.3g}"
            density, _ = np.histogram(d * 1e3, edges, density=True)
            ax.stairs(density, edges, color=COLORS[name], lw=1.8 if name == "target" else 1.2, label=label + ")")
        ax.set_xscale("log")
        ax.legend(fontsize=8)
    ax.set_xlabel("inter-spike interval (ms)")
    ax.set_ylabel("probability density (1/ms)")
    ax.grid(alpha=0.3)
    ax.set_title(_title(results), fontsize=9)
    return save(fig, out / "pspm_isi.png")


def _ccdf(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of ``x`` and P(X >= value)."""
    values, counts = np.unique(x, return_counts=True)
    return values, np.cumsum(counts[::-1])[::-1] / x.size


@register("plot", "pspm_avalanches")
def avalanches(results: PspmResults, out: Path) -> list[Path]:
    """CCDFs of avalanche sizes (spikes) and durations (ms) with the fitted power laws over
    their tails, and mean size against duration with the crackling-noise slopes, for every analysed network."""
    title = _title(results)
    if not results.avalanche_sizes.size:
        fig, ax = figure(1, 1, (6, 3))
        note(ax, "no avalanches: the run had no avalanches analysis\n(set avalanches: {...}) or too few to fit")
        ax.set_axis_off()
        fig.suptitle(title, fontsize=10)
        return save(fig, out / "pspm_avalanches.png")
    fig, (size_ax, duration_ax, crackle_ax) = figure(1, 3, (15, 4.6))
    ms = results.avalanche_bin * 1e3  # bin width (ms)
    for name in dict.fromkeys(results.avalanche_networks):
        mine = results.avalanche_networks == name
        S, D = results.avalanche_sizes[mine], results.avalanche_durations[mine]
        fit, color = results.avalanche_fits.get(name), COLORS.get(name)
        for ax, x, scale, exponent, xmin in ((size_ax, S, 1.0, "tau", "size_xmin"),
                                             (duration_ax, D, ms, "alpha", "duration_xmin")):
            values, ccdf = _ccdf(x)
            label = f"{name} ({x.size} avalanches)"
            if fit:
                label += f", {'τ' if exponent == 'tau' else 'α'} = {fit[exponent]:.3g}"
            ax.loglog(values * scale, ccdf, ".-", ms=3, lw=0.8, color=color, label=label)
            if fit:
                tail = values[values >= fit[xmin]]
                anchor = ccdf[values >= fit[xmin]][0] if tail.size else np.nan
                ax.loglog(tail * scale, anchor * (tail / fit[xmin]) ** (1 - fit[exponent]), "--", lw=1.5,
                          color=color)
        values, inverse, counts = np.unique(D, return_inverse=True, return_counts=True)
        mean_size = np.bincount(inverse, weights=S) / counts
        label = name
        if fit and values.size >= 2:
            line = crackling(S, D, fit["tau"], fit["alpha"])
            crackle_ax.loglog(values * ms, np.exp(line.intercept) * values ** line.slope, "--", lw=1.2, color=color)
            label += f": slope {line.slope:.3g} (predicted {line.predicted:.3g})"
        crackle_ax.loglog(values * ms, mean_size, "o", ms=3, color=color, label=label)
    size_ax.set_xlabel("avalanche size S (spikes)")
    size_ax.set_ylabel("P(size >= S)")
    size_ax.set_title("sizes; dashed: power law over x >= x_min", fontsize=9)
    duration_ax.set_xlabel(f"avalanche duration D (ms; bins of {ms:g} ms)")
    duration_ax.set_ylabel("P(duration >= D)")
    duration_ax.set_title("durations; dashed: power law over x >= x_min", fontsize=9)
    crackle_ax.set_xlabel("avalanche duration D (ms)")
    crackle_ax.set_ylabel("mean size <S>(D) (spikes)")
    crackle_ax.set_title("crackling noise: <S> ~ D^((α-1)/(τ-1))", fontsize=9)
    for ax in (size_ax, duration_ax, crackle_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return save(fig, out / "pspm_avalanches.png")
