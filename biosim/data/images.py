"""Labelled image datasets from local data: scikit-learn's bundled 8x8 digits, MNIST-style IDX files
(MNIST, Fashion-MNIST; optionally gzipped) and CIFAR-10/100 in the python pickle format. Nothing is
downloaded. Splits are seeded."""

from __future__ import annotations

import gzip
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import Field, field_validator

from biosim.params import DataPath, Params
from biosim.registry import register

IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (the MNIST format: magic 0x0000TTDD, D big-endian uint32 sizes, then data)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise ValueError(f"{path}: not an IDX file (magic {raw[:4].hex()})")
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * k: 8 + 4 * k], "big") for k in range(dims))
    dtype = np.dtype(IDX_TYPES[raw[2]])
    data = np.frombuffer(raw, dtype, offset=4 + 4 * dims)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape} ({int(np.prod(shape))} values), file holds {data.size}")
    return data.reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file (used to make small test files)."""
    codes = {np.dtype(v).str[1:]: k for k, v in IDX_TYPES.items()}  # "u1", "i2", "f4", ...
    key = array.dtype.str[1:]
    if key not in codes:
        raise ValueError(f"IDX cannot hold {array.dtype}; allowed: {', '.join(codes)}")
    header = bytes([0, 0, codes[key], array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    opener = gzip.open if Path(path).suffix == ".gz" else open
    with opener(path, "wb") as handle:
        handle.write(header + array.astype(">" + key).tobytes())


@dataclass
class ImageSplit:
    """Images (n, height, width, float in [0, 1]) and integer labels, train and test."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    train_index: np.ndarray | None = None  # positions in the source (training file), saved with a run
    test_index: np.ndarray | None = None  # positions in the source (or in the test file)

    @property
    def shape(self) -> tuple[int, int]:
        return self.train_x.shape[1:3]


class ImageData(Params):
    kind: ClassVar[str] = "images"
    test_fraction: float = Field(0.2, gt=0, lt=1, description="held-out fraction (datasets without a test file)")
    limit: int | None = Field(None, gt=0, description="use at most this many training images")
    stratify: bool = Field(False, description="hold out the same fraction of every class")

    def load(self, rng: np.random.Generator) -> ImageSplit:
        raise NotImplementedError

    def _split(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> ImageSplit:
        if self.stratify:
            test = np.concatenate([members[:int(round(self.test_fraction * len(members)))]
                                   for members in (rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y))])
            test = rng.permutation(test)
            train = rng.permutation(np.setdiff1d(np.arange(len(x)), test))
        else:
            order = rng.permutation(len(x))
            n_test = int(round(self.test_fraction * len(x)))
            test, train = order[:n_test], order[n_test:]
        if len(test) == 0 or len(train) == 0:
            raise ValueError(f"test_fraction = {self.test_fraction:g} of {len(x)} images leaves "
                             f"{'no test' if len(test) == 0 else 'no training'} images; use e.g. 0.2")
        return self._limit(ImageSplit(x[train], y[train], x[test], y[test], train, test))

    def _limit(self, split: ImageSplit) -> ImageSplit:
        if self.limit is not None:
            split.train_x, split.train_y = split.train_x[:self.limit], split.train_y[:self.limit]
            if split.train_index is not None:
                split.train_index = split.train_index[:self.limit]
        return split


@register("dataset", "digits")
class Digits(ImageData):
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes), split with the seed."""

    def load(self, rng):
        from sklearn.datasets import load_digits

        digits = load_digits()
        return self._split(digits.images / 16.0, digits.target.astype(np.int64), rng)


@register("dataset", "idx_images")
class IDXImages(ImageData):
    """MNIST-style IDX files given by path: train images/labels and, optionally, test images/labels
    (without them a seeded ``test_fraction`` of the training files is held out). A relative path is resolved
    against the folder of the experiment file that names it."""

    train_images: DataPath
    train_labels: DataPath
    test_images: DataPath | None = None
    test_labels: DataPath | None = None

    @field_validator("train_images", "train_labels", "test_images", "test_labels")
    @classmethod
    def _exists(cls, path: Path | None) -> Path | None:
        if path is not None and not Path(path).exists():
            raise ValueError(f"file {str(path)!r} does not exist")
        return path

    def load(self, rng):
        x = read_idx(self.train_images).astype(np.float64)
        y = read_idx(self.train_labels).astype(np.int64)
        scale = 255.0 if x.max() > 1 else 1.0
        if self.test_images is None:
            return self._split(x / scale, y, rng)
        order = rng.permutation(len(x))
        test_y = read_idx(self.test_labels).astype(np.int64)
        split = ImageSplit(x[order] / scale, y[order], read_idx(self.test_images) / scale, test_y, order,
                           np.arange(len(test_y)))
        return self._limit(split)


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR python-format batch: a pickled dict with b"data" (n x 3072 uint8, channel-major 32x32)
    and b"labels" (CIFAR-10) or b"fine_labels" (CIFAR-100). Returns images (n, 32, 32, 3) in [0, 1], labels."""
    with open(path, "rb") as handle:
        batch = pickle.load(handle, encoding="bytes")
    if not isinstance(batch, dict) or b"data" not in batch:
        raise ValueError(f"{path}: not a CIFAR python batch (no b'data' entry)")
    labels = batch.get(b"labels", batch.get(b"fine_labels"))
    if labels is None:
        raise ValueError(f"{path}: no b'labels' or b'fine_labels' entry")
    data = np.asarray(batch[b"data"], np.uint8)
    if data.ndim != 2 or data.shape[1] % 3:
        raise ValueError(f"{path}: b'data' has shape {data.shape}, expected (n, 3 * height * width)")
    side = int(round(np.sqrt(data.shape[1] // 3)))
    images = data.reshape(-1, 3, side, side).transpose(0, 2, 3, 1) / 255.0
    return images, np.asarray(labels, np.int64)


@register("dataset", "cifar")
class CIFAR(ImageData):
    """CIFAR-10/100 from the python-format batch files in ``directory`` (data_batch_1..5 and test_batch
    for CIFAR-10; train and test for CIFAR-100), as distributed; colour images (n, 32, 32, 3). A relative
    ``directory`` is resolved against the folder of the experiment file that names it."""

    directory: DataPath

    @field_validator("directory")
    @classmethod
    def _exists(cls, path: Path) -> Path:
        if not Path(path).is_dir():
            raise ValueError(f"directory {str(path)!r} does not exist")
        return path

    def load(self, rng):
        root = Path(self.directory)
        train_files = sorted(root.glob("data_batch_*")) or [root / "train"]
        test_file = root / "test_batch" if (root / "test_batch").exists() else root / "test"
        missing = [str(f) for f in [*train_files, test_file] if not f.exists()]
        if missing:
            raise ValueError(f"missing CIFAR batch files: {', '.join(missing)}")
        parts = [read_cifar_batch(f) for f in train_files]
        x, y = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        test_x, test_y = read_cifar_batch(test_file)
        order = rng.permutation(len(x))
        return self._limit(ImageSplit(x[order], y[order], test_x, test_y, order, np.arange(len(test_y))))
