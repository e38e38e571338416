"""Every plot of the spiking, dendritic-segments, temporal-memory and Sparsey families on degenerate data
(no spikes, one spike, perfectly regular firing, one neuron, zero-length and one-step runs, empty SDR
results), from synthetic recordings and results (no simulation); the typed results' save/load round trip;
the smoothing of rates at a run's edges; units and subset/truncation notes on the figures."""

from __future__ import annotations

import warnings
from dataclasses import fields

import numpy as np
import pytest

from biosim import plotting, registry
from biosim.engine.simulation import Recording
from biosim.networks.dendritic.family import Curve, CurveResults
from biosim.networks.sparsey.family import RECORDS, Capacity, Classification, Sequences, Similarity, SparseyResults
from biosim.networks.temporal_memory.family import SequenceResults

FAMILIES = ("spiking", "dendritic_segments", "temporal_memory", "sparsey")
DT = 1e-4


def recording(duration: float, spikes: dict[str, tuple[list[float], list[int]]], sizes: dict[str, int],
              states: bool = True, weights: bool = True, **extra) -> Recording:
    """A recording as the engine writes it: spikes, rates from them, a state and a weight table."""
    steps = round(duration / DT)
    rec = Recording(DT, dict(sizes), duration=duration)
    for pop, (t, i) in spikes.items():
        t, i = np.asarray(t, np.float64), np.asarray(i, np.int32)
        rec.spikes[pop] = (t, i)
        rate = np.zeros(steps)
        np.add.at(rate, np.minimum((t / DT).astype(int), max(steps - 1, 0)), 1.0 / (sizes[pop] * DT))
        rec.rates[pop] = rate
    if states:
        t = np.arange(steps) * DT
        rec.states["e.v"] = {"t": t, "values": np.repeat((-0.065 + 0.01 * np.sin(40 * t))[:, None], 3, axis=1),
                             "indices": np.arange(3)}
    if weights:
        snapshots = max(1, steps // 100)
        rec.weights["ee"] = {"t": np.arange(snapshots) * 100 * DT, "w": np.full((snapshots, 5), 2e-4),
                             "synapses": np.arange(5)}
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


REGULAR = (list(np.arange(1, 50) * 7e-3), [0] * 49)  # one neuron every 7 ms: ISIs equal up to rounding
SPIKING = {
    "no spikes": recording(0.2, {"e": ([], [])}, {"e": 100}),
    "one spike": recording(0.2, {"e": ([0.05], [3])}, {"e": 100}),
    "regular firing": recording(2.0, {"e": REGULAR}, {"e": 1}),
    "one neuron, one step": recording(DT, {"e": ([0.0], [0])}, {"e": 1}),
    "zero-length run": recording(0.0, {"e": ([], [])}, {"e": 10}),
    "empty weight sample": recording(0.1, {"e": ([0.01], [0])}, {"e": 10}, weights=False),
    "long run, large population": recording(12.0, {"e": (list(np.linspace(0, 12, 5000)),
                                                         list(np.arange(5000) % 4000))}, {"e": 4000}),
}
SPIKING["empty weight sample"].weights["ee"] = {"t": np.array([0.0]), "w": np.zeros((1, 0)),
                                                "synapses": np.zeros(0, int)}


def curves(study: str, exact: list[float], hits: list[int], **extra) -> CurveResults:
    exact_array = np.array(exact)
    with np.errstate(divide="ignore"):
        curve = Curve("a=20, s=10", exact_array, np.log10(exact_array), np.array(hits, np.int64),
                      **{k: np.array(v) for k, v in extra.items()})
    return CurveResults(study, "n", np.arange(100, 100 * (len(exact) + 1), 100), [curve], 1000,
                        "false match probability", "synthetic")


SDR = {
    "no curve": CurveResults("false_match", "n", np.array([100, 200]), [], 0, "false match probability", "t"),
    "all probabilities 0": curves("false_match", [0.0, 0.0], [-1, -1]),
    "one simulated point": curves("false_match", [0.01], [12]),
    "zero hits, union approximation": curves("union", [1e-3, 0.0], [0, -1], approx=[2e-3, 0.0]),
    "classifier bound": curves("classifier", [1e-2, 1e-4], [-1, -1], bound=[2e-2, 2e-4]),
    "threshold, long label": CurveResults("threshold", "theta", np.array([1, 60]), [Curve(
        "median over n in (1000, 5000, 9000, 13000, 17000), a/n in (0.005, 0.01, 0.015, 0.02, 0.025, 0.03), "
        "s in (20, 25, 30, 35, 40, 45, 50)", np.array([0.4, 0.0]), np.array([-0.4, -np.inf]),
        np.array([-1, -1]))], 0, "median false match probability", "E5: median false match vs theta"),
    "no step presented": SequenceResults("t", 0, True, [], np.zeros(0), np.zeros(0), np.zeros(0, np.int64)),
    "never predicted": SequenceResults("t", 1, True, [5, 5], np.ones(20), np.full(20, np.nan),
                                       np.repeat([0, 1], 10)),
    "one step": SequenceResults("t", 0, True, [1], np.array([1.0]), np.array([np.nan]), np.array([0])),
    "capacity stopped early": SparseyResults("capacity", "t", Capacity(
        np.array([5, 10]), np.array([1, 2]), np.array([[1.0, np.nan], [np.nan, np.nan]]),
        np.array([[1.0, np.nan], [np.nan, np.nan]]), np.zeros(0, int), np.zeros(0), np.zeros(0))),
    "no variant": SparseyResults("similarity", "t", Similarity(np.zeros(0), np.zeros(0))),
    "one position": SparseyResults("sequences", "t", Sequences(np.array([1.0]), np.array([1.0]))),
    "no test image": SparseyResults("classification", "t", Classification(
        np.zeros(0, int), np.zeros(0, int), np.full(3, np.nan), np.arange(3), np.zeros(0, int))),
    "one class, constant familiarity": SparseyResults("classification", "t", Classification(
        np.array([2, 2]), np.array([2, 2]), np.full(4, 0.25), np.arange(4), np.arange(4, 6))),
}
PLOTS = {"error_curves": CurveResults, "anomaly": SequenceResults, "sparsey": SparseyResults}


def labels_apart(fig) -> None:
    """Titles, axis labels and legends lie inside the figure; titles and labels do not overlap one another."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    parts = [fig._suptitle] + [text for ax in fig.axes for text in (ax.title, ax._left_title, ax._right_title,
                                                                     ax.xaxis.label, ax.yaxis.label)]
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in parts if t is not None and t.get_text()
             and t.get_visible()]
    legends = [("legend", ax.get_legend().get_window_extent(renderer)) for ax in fig.axes if ax.get_legend()]
    for text, box in boxes + legends:
        assert box.x0 >= -1 and box.y0 >= -1 and box.x1 <= fig.bbox.x1 + 1 and box.y1 <= fig.bbox.y1 + 1, text
    for k, (text, box) in enumerate(boxes):
        for other, other_box in boxes[k + 1:]:
            assert not box.overlaps(other_box), (text, other)


@pytest.fixture
def figures(monkeypatch):
    """The figures the plots save, by file name (``plotting.save`` wrapped; each module imported it),
    each checked with ``labels_apart``."""
    drawn = {}

    def keep(fig, path):
        drawn[path.name] = fig
        files = original(fig, path)
        labels_apart(fig)
        return files

    original = plotting.save
    for name in set(registry.names("plot")) - {"learning_curves", "embeddings"}:
        module = __import__(registry.get("plot", name).__module__, fromlist=["save"])
        monkeypatch.setattr(module, "save", keep)
    return drawn


def texts(fig) -> str:
    """Every piece of text on a figure: titles, axis labels, notes, legend entries."""
    from matplotlib.text import Text

    return "\n".join(t.get_text() for t in fig.findobj(Text))


def draw(name: str, results, out) -> list:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning (empty means) nor Matplotlib warning either
        files = registry.get("plot", name)(results, out)
    for path in files:
        assert path.exists() and path.stat().st_size > 5000, path
    return files


def test_every_plot_of_these_families_is_covered():
    plots = {name for family in FAMILIES for name in registry.get("family", family).plots}
    assert plots == set(registry.get("family", "spiking").plots) | set(PLOTS)


@pytest.mark.parametrize("case", SPIKING)
@pytest.mark.parametrize("name", registry.get("family", "spiking").plots)
def test_spiking_plots_draw_degenerate_recordings(tmp_path, figures, name, case):
    assert draw(name, SPIKING[case], tmp_path)
    for fig in figures.values():
        assert "SI" not in texts(fig).replace("ISI", "")


@pytest.mark.parametrize("case", SDR)
def test_sdr_plots_draw_degenerate_results_after_a_round_trip(tmp_path, figures, case):
    results = SDR[case]
    results.save(tmp_path)
    loaded = type(results).load(tmp_path)
    name = next(plot for plot, kind in PLOTS.items() if kind is type(results))
    assert draw(name, loaded, tmp_path)


def _equal(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return a.dtype.kind == np.asarray(b).dtype.kind and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    if hasattr(a, "__dataclass_fields__"):
        return type(a) is type(b) and all(_equal(getattr(a, f.name), getattr(b, f.name)) for f in fields(a))
    if isinstance(a, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@pytest.mark.parametrize("case", SDR)
def test_typed_results_round_trip(tmp_path, case):
    results = SDR[case]
    results.save(tmp_path)
    assert _equal(results, type(results).load(tmp_path))


def test_every_sparsey_study_has_a_record_and_a_drawing():
    from biosim.networks.sparsey.family import STUDIES
    from biosim.networks.sparsey.plots import DRAW

    assert set(RECORDS) == set(STUDIES) and set(DRAW) == set(RECORDS.values())


def test_raster_says_which_neurons_it_shows_and_marks_a_truncated_monitor(tmp_path, figures):
    rec = recording(0.5, {"e": ([0.1, 0.2], [5, 3999]), "i": ([0.3], [0])}, {"e": 4000, "i": 10},
                    truncated={"e"})
    rec.spikes["e"] = (np.array([0.1, 0.15, 0.2]), np.array([5, 5, 3999]))
    count = np.zeros(4000, np.int64)
    count[7] = 5  # the counters saw a neuron the truncated monitor missed: 4 ISIs, mean 0.1 s, sd 0.05 s
    rec.spike_stats = {"e": {"count": count, "isi_sum": count / 5 * 0.4, "isi_sq": count / 5 * 4 * 0.0125}}
    draw("raster", rec, tmp_path)
    draw("isi", rec, tmp_path)
    text = texts(figures["raster.png"])
    assert "showing 1000 of 4000 neurons" in text and "of 10 neurons" not in text
    assert text.count("spike monitor full") == 1 and "t = 0.2 s" in text
    isi = texts(figures["isi.png"])
    assert "e (until t = 0.2 s: monitor full)" in isi and "e (mean 0.50)" in isi and "i (mean" not in isi


def test_axes_carry_each_variables_own_unit(tmp_path, figures):
    rec = recording(0.05, {"e": ([0.01], [0])}, {"e": 10})
    table = rec.states.pop("e.v")
    rec.states["e.u"] = rec.states["e.w"] = table  # Izhikevich's u (voltage), AdEx's w (current)
    rec.dimensions = {"ee": "conductance"}  # e.u and e.w: from the models that declare them
    draw("voltage", rec, tmp_path)
    draw("weights", rec, tmp_path)
    voltage, weights = texts(figures["voltage.png"]), texts(figures["weights.png"])
    assert "e.u (mV)" in voltage and "e.w (pA)" in voltage
    assert "ee weight (nS)" in weights and "weight (nS)" in weights


def test_a_run_records_the_dimensions_its_figures_show(tmp_path, figures):
    """The engine fills ``Recording.dimensions`` (state variables and the weight's target) and saves it."""
    from biosim.engine.network import Network
    from biosim.engine.neurons import LIFCoba
    from biosim.engine.simulation import Simulation
    from biosim.rules.spiking_projection.stdp import STDP

    net = Network(dt=DT)
    net.add_population("e", 4, LIFCoba())
    net.connect("e", "e", target="ge", connector="all_to_all", weight=1e-3, rule=STDP(w_max=1e-2), name="ee")
    net.record_state("e", ["v", "ge"], [0])
    net.record_weights("ee", every=DT)
    Simulation(net).run(2 * DT).save(tmp_path)
    rec = Recording.load(tmp_path)
    assert rec.dimensions == {"e.v": "voltage", "e.ge": "dimensionless", "ee": "dimensionless"}
    draw("weights", rec, tmp_path)
    assert "unit not recorded" not in texts(figures["weights.png"])


def test_long_traces_are_windowed_and_decimated_and_say_so(tmp_path, figures):
    rec = recording(10.0, {"e": ([0.01], [0])}, {"e": 30}, weights=False)
    rec.states["e.v"]["indices"] = np.arange(30)
    rec.states["e.v"]["values"] = np.repeat(rec.states["e.v"]["values"][:, :1], 30, axis=1)
    draw("voltage", rec, tmp_path)
    title = figures["voltage.png"].axes[0].get_title(loc="left")
    assert "last 1 s of 10 s" in title and "min and max of every 6 samples" in title and "10 of 30" in title
    line = figures["voltage.png"].axes[0].get_lines()[0]
    shown, recorded = line.get_xdata(), rec.states["e.v"]["t"]
    assert shown.size <= 2 * 2000 and shown.min() >= recorded[-1] - 1.0 and shown.max() == recorded[-1]


def _nadaraya_watson(values: np.ndarray, sigma: float) -> np.ndarray:
    """The Gaussian-weighted mean of the recorded samples around each sample (the reference smoother)."""
    k = np.arange(values.size)
    weights = np.exp(-0.5 * ((k[:, None] - k[None, :]) / sigma) ** 2)
    weights[np.abs(k[:, None] - k[None, :]) > int(4 * sigma) + 1] = 0
    return weights @ values / weights.sum(axis=1)


def test_smoothing_is_the_weighted_mean_of_what_was_recorded_up_to_the_edges():
    rate = np.zeros(400)
    rate[-3:] = 1000.0  # a response in the run's last steps
    rate[:50] = 20.0
    times, smoothed = plotting.smooth(rate, 1e-3, 4e-3)  # one sample per bin, sigma = 4 samples
    assert np.allclose(times, (np.arange(400) + 0.5) * 1e-3)
    assert np.allclose(smoothed, _nadaraya_watson(rate, 4.0))
    assert smoothed[0] == pytest.approx(20.0) and smoothed[-1] < 550  # padding with the edge value gives 733


def test_smoothing_keeps_a_partial_last_bin():
    times, smoothed = plotting.smooth(np.full(1003, 7.0), 1e-4, 2e-3)  # bins of 5 steps, the last one of 3
    assert np.allclose(smoothed, 7.0) and times[-1] == pytest.approx(1001.5e-4)
    assert plotting.smooth(np.zeros(0), 1e-4, 2e-3)[0].size == 0


def test_histogram_bins_of_equal_values():
    intervals = np.diff(REGULAR[0]) * 1e3  # equal up to rounding: np.histogram(bins=80) fails
    with pytest.raises(ValueError, match="Too many bins"):
        np.histogram(intervals, bins=80)
    counts, _ = np.histogram(intervals, bins=plotting.histogram_bins(intervals, 80))
    assert counts.tolist() == [intervals.size]
