"""The PSPM family's figures, drawn from small synthetic results: each writes its PNG and draws what it should."""

from __future__ import annotations

import numpy as np
import pytest

from biosim import registry
from biosim.analysis.avalanches import find_avalanches
from biosim.analysis.distances import weight_recovery
from biosim.networks.pspm import plots
from biosim.networks.pspm.family import Pspm, PspmResults
from biosim.networks.pspm.network import uniform_weights
from biosim.streams import streams

N, STEPS, DT, ITERATIONS = 20, 300, 3e-3, 3


def synthetic(control: bool = True, avalanches: bool = True, iterations: int = ITERATIONS,
              rate: float = 0.05) -> PspmResults:
    """Random rasters (spike probability ``rate`` per step), weights and learning curves of the family's shapes."""
    rng = streams(7, "data")["data"]
    inhibitory = np.arange(N) < N // 5
    names = ["target", "naive", "final"] + (["control"] if control else [])
    rasters = (rng.random((len(names), STEPS, N)) < rate).astype(np.uint8)
    weights = np.stack([uniform_weights(inhibitory, 1000, 1.5e-6, rng) for _ in names])
    curve = lambda: rng.random(iterations + 1) * 10  # noqa: E731
    spikes = rng.integers(200, 400, iterations + 1)
    excitatory = np.broadcast_to(~inhibitory[None, :], (N, N))
    found = []
    if avalanches:
        for name, S in zip(names, rasters, strict=True):
            found.append((name, find_avalanches(S.sum(axis=1).reshape(-1, 2).sum(axis=1).astype(float), 2 * DT, 35.0)))
    fits = {name: {"tau": 1.5, "alpha": 2.0, "size_xmin": float(np.median(a.sizes)),
                   "duration_xmin": float(np.median(a.durations)), "crackling_slope": 1.2,
                   "crackling_predicted": 2.0} for name, a in found}
    empty = np.zeros(0)
    return PspmResults(
        rule="pspm", title="synthetic", dt=DT, avalanche_bin=2 * DT, avalanche_fits=fits, inhibitory=inhibitory,
        distance_per_neuron=curve(), distance_aggregate=curve(), spikes=spikes,
        weight_error=curve(), weight_correlation=np.full(iterations + 1, weight_recovery(
            weights[2], weights[0], excitatory).correlation),
        paired=np.zeros(iterations, np.int64), unpaired_model=np.zeros(iterations, np.int64),
        unpaired_target=np.zeros(iterations, np.int64), pairing_cost=np.zeros(iterations, np.int64),
        control_distance_per_neuron=curve() if control else empty,
        control_distance_aggregate=curve() if control else empty,
        control_spikes=rng.integers(200, 400, iterations + 1) if control else empty,
        control_weight_error=curve() if control else empty,
        rasters=rasters, raster_names=np.array(names), weights=weights,
        avalanche_sizes=np.concatenate([a.sizes for _, a in found]) if found else empty,
        avalanche_durations=np.concatenate([a.durations for _, a in found]) if found else np.zeros(0, np.int64),
        avalanche_networks=np.concatenate([[n] * a.sizes.size for n, a in found]) if found else np.zeros(0, str))


@pytest.fixture
def drawn(monkeypatch, tmp_path):
    """Draw a plot, check its PNG, and return the figure it saved."""
    figures = []

    def capture(fig, path):
        figures.append(fig)
        return save(fig, path)

    save = plots.save
    monkeypatch.setattr(plots, "save", capture)

    def draw(name: str, results: PspmResults):
        files = registry.get("plot", name)(results, tmp_path)
        assert files == [tmp_path / f"{name}.png"]
        assert files[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and files[0].stat().st_size > 5000
        return figures[-1]

    return draw


def test_the_family_plots_are_registered():
    assert set(Pspm.plots) <= set(registry.names("plot"))
    assert registry.get("plot", "pspm_avalanches") is plots.avalanches


@pytest.mark.parametrize("control", [True, False])
def test_distances_draw_each_curve_against_iteration(drawn, control):
    results = synthetic(control=control)
    dp, da, rate = drawn("pspm_distances", results).axes
    lines = dp.get_lines()
    assert [line.get_label() for line in lines] == ["pspm", "pspm_control"][:1 + control]
    np.testing.assert_array_equal(lines[0].get_xdata(), np.arange(ITERATIONS + 1))
    np.testing.assert_array_equal(lines[0].get_ydata(), results.distance_per_neuron)
    np.testing.assert_array_equal(da.get_lines()[-1].get_ydata(), results.control_distance_aggregate
                                  if control else results.distance_aggregate)
    hz = 1 / (N * STEPS * DT)
    np.testing.assert_allclose(rate.get_lines()[0].get_ydata(), results.spikes * hz)
    target = rate.get_lines()[-1]
    assert target.get_label() == "target"
    np.testing.assert_allclose(target.get_ydata(), results.raster("target").sum() * hz)
    assert dp.get_yscale() == "linear"


def test_distances_of_a_run_without_updates(drawn):
    assert len(drawn("pspm_distances", synthetic(iterations=0)).axes[0].get_lines()[0].get_xdata()) == 1


@pytest.mark.parametrize("control", [True, False])
def test_rasters_overlay_the_target_on_each_network(drawn, control):
    results = synthetic(control=control)
    axes = drawn("pspm_rasters", results).axes
    assert len(axes) == (3 if control else 2)  # naive, final (, control)
    shown = results.rasters[:, :round(plots.RASTER_SECONDS / DT), :plots.RASTER_NEURONS]  # all of this small run
    for ax, name in zip(axes, [name for name in results.raster_names if name != "target"], strict=True):
        target, model = ax.get_lines()
        assert target.get_xdata().size == shown[0].sum() and model.get_xdata().size == results.raster(name).sum()
        assert model.get_xdata().max() < STEPS * DT and model.get_ydata().max() < N


def test_weights_scatter_every_sampled_synapse_by_type(drawn):
    results = synthetic()
    axes = drawn("pspm_weights", results).axes
    assert len(axes) == 3
    final = axes[1]
    excitatory, inhibitory, identity = final.get_lines()
    assert excitatory.get_xdata().size + inhibitory.get_xdata().size == N * N  # 5000 capped at n^2
    assert inhibitory.get_xdata().size == N * N // 5
    assert np.all(inhibitory.get_xdata() <= 0) and np.all(excitatory.get_xdata() >= 0)
    np.testing.assert_allclose(np.sort(excitatory.get_ydata()), np.sort(results.weight("final")[:, N // 5:].ravel())
                               * 1e6)  # uV
    assert f"r = {results.weight_correlation[-1]:.3g}" in final.get_title()
    assert identity.get_xdata()[0] == identity.get_ydata()[0]


@pytest.mark.parametrize("control", [True, False])
def test_isi_histograms_are_densities(drawn, control):
    results = synthetic(control=control)
    (ax,) = drawn("pspm_isi", results).axes
    assert len(ax.patches) == len(results.raster_names)
    for step in ax.patches:
        density, edges = step.get_data().values, step.get_data().edges
        assert np.sum(density * np.diff(edges)) == pytest.approx(1.0)
        np.testing.assert_allclose(np.round(edges / (DT * 1e3) + 0.5), edges / (DT * 1e3) + 0.5)  # whole steps
    assert ax.get_xlabel() == "inter-spike interval (ms)"


def test_isi_of_silent_networks_says_so(drawn):
    (ax,) = drawn("pspm_isi", synthetic(rate=0.0, avalanches=False)).axes
    assert not ax.patches and "no neuron spiked twice" in ax.texts[0].get_text()


def test_avalanches_draw_ccdfs_with_anchored_power_laws(drawn):
    results = synthetic()
    sizes, durations, crackle = drawn("pspm_avalanches", results).axes
    assert sizes.get_xscale() == sizes.get_yscale() == "log"
    lines = sizes.get_lines()
    assert len(lines) == 2 * len(results.raster_names)  # a CCDF and its fit per network
    for (ccdf, fit), name in zip(zip(lines[::2], lines[1::2], strict=True), results.raster_names, strict=True):
        S, xmin = results.avalanche_sizes[results.avalanche_networks == name], results.avalanche_fits[name]["size_xmin"]
        assert ccdf.get_ydata()[0] == 1.0 and ccdf.get_xdata()[0] == S.min()
        start = fit.get_xdata()[0]
        assert start >= xmin and fit.get_ydata()[0] == pytest.approx(np.count_nonzero(start <= S) / S.size)
        slope = np.diff(np.log(fit.get_ydata()[[0, -1]])) / np.diff(np.log(fit.get_xdata()[[0, -1]]))
        assert slope == pytest.approx(1 - 1.5)
    D = results.avalanche_durations[results.avalanche_networks == "target"]
    assert durations.get_lines()[0].get_xdata()[0] == pytest.approx(D.min() * results.avalanche_bin * 1e3)  # ms
    means = [line for line in crackle.get_lines() if line.get_linestyle() == "None"]
    assert len(means) == len(results.raster_names) and means[0].get_xdata().size == np.unique(D).size


def test_avalanches_absent_is_a_note(drawn):
    (ax,) = drawn("pspm_avalanches", synthetic(avalanches=False)).axes
    assert "no avalanches" in ax.texts[0].get_text()
