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
from typing import Any, Literal

import numpy as np
from pydantic import Field

from biosim import registry
from biosim.config import ExperimentBase, Source, Spec, instantiate, validate_params
from biosim.family import INTERRUPTED, Family, Outcome, Results, Run
from biosim.networks.sparsey.hierarchy import Hierarchy, LevelConfig
from biosim.networks.sparsey.mac import CSA, MacParams, SingleMac
from biosim.rules.sparsey_mac import SPARSEY_MAC
from biosim.streams import streams


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


def prepare(exp: SparseyExperiment, source: Source):
    rule = instantiate(exp.rule, "rule", source, ("rule",), kind=("plugs_into", SPARSEY_MAC))
    csa = validate_params(CSA, exp.csa, source, ("csa",))
    if exp.study == "classification":
        if not exp.levels:
            raise source.error("a classification needs 'levels' (a list of level settings)", ("levels",))
        levels = [validate_params(LevelConfig, level, source, ("levels", k)) for k, level in enumerate(exp.levels)]
        data = instantiate(exp.data, "dataset", source, ("data",), kind=("kind", "images"))
        return rule, csa, levels, data
    mac = validate_params(MacParams, exp.mac, source, ("mac",))
    if exp.active > exp.inputs:
        raise source.error(f"active = {exp.active} exceeds inputs = {exp.inputs}", ("active",))
    return rule, csa, mac


def _random_items(rng: np.random.Generator, n: int, inputs: int, active: int) -> list[np.ndarray]:
    return [np.sort(rng.choice(inputs, active, replace=False)) for _ in range(n)]


def _capacity(prepared, exp: SparseyExperiment, run: Run) -> tuple[dict, dict]:
    rule, csa, mac_params = prepared
    rows, arrays = [], {"items": np.array(exp.items), "seeds": np.arange(exp.seed, exp.seed + exp.seeds)}
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
    timing = _timing(rule, csa, mac_params, exp)
    arrays |= {"exact": exact, "per_module": per_cm, **{f"timing_{k}": np.array(v) for k, v in timing.items()}}
    return {"capacity": rows, "time_per_item": timing}, arrays


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


def _similarity(prepared, exp: SparseyExperiment, run: Run) -> tuple[dict, dict]:
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
            {"input_overlap": x, "code_overlap": y})


def _sequences(prepared, exp: SparseyExperiment, run: Run) -> tuple[dict, dict]:
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
    return metrics, {"recall_overlap_by_position": call_overlap.mean(axis=0),
                     "recognition_overlap_by_position": rec_overlap.mean(axis=0)}


def _classification(prepared, exp: SparseyExperiment, run: Run) -> tuple[dict, dict]:
    rule, csa, levels, data = prepared
    rngs = streams(exp.seed, "data", "hierarchy")
    split = data.load(rngs["data"])
    model = Hierarchy(split.shape, levels, rule, rngs["hierarchy"], csa)
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
    return metrics, {"test_labels": split.test_y, "predicted": predicted, "familiarity": np.array(g_train),
                     "split_train_index": split.train_index, "split_test_index": split.test_index}


STUDIES = {"capacity": _capacity, "similarity": _similarity, "sequences": _sequences,
           "classification": _classification}


@registry.register("family", "sparsey")
class Sparsey(Family):
    """Sparsey macrocolumns and hierarchies: capacity, similarity, sequences, classification."""

    schema = SparseyExperiment
    plots = ("sparsey",)
    prepare = staticmethod(prepare)

    def execute(self, prepared, exp: SparseyExperiment, run: Run) -> Outcome:
        metrics, arrays = STUDIES[exp.study](prepared, exp, run)
        complete = not run.stop_requested
        results = Results(arrays, {"study": exp.study, "title": exp.description or exp.name})
        return Outcome({"study": exp.study, **metrics}, results, complete, None if complete else INTERRUPTED)

    def summary(self, metrics: dict[str, Any]) -> str:
        keys = ("capacity", "spearman_input_vs_code_overlap", "recall_exact_rate", "test_accuracy")
        return "; ".join(f"{k}: {metrics[k]}" for k in keys if k in metrics)
