"""The ``sparsey`` family: Sparsey experiments from YAML.

Studies:
* ``capacity``: one mac stores N random inputs in one trial each, then retrieves them (argmax):
  exact-code rate and per-CM accuracy per N and seed; store/retrieve time per item vs items stored.
* ``similarity``: store N inputs, present variants sharing o of their active bits (learning-mode
  sampling, nothing stored): code overlap vs input overlap and their Spearman correlation.
* ``sequences``: one mac with horizontal (H) input learns sequences in one pass; recognition (U and H,
  argmax) and recall from the first element alone (H only) are scored against the stored codes.
* ``classification``: a hierarchy codes labelled images (binarised) in one trial each; test images are
  classified by the stored training code with the largest overlap (1-nearest neighbour).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from biosim import registry
from biosim.config import ExperimentBase, Source, Spec, instantiate, validate_params
from biosim.family import INTERRUPTED, Family, Outcome, Results, Run, number
from biosim.memory import available_memory
from biosim.networks.sparsey.hierarchy import Hierarchy, LevelConfig, receptive_fields
from biosim.networks.sparsey.mac import CSA, MacParams, SingleMac
from biosim.rules.sparsey_mac import SPARSEY_MAC
from biosim.streams import stream, streams


class SparseyExperiment(ExperimentBase):
    """A Sparsey experiment (family ``sparsey``)."""

    family: str = "sparsey"
    study: Literal["capacity", "similarity", "sequences", "classification"]
    mac: dict[str, Any] = {}
    levels: list[dict[str, Any]] = []
    csa: dict[str, Any] = {}
    rule: Spec = "binary_hebbian"
    inputs: int = Field(256, gt=0, description="input bits of a single mac")
    active: int = Field(16, gt=0, description="active input bits per random item")
    items: list[int] = Field([50], description="items stored (capacity: one run per value)")
    seeds: int = Field(1, gt=0, description="independent runs, seeds seed .. seed + seeds - 1")
    sequences: int = Field(10, gt=0, description="sequences (study sequences)")
    length: int = Field(10, gt=1, description="items per sequence (study sequences)")
    data: Spec = "digits"
    threshold: float = Field(0.5, description="pixel value above which a pixel is active (classification)")
    readout: Literal["all_levels", "top_level"] = "all_levels"
    plots: list[str] = ["sparsey"]


@dataclass
class Capacity:
    """Study capacity: retrieval per number of stored items (rows) and seed (columns), and timing."""

    items: np.ndarray  # int: items stored, one value per row
    seeds: np.ndarray  # int: the seed of each column
    exact: np.ndarray  # fraction of items whose retrieved code equals the stored one (NaN: not run)
    per_module: np.ndarray  # fraction of CMs whose retrieved winner equals the stored one (NaN: not run)
    timing_stored: np.ndarray  # int: items in the mac after each timed batch
    timing_store_s: np.ndarray  # s per stored item in that batch
    timing_retrieve_s: np.ndarray  # s per retrieved item in that batch


@dataclass
class Similarity:
    """Study similarity: one entry per presented variant of a stored item."""

    input_overlap: np.ndarray  # fraction of the stored item's active bits the variant keeps, in [0, 1]
    code_overlap: np.ndarray  # fraction of the Q CMs whose winner equals the stored code's, in [0, 1]


@dataclass
class Sequences:
    """Study sequences: code overlap with the stored code (fraction of Q), mean over sequences, per position."""

    recognition_overlap_by_position: np.ndarray  # input present at every position (U and H)
    recall_overlap_by_position: np.ndarray  # only the first element presented (H only afterwards)


@dataclass
class Classification:
    """Study classification: 1-nearest-neighbour labels of the test images by stored code overlap."""

    test_labels: np.ndarray  # int: true class of each test image
    predicted: np.ndarray  # int: class of the stored training image with the largest code overlap
    familiarity: np.ndarray  # top-level familiarity G (mean over its macs) per training image, in [0, 1]
    split_train_index: np.ndarray  # int: dataset indices of the training images
    split_test_index: np.ndarray  # int: dataset indices of the test images


@dataclass
class SparseyResults:
    """A Sparsey study's results: ``data`` is the study's record (:class:`Capacity`, :class:`Similarity`,
    :class:`Sequences` or :class:`Classification`). Saved as ``results.npz`` (its arrays by field name,
    study and title in the JSON header)."""

    study: str
    title: str
    data: Capacity | Similarity | Sequences | Classification

    FILE: ClassVar[str] = Results.FILE

    def save(self, run_dir: Path) -> Path:
        arrays = {f.name: np.asarray(getattr(self.data, f.name)) for f in fields(self.data)}
        return Results(arrays, {"study": self.study, "title": self.title}).save(run_dir)

    @classmethod
    def load(cls, run_dir: Path) -> SparseyResults:
        saved = Results.load(run_dir)
        record = RECORDS[saved.meta["study"]]
        return cls(saved.meta["study"], saved.meta["title"], record(**{f.name: saved.arrays[f.name]
                                                                       for f in fields(record)}))


RECORDS: dict[str, type] = {"capacity": Capacity, "similarity": Similarity, "sequences": Sequences,
                            "classification": Classification}


def prepare(exp: SparseyExperiment, source: Source):
    rule = instantiate(exp.rule, "rule", source, ("rule",), kind=("plugs_into", SPARSEY_MAC))
    csa = validate_params(CSA, exp.csa, source, ("csa",))
    if exp.study == "classification":
        if not exp.levels:
            raise source.error("a classification needs 'levels' (a list of level settings)", ("levels",))
        levels = [validate_params(LevelConfig, level, source, ("levels", k)) for k, level in enumerate(exp.levels)]
        for k, level in enumerate(levels):
            if min(level.grid) < 1:
                raise source.error(f"grid = {list(level.grid)}: a level needs at least 1 x 1 macs",
                                   ("levels", k, "grid"))
        data = instantiate(exp.data, "dataset", source, ("data",), kind=("kind", "images"))
        try:
            split = data.load(stream(exp.seed, "data"))
        except (OSError, ValueError) as err:
            raise source.error(str(err), ("data",)) from None
        for k, rfs in enumerate(receptive_fields(split.shape, levels)[0]):
            blind = sum(len(rf) == 0 for rf in rfs)
            if blind:
                raise source.error(f"rf = {levels[k].rf:g}: {blind} of the {len(rfs)} macs of level {k + 1} see no "
                                   "unit of the level below (the field falls between them); widen rf or change grid",
                                   ("levels", k, "rf"))
        return rule, csa, levels, split
    mac = validate_params(MacParams, exp.mac, source, ("mac",))
    top, why = exp.inputs, "inputs"
    if exp.study == "similarity":
        top, why = exp.inputs // 2, "inputs // 2 (a variant swaps active bits for inactive ones)"
    if mac.max_active is not None and mac.max_active < top:
        top, why = mac.max_active, "mac.max_active"
    if not mac.min_active <= exp.active <= top:
        raise source.error(f"active = {exp.active} must lie in [mac.min_active = {mac.min_active}, {why} = {top}]",
                           ("active",))
    cells = mac.q * mac.k
    weights = exp.inputs * cells + (cells * cells if exp.study == "sequences" else 0)  # uint8 U (and H) weights
    free = available_memory()
    if free is not None and weights > free:
        raise source.error(f"inputs = {exp.inputs}: the mac's weights need {weights / 1e9:.3g} GB "
                           f"(inputs x q x k bytes), {free / 1e9:.3g} GB available", ("inputs",))
    if not exp.items:
        raise source.error("needs at least one number of items", ("items",))
    for k, n in enumerate(exp.items):
        if n < 1:
            raise source.error(f"items = {n} must be at least 1", ("items", k))
    if exp.study == "similarity" and len(exp.items) != 1:
        raise source.error(f"study similarity stores one number of items, got {len(exp.items)} values "
                           f"{exp.items}; give one, e.g. items: [{exp.items[0]}]", ("items",))
    return rule, csa, mac


def _random_items(rng: np.random.Generator, n: int, inputs: int, active: int) -> list[np.ndarray]:
    return [np.sort(rng.choice(inputs, active, replace=False)) for _ in range(n)]


def _capacity(prepared, exp: SparseyExperiment, run: Run) -> tuple[dict, Capacity]:
    rule, csa, mac_params = prepared
    rows = []
    exact = np.full((len(exp.items), exp.seeds), np.nan)
    per_cm, g_novel, g_familiar = np.full_like(exact, np.nan), np.full_like(exact, np.nan), np.full_like(exact, np.nan)
    for a, n in enumerate(exp.items):
        for b in range(exp.seeds):
            seed = exp.seed + b
            rngs = streams(seed, "items", "mac")
            items = _random_items(rngs["items"], n, exp.inputs, exp.active)
            mac = SingleMac(mac_params, exp.inputs, rule, rngs["mac"], csa)
            stored, g_store = mac.store(items)
            retrieved, g_retrieve = mac.retrieve(items)
            exact[a, b] = np.mean(np.all(stored == retrieved, axis=1))
            per_cm[a, b] = np.mean(stored == retrieved)
            g_novel[a, b], g_familiar[a, b] = g_store.mean(), g_retrieve.mean()
            if run.stop_requested:
                break
        rows.append({"items": n, "exact_retrieval_rate_mean": float(np.nanmean(exact[a])),
                     "exact_retrieval_rate_min": float(np.nanmin(exact[a])),
                     "per_module_accuracy_mean": float(np.nanmean(per_cm[a])),
                     "per_module_accuracy_min": float(np.nanmin(per_cm[a])),
                     "familiarity_at_storage_mean": float(np.nanmean(g_novel[a])),
                     "familiarity_at_retrieval_mean": float(np.nanmean(g_familiar[a]))})
        run.log.info("%d items: exact retrieval %.3f (min %.3f), per-CM %.4f", n, rows[-1]["exact_retrieval_rate_mean"],
                 rows[-1]["exact_retrieval_rate_min"], rows[-1]["per_module_accuracy_mean"])
        if run.stop_requested:
            break
    timing = {"stored": [], "store_s": [], "retrieve_s": []} if run.stop_requested else \
        _timing(rule, csa, mac_params, exp)
    record = Capacity(np.array(exp.items), np.arange(exp.seed, exp.seed + exp.seeds), exact, per_cm,
                      *(np.array(timing[k]) for k in ("stored", "store_s", "retrieve_s")))
    return {"capacity": rows, "time_per_item": timing}, record


def _timing(rule, csa, mac_params, exp: SparseyExperiment, batch: int = 50, total: int = 1000) -> dict[str, list]:
    """Seconds per stored / retrieved item, in batches of ``batch``, as the mac fills up to ``total``."""
    rngs = streams(exp.seed, "timing items", "timing mac")
    rng, mac = rngs["timing items"], SingleMac(mac_params, exp.inputs, rule, rngs["timing mac"], csa)
    mac.store(_random_items(rng, 2, exp.inputs, exp.active))  # compile / load before timing
    stored, store_s, retrieve_s = [], [], []
    for filled in range(0, total, batch):
        items = _random_items(rng, batch, exp.inputs, exp.active)
        start = time.perf_counter()
        mac.store(items)
        store_s.append((time.perf_counter() - start) / batch)
        start = time.perf_counter()
        mac.retrieve(items)
        retrieve_s.append((time.perf_counter() - start) / batch)
        stored.append(filled + batch)
    return {"stored": stored, "store_s": store_s, "retrieve_s": retrieve_s}


def _variant(rng: np.random.Generator, item: np.ndarray, keep: int, inputs: int) -> np.ndarray:
    kept = rng.choice(item, keep, replace=False)
    others = rng.choice(np.setdiff1d(np.arange(inputs), item), item.size - keep, replace=False)
    return np.sort(np.concatenate([kept, others]))


def _similarity(prepared, exp: SparseyExperiment, run: Run) -> tuple[dict, Similarity]:
    rule, csa, mac_params = prepared
    input_overlap, code_overlap = [], []
    for b in range(exp.seeds):
        rngs = streams(exp.seed + b, "items", "mac")
        rng = rngs["items"]  # the items, then their variants
        items = _random_items(rng, exp.items[0], exp.inputs, exp.active)
        mac = SingleMac(mac_params, exp.inputs, rule, rngs["mac"], csa)
        stored, _ = mac.store(items)
        for i, item in enumerate(items):
            variants = [_variant(rng, item, keep, exp.inputs) for keep in range(exp.active + 1)]
            codes, _ = mac.present(variants, learn=False, sample=True)
            input_overlap += [keep / exp.active for keep in range(exp.active + 1)]
            code_overlap += np.mean(codes == stored[i], axis=1).tolist()
        if run.stop_requested:
            break
    from scipy.stats import spearmanr  # 0.6 s import: only where it is used

    x, y = np.array(input_overlap), np.array(code_overlap)
    levels = np.unique(x)
    curve = [float(y[x == level].mean()) for level in levels]
    rho = float(spearmanr(x, y).statistic)
    run.log.info("Spearman(input overlap, code overlap) = %.3f", rho)
    return ({"spearman_input_vs_code_overlap": rho,
             "code_overlap_by_input_overlap": dict(zip([f"{v:.4g}" for v in levels], curve, strict=True))},
            Similarity(x, y))


def _sequences(prepared, exp: SparseyExperiment, run: Run) -> tuple[dict, Sequences]:
    rule, csa, mac_params = prepared
    level = LevelConfig(**mac_params.model_dump(), grid=(1, 1), rf=None, horizontal=True)
    rngs = streams(exp.seed, "items", "hierarchy")
    model = Hierarchy((1, exp.inputs), [level], rule, rngs["hierarchy"], csa)
    seqs = [[_random_items(rngs["items"], 1, exp.inputs, exp.active)[0] for _ in range(exp.length)]
            for _ in range(exp.sequences)]

    def image(item):
        bits = np.zeros(exp.inputs, bool)
        bits[item] = True
        return bits[None, :]

    def present(seq, learn, sample, recall):
        model.reset()
        out = []
        for t, item in enumerate(seq):
            frame = image(item) if (t == 0 or not recall) else np.zeros((1, exp.inputs), bool)
            out.append(model.frame(frame, learn, sample)[0][0])
        return np.array(out)

    stored = [present(seq, True, True, False) for seq in seqs]
    recognised = [present(seq, False, False, False) for seq in seqs]
    recalled = [present(seq, False, False, True) for seq in seqs]
    q = mac_params.q

    def scores(codes):
        exact = np.array([[np.array_equal(a, b) for a, b in zip(s, c, strict=True)] for s, c in zip(stored, codes,
                                                                                                   strict=True)])
        overlap = np.array([[(a & b).sum() / q for a, b in zip(s, c, strict=True)] for s, c in zip(stored, codes,
                                                                                                   strict=True)])
        return exact, overlap

    (rec_exact, rec_overlap), (call_exact, call_overlap) = scores(recognised), scores(recalled)
    metrics = {"recognition_exact_rate": float(rec_exact.mean()),
               "recall_exact_rate": float(call_exact[:, 1:].mean()),
               "recall_per_module_accuracy": float(call_overlap[:, 1:].mean())}
    run.log.info("recognition %.3f, recall from the first element %.3f exact, %.3f per CM",
             *metrics.values())
    return metrics, Sequences(rec_overlap.mean(axis=0), call_overlap.mean(axis=0))


def _classification(prepared, exp: SparseyExperiment, run: Run) -> tuple[dict, Classification]:
    rule, csa, levels, split = prepared
    model = Hierarchy(split.shape, levels, rule, stream(exp.seed, "hierarchy"), csa)
    start = time.perf_counter()
    g_train = []
    for image in split.train_x:
        g_train.append(np.nanmean(model.frame(image > exp.threshold, learn=True, sample=True)[1][-1]))
        if run.stop_requested:
            break
    train_s = time.perf_counter() - start
    top = levels[-1].q * levels[-1].k * len(model.macs[-1])

    def codes(images):
        out = [np.concatenate(model.frame(image > exp.threshold, learn=False, sample=False)[0]) for image in images]
        matrix = np.array(out, np.int32)
        return matrix[:, -top:] if exp.readout == "top_level" else matrix

    start = time.perf_counter()
    train_codes = codes(split.train_x[:len(g_train)])
    test_codes = codes(split.test_x)
    test_s = time.perf_counter() - start
    nearest = np.argmax(test_codes @ train_codes.T, axis=1)
    predicted = split.train_y[nearest]
    train_predicted = split.train_y[np.argmax(train_codes @ train_codes.T, axis=1)]
    accuracy = float(np.mean(predicted == split.test_y))
    frozen = [float(np.mean([m.set_weights[0] >= rule.freeze_at * m.n_weights for m in macs])) for macs in model.macs]
    metrics = {"test_accuracy": accuracy, "train_accuracy": float(np.mean(train_predicted == split.train_y)),
               "train_items": len(g_train), "test_items": len(split.test_y), "train_s": train_s,
               "train_s_per_item": train_s / max(len(g_train), 1), "test_s": test_s,
               "top_level_familiarity_mean": float(np.nanmean(g_train)), "fraction_of_macs_frozen": frozen}
    run.log.info("test accuracy %.3f on %d held-out images (%d stored in one trial each, %.2f s)", accuracy,
             len(split.test_y), len(g_train), train_s)
    return metrics, Classification(split.test_y, predicted, np.array(g_train), split.train_index, split.test_index)


STUDIES = {"capacity": _capacity, "similarity": _similarity, "sequences": _sequences,
           "classification": _classification}


@registry.register("family", "sparsey")
class Sparsey(Family):
    """Sparsey macrocolumns and hierarchies: capacity, similarity, sequences, classification."""

    schema = SparseyExperiment
    results = SparseyResults
    plots = ("sparsey",)
    prepare = staticmethod(prepare)

    def execute(self, prepared, exp: SparseyExperiment, run: Run) -> Outcome:
        metrics, record = STUDIES[exp.study](prepared, exp, run)
        complete = not run.stop_requested
        results = SparseyResults(exp.study, exp.description or exp.name, record)
        return Outcome({"study": exp.study, **metrics}, results, complete, None if complete else INTERRUPTED)

    def summary(self, metrics: dict[str, Any]) -> str:
        if "capacity" in metrics:
            return "exact retrieval by items stored: " + ", ".join(
                f"{row['items']}: {number(row['exact_retrieval_rate_mean'], 3)}" for row in metrics["capacity"])
        keys = ("spearman_input_vs_code_overlap", "recall_exact_rate", "test_accuracy")
        return "; ".join(f"{k}: {number(metrics[k], 3)}" for k in keys if k in metrics)
