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
