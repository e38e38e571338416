"""Dataset readers on small generated files."""

from __future__ import annotations

import numpy as np
import pytest


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
