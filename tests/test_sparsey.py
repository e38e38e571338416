"""Sparsey: the CSA on one mac (capacity, similarity), hierarchies, sequences, classification, IDX data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from biosim.data.images import IDXImages, read_idx, write_idx
from biosim.networks.sparsey.hierarchy import Hierarchy, LevelConfig
from biosim.networks.sparsey.mac import CSA, MacParams, SingleMac, select_code
from biosim.rules.sparsey_mac import BinaryHebbian, SubsampledHebbian
from biosim.runner import run_experiment
from biosim.streams import stream

ROOT = Path(__file__).parents[1]


def random_items(rng, n, inputs=256, active=16):
    return [np.sort(rng.choice(inputs, active, replace=False)) for _ in range(n)]


def test_fifty_items_stored_once_are_all_retrieved_exactly_for_ten_seeds():
    """Issue acceptance: Q = 24, K = 8, 256 inputs with 16 active, pinned CSA defaults (spec sdr.md 2.6)."""
    for seed in range(10):
        items = random_items(np.random.default_rng(seed), 50)
        mac = SingleMac(MacParams(q=24, k=8), 256, BinaryHebbian(freeze_at=1.0), stream(seed, "mac"))
        stored, g_store = mac.store(items)
        retrieved, g_retrieve = mac.retrieve(items)
        assert np.array_equal(stored, retrieved), seed
        assert np.allclose(g_retrieve, 1.0)  # every stored item is fully familiar
        assert np.all(stored // 8 == np.arange(24))  # one winner per CM


def test_similar_inputs_get_similar_codes():
    """Issue acceptance: Spearman(input overlap, code overlap) >= 0.85 (spec reference 0.900)."""
    rng = np.random.default_rng(1)
    items = random_items(rng, 50)
    mac = SingleMac(MacParams(q=24, k=8), 256, BinaryHebbian(freeze_at=1.0), stream(1, "mac"))
    stored, _ = mac.store(items)
    x, y = [], []
    for i, item in enumerate(items):
        for keep in range(17):
            kept = rng.choice(item, keep, replace=False)
            others = rng.choice(np.setdiff1d(np.arange(256), item), 16 - keep, replace=False)
            code, _ = mac.present([np.sort(np.concatenate([kept, others]))], learn=False, sample=True)
            x.append(keep)
            y.append(np.mean(code[0] == stored[i]))
    assert spearmanr(x, y).statistic >= 0.85
    y = np.array(y)
    assert y[np.array(x) == 0].mean() == pytest.approx(1 / 8, abs=0.03)  # novel: chance overlap Q/K


def test_novel_inputs_get_uniformly_random_codes():
    """G below G- gives eta = 1: every cell of a CM equally likely (spec 2.6: overlap ~ Binomial(Q, 1/K))."""
    mac = SingleMac(MacParams(q=24, k=8), 256, BinaryHebbian(), stream(3, "mac"))
    codes, g = mac.present(random_items(np.random.default_rng(3), 4000), learn=False, sample=True)
    assert np.all(g == 0.0)
    counts = np.bincount((codes % 8).ravel(), minlength=8) / codes.size
    assert np.allclose(counts, 1 / 8, atol=0.005)


def test_argmax_retrieval_and_expansivity():
    """A stored item's cells have V = 1; with G = 1 eta = 1 + chi K and the CSA picks them by argmax."""
    W = np.zeros((4, 6), np.uint8)
    W[[0, 1], 1] = W[[0, 1], 3] = 1  # CM 0 cell 1, CM 1 cell 0 (K = 3)
    code = np.zeros(2, np.int64)
    empty = np.zeros(0, np.int64)
    g = select_code(W, np.array([0, 1]), W, empty, W, empty, CSA().constants(), 2, 3, False, code,
                    np.random.default_rng(0))
    assert g == 1.0 and code.tolist() == [1, 3]


def test_learning_rules_and_freezing():
    items = random_items(np.random.default_rng(4), 30)
    full = SingleMac(MacParams(), 256, BinaryHebbian(freeze_at=1.0), stream(4, "mac"))
    full.store(items)
    sub = SingleMac(MacParams(), 256, SubsampledHebbian(fraction=0.5, freeze_at=1.0), stream(4, "mac"))
    sub.store(items)
    assert 0.4 < sub.mac.set_weights[0] / full.mac.set_weights[0] < 0.6
    assert full.mac.set_weights[0] == full.mac.Wu.sum()
    frozen = SingleMac(MacParams(), 256, BinaryHebbian(freeze_at=0.01), stream(4, "mac"))
    frozen.store(items)
    assert frozen.frozen and frozen.mac.Wu.sum() < 0.01 * frozen.mac.n_weights + 16 * 24


def test_hierarchy_receptive_fields():
    levels = [LevelConfig(q=4, k=3, grid=(2, 2), rf=1.0, horizontal=True, top_down=True),
              LevelConfig(q=5, k=2, grid=(1, 1))]
    model = Hierarchy((4, 4), levels, BinaryHebbian(), stream(0, "hierarchy"))
    assert [len(rf) for rf in model.u_rf[0]] == [4, 4, 4, 4]  # 2x2 pixel patches around the corners
    assert sorted(model.u_rf[0][0].tolist()) == [0, 1, 4, 5]
    assert len(model.u_rf[1][0]) == 4 * 12  # the top mac sees every level-1 cell
    assert all(len(h) == 4 * 12 for h in model.h_rf[0])  # neighbours within rf=1 spacing: all four
    assert all(len(d) == 10 for d in model.d_rf[0])  # each level-1 mac is seen by the top mac
    bits, g = model.frame(np.eye(4, dtype=bool), learn=True, sample=True)
    assert [b.sum() for b in bits] == [2 * 4, 5]  # the diagonal reaches the (0, 0) and (3, 3) macs only
    assert np.isnan(g[0]).tolist() == [False, True, True, False]


def reference_frame(model: Hierarchy, image, learn: bool, sample: bool, previous: list[np.ndarray]):
    """Hierarchy.frame written as a plain Python loop over levels and macs calling the compiled mac step."""
    below, outputs, familiarity = np.asarray(image, bool).ravel().astype(np.uint8), [], []
    for lv, (level, macs) in enumerate(zip(model.levels, model.macs, strict=True)):
        cells = level.q * level.k
        bits, gs = np.zeros(len(macs) * cells, np.uint8), np.full(len(macs), np.nan)
        for m, mac in enumerate(macs):
            u = np.flatnonzero(below[model.u_rf[lv][m]])
            h = np.flatnonzero(previous[lv][model.h_rf[lv][m]])
            d = np.flatnonzero(previous[lv + 1][model.d_rf[lv][m]]) if mac.n_d else np.zeros(0, np.int64)
            if not (mac.gated(len(u)) or (len(u) == 0 and len(h) > 0)):
                continue
            code = np.zeros(level.q, np.int64)
            learning = learn and mac.set_weights[0] < model.rule.freeze_at * mac.n_weights
            gs[m], new = model._module.mac_step(mac.Wu, u, mac.Wh, h, mac.Wd, d, model._context, level.q, level.k,
                                                learning, sample, code)
            mac.set_weights[0] += new
            bits[m * cells + code] = 1
        outputs.append(bits)
        familiarity.append(gs)
        below = bits
    return outputs, familiarity


def test_the_compiled_frame_is_the_loop_over_macs():
    """One compiled call per frame gives the codes, familiarities and learned weights of a Python loop over the
    macs, with U, H and D inputs, the activation gate, freezing, reset and retrieval."""
    levels = [LevelConfig(q=6, k=4, grid=(3, 3), rf=2.0, horizontal=True, top_down=True, min_active=5,
                          max_active=8),
              LevelConfig(q=8, k=8, grid=(1, 1), horizontal=True)]
    rule = BinaryHebbian(freeze_at=0.3)
    compiled, looped = (Hierarchy((8, 8), levels, rule, stream(5, "hierarchy")) for _ in range(2))
    images = np.random.default_rng(0).random((60, 8, 8)) < 0.3
    previous = [np.zeros(len(m) * lv.q * lv.k, np.uint8) for m, lv in zip(looped.macs, levels, strict=True)]
    for t, image in enumerate(images):
        learn = t < 45
        if t == 30:
            compiled.reset()
            previous = [np.zeros_like(bits) for bits in previous]
        bits, g = compiled.frame(image, learn, learn)
        previous, g_loop = reference_frame(looped, image, learn, learn, previous)
        for a, b in zip(bits + g, previous + g_loop, strict=True):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(compiled.macs[0] + compiled.macs[1], looped.macs[0] + looped.macs[1], strict=True):
        assert np.array_equal(a.Wu, b.Wu) and np.array_equal(a.Wh, b.Wh) and np.array_equal(a.Wd, b.Wd)
        assert a.set_weights[0] == b.set_weights[0]
    assert any(m.set_weights[0] >= rule.freeze_at * m.n_weights for m in compiled.macs[0])  # some froze


def test_sequences_are_recalled_from_their_first_element(tmp_path):
    run_dir = run_experiment(ROOT / "experiments" / "sparsey_sequences.yaml", ["sequences=4", "length=6"],
                             out=tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["recognition_exact_rate"] == 1.0 and metrics["recall_exact_rate"] == 1.0


@pytest.mark.parametrize("rule", ["binary_hebbian", "subsampled_hebbian"])
def test_digits_classification_learns_in_one_trial(tmp_path, rule):
    run_dir = run_experiment(ROOT / "experiments" / "sparsey_digits.yaml",
                             [f"rule.name={rule}", "data.limit=400"], out=tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["train_items"] == 400 and metrics["test_items"] == 359
    assert metrics["test_accuracy"] > 0.5  # chance is 0.1
    assert (run_dir / "sparsey.png").exists()


def test_idx_files_round_trip_and_feed_a_classification(tmp_path):
    rng = np.random.default_rng(0)
    images = (rng.random((240, 6, 6)) * 255).astype(np.uint8)  # 48 held out (12 made it a coin flip)
    labels = (np.arange(240) % 3).astype(np.uint8)
    images[labels == 0, :3] = 255  # three learnable classes: top half, bottom half, left half bright
    images[labels == 1, 3:] = 255
    images[labels == 2, :, :3] = 255
    write_idx(tmp_path / "train-images.idx3-ubyte", images)
    write_idx(tmp_path / "train-labels.idx1-ubyte.gz", labels)
    assert np.array_equal(read_idx(tmp_path / "train-images.idx3-ubyte"), images)
    assert np.array_equal(read_idx(tmp_path / "train-labels.idx1-ubyte.gz"), labels)
    split = IDXImages(train_images=tmp_path / "train-images.idx3-ubyte",
                      train_labels=tmp_path / "train-labels.idx1-ubyte.gz").load(np.random.default_rng(1))
    assert split.train_x.shape == (192, 6, 6) and split.test_x.shape == (48, 6, 6) and split.train_x.max() <= 1.0
    data = (f"{{name: idx_images, train_images: {tmp_path / 'train-images.idx3-ubyte'}, "
            f"train_labels: {tmp_path / 'train-labels.idx1-ubyte.gz'}}}")
    text = (ROOT / "experiments" / "sparsey_digits.yaml").read_text().replace(
        "data: {name: digits, test_fraction: 0.2}", f"data: {data}").replace("threshold: 0.5", "threshold: 0.9")
    (tmp_path / "idx.yaml").write_text(text)
    metrics = json.loads((run_experiment(tmp_path / "idx.yaml", out=tmp_path) / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.9


def test_bad_idx_file_is_refused(tmp_path):
    (tmp_path / "bad.idx").write_bytes(b"\x00\x01\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad.idx")
    write_idx(tmp_path / "short.idx", np.zeros(4, np.uint8))
    (tmp_path / "short.idx").write_bytes((tmp_path / "short.idx").read_bytes()[:-1])
    with pytest.raises(ValueError, match=r"header says \(4,\)"):
        read_idx(tmp_path / "short.idx")


@pytest.mark.parametrize(("overrides", "expected"), [
    (["rule.name=htm_permanence"], "rule 'htm_permanence' plugs into 'dendritic_segments', not 'sparsey_mac'; "
                                   "allowed here: binary_hebbian, subsampled_hebbian"),
    (["data.name=random_sequences"], "dataset 'random_sequences' kind 'sdr_sequences', not 'images'"),
    (["levels=[]"], "a classification needs 'levels'"),
    (["levels.0.grd=[2, 2]"], "did you mean 'grid'"),
    (["levels.0.rf=0.2"], "levels.0.rf: rf = 0.2: 12 of the 16 macs of level 1 see no unit of the level below"),
    (["levels.1.grid=[0, 1]"], "levels.1.grid: grid = [0, 1]: a level needs at least 1 x 1 macs"),
])
def test_bad_sparsey_input_is_refused_before_compute(overrides, expected):
    from biosim import registry
    from biosim.config import load_experiment
    from biosim.errors import ConfigError

    with pytest.raises(ConfigError, match=None) as info:
        exp, source = load_experiment(ROOT / "experiments" / "sparsey_digits.yaml", overrides)
        registry.get("family", exp.family)().prepare(exp, source)
    assert expected in str(info.value)


def test_a_narrow_field_that_sees_a_unit_is_accepted():
    """rf 0.2 over an 8 x 8 grid of macs on 8 x 8 pixels: each mac sits on a pixel and sees it."""
    from biosim import registry
    from biosim.config import load_experiment

    exp, source = load_experiment(ROOT / "experiments" / "sparsey_digits.yaml",
                                  ["levels.0.rf=0.2", "levels.0.grid=[8, 8]"])
    _, _, levels, split = registry.get("family", exp.family)().prepare(exp, source)
    assert levels[0].rf == 0.2 and split.shape == (8, 8)


def test_sparsey_core_sigmoid_also_stores_and_retrieves():
    items = random_items(np.random.default_rng(7), 30)
    mac = SingleMac(MacParams(), 256, BinaryHebbian(freeze_at=1.0), stream(7, "mac"),
                    CSA(sigmoid="sparsey_core", chi=100.0))
    stored, _ = mac.store(items)
    assert np.array_equal(mac.retrieve(items)[0], stored)
    codes, _ = mac.present(random_items(np.random.default_rng(8), 2000), learn=False, sample=True)
    counts = np.bincount((codes % 8).ravel(), minlength=8) / codes.size  # G ~ 0: eta = 1, mu = 1: uniform
    assert np.allclose(counts, 1 / 8, atol=0.01)



@pytest.mark.parametrize(("file", "overrides", "expected"), [
    ("capacity", ["active=300"], "active = 300 must lie in [mac.min_active = 1, inputs = 256]"),
    ("capacity", ["mac.min_active=20"], "active = 16 must lie in [mac.min_active = 20, inputs = 256]"),
    ("capacity", ["mac.max_active=10"], "active = 16 must lie in [mac.min_active = 1, mac.max_active = 10]"),
    ("capacity", ["items=[0, 5]"], "items = 0 must be at least 1"),
    ("capacity", ["items=[]"], "needs at least one number of items"),
    ("similarity", ["items=[10, 20]"], "study similarity stores one number of items, got 2 values"),
    ("similarity", ["active=200"], "active = 200 must lie in [mac.min_active = 1, inputs // 2"),
    ("capacity", ["inputs=1000000000000000"], "the mac's weights need 1.92e+08 GB"),
])
def test_impossible_sizes_are_refused_with_the_allowed_range(file, overrides, expected):
    from biosim import registry
    from biosim.config import load_experiment
    from biosim.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        exp, source = load_experiment(ROOT / "experiments" / f"sparsey_{file}.yaml", overrides)
        registry.get("family", exp.family)().prepare(exp, source)
    assert expected in str(info.value)
