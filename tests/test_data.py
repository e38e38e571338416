"""Dataset readers on small generated files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from biosim.errors import ConfigError


def test_cifar_batches_from_generated_files(tmp_path):
    import pickle

    from biosim.data.images import CIFAR

    rng = np.random.default_rng(0)
    for name, n in (("data_batch_1", 6), ("data_batch_2", 4), ("test_batch", 5)):
        data = rng.integers(0, 256, (n, 3 * 4 * 4), dtype=np.uint8)
        with open(tmp_path / name, "wb") as handle:
            pickle.dump({b"data": data, b"labels": list(range(n))}, handle)
    split = CIFAR(directory=tmp_path).load(np.random.default_rng(1))
    assert split.train_x.shape == (10, 4, 4, 3) and split.test_x.shape == (5, 4, 4, 3)
    assert split.train_x.max() <= 1.0 and sorted(split.test_y.tolist()) == [0, 1, 2, 3, 4]
    with open(tmp_path / "test_batch", "rb") as handle:
        data = pickle.load(handle)[b"data"]
    assert np.allclose(split.test_x[1, :, :, 2].ravel() * 255, data[1, 32:48])  # channel-major layout
    (tmp_path / "test_batch").unlink()
    with pytest.raises(ValueError, match="missing CIFAR batch files"):
        CIFAR(directory=tmp_path).load(np.random.default_rng(1))


def test_layer_local_runs_on_idx_and_cifar_files(tmp_path):
    import json
    import pickle
    from pathlib import Path

    from biosim.data.images import write_idx
    from biosim.runner import run_experiment

    root = Path(__file__).parents[1]
    rng = np.random.default_rng(0)
    labels = np.arange(60) % 3
    images = (rng.random((60, 6, 6)) * 60).astype(np.uint8)
    for c in range(3):
        images[labels == c, 2 * c:2 * c + 2] = 255  # a bright band per class: learnable
    write_idx(tmp_path / "x.idx", images)
    write_idx(tmp_path / "y.idx", labels.astype(np.uint8))
    data = f"{{name: idx_images, train_images: {tmp_path / 'x.idx'}, train_labels: {tmp_path / 'y.idx'}}}"
    run_dir = run_experiment(root / "experiments" / "ff_mnist.yaml",
                             ["variant=backprop", f"data={data}", "epochs=20", "hidden=[32]"], out=tmp_path)
    assert json.loads((run_dir / "metrics.json").read_text())["test_accuracy"] >= 0.9
    cifar = tmp_path / "cifar"
    cifar.mkdir()
    for name, n in (("data_batch_1", 40), ("test_batch", 20)):
        y = np.arange(n) % 2
        x = rng.integers(0, 100, (n, 3 * 4 * 4)).astype(np.uint8)
        x[y == 1, :16] = 255  # class 1: bright red channel
        with open(cifar / name, "wb") as handle:
            pickle.dump({b"data": x, b"labels": y.tolist()}, handle)
    run_dir = run_experiment(root / "experiments" / "ccl_cifar10.yaml",
                             [f"data.directory={cifar}", "hidden=[16, 16]", "epochs=10",
                              "batch_size=8"], out=tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["complete"] and metrics["test_accuracy"] >= 0.9


def test_relative_data_paths_resolve_against_the_file_that_names_them(tmp_path, monkeypatch):
    """One rule for data paths and ``extends:``: relative to the file that writes them (a base file's paths to
    the base file, a variant's to its file), and to the working directory on the command line."""
    from biosim.data.graphs import GraphFiles
    from biosim.runner import check_experiment

    graph = tmp_path / "shared" / "graph"
    graph.mkdir(parents=True)
    (graph / "edges.txt").write_text("0 1\n1 2\n2 3\n")
    (graph / "features.txt").write_text("1 0\n0 1\n1 1\n0 0\n")
    (graph / "labels.txt").write_text("0\n1\n0\n1\n")
    (graph / "other_labels.txt").write_text("1\n1\n0\n0\n")
    root = Path(__file__).parents[1]
    (tmp_path / "shared" / "base.yaml").write_text(
        f"extends: {root / 'experiments' / 'sf_karate.yaml'}\nname: base\n"
        "data: {name: graph_files, edges: graph/edges.txt, features: graph/features.txt, labels: graph/labels.txt,"
        " train_fraction: 0.5}\n")
    child = tmp_path / "studies" / "child.yaml"
    child.parent.mkdir()
    child.write_text("extends: ../shared/base.yaml\nname: child\n"
                     "variants: {relabel: {data.labels: ../shared/graph/other_labels.txt}}\n")
    monkeypatch.chdir(tmp_path / "studies")  # nothing is relative to the working directory here

    exp, source, family, prepared = check_experiment(child)
    resolved = source.resolved[("data",)]
    assert resolved["edges"] == str(graph / "edges.txt") and resolved["labels"] == str(graph / "labels.txt")
    exp, source, family, prepared = check_experiment(child, ["variant=relabel"])
    assert source.resolved[("data",)]["labels"] == str(graph / "other_labels.txt")
    monkeypatch.chdir(graph)  # on the command line: the working directory
    exp, source, family, prepared = check_experiment(child, ["data.labels=other_labels.txt"])
    assert source.resolved[("data",)]["labels"] == str(graph / "other_labels.txt")
    with pytest.raises(ConfigError) as info:
        check_experiment(child, ["data.labels=missing.txt"])
    assert str(info.value).startswith("argument 'data.labels=missing.txt': data.labels: file ")
    (tmp_path / "shared" / "broken.yaml").write_text((tmp_path / "shared" / "base.yaml").read_text()
                                                    .replace("graph/edges.txt", "graph/nope.txt"))
    (tmp_path / "studies" / "broken_child.yaml").write_text("extends: ../shared/broken.yaml\nname: c\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml:3: data\.edges: file .*shared/graph/nope\.txt' does not"):
        check_experiment(tmp_path / "studies" / "broken_child.yaml")
    # in Python (no file): relative to the working directory, as pathlib has it
    assert GraphFiles(edges="edges.txt", features="features.txt", labels="labels.txt").edges == Path("edges.txt")


@pytest.mark.parametrize("fraction", [1e-300, 0.9999])
def test_a_split_that_leaves_no_test_or_training_images_is_refused(fraction):
    from biosim.data.images import Digits

    for stratify in (False, True):
        with pytest.raises(ValueError, match=f"test_fraction = {fraction:g} of 1797 images leaves no"):
            Digits(test_fraction=fraction, stratify=stratify).load(np.random.default_rng(0))


def test_a_graph_split_without_training_nodes_is_refused():
    from biosim.data.graphs import KarateClub

    with pytest.raises(ValueError, match="leave no training nodes"):
        KarateClub(labelled=None, train_fraction=1e-9).load(np.random.default_rng(0))
