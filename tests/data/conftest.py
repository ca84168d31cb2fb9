"""Fixtures that write tiny datasets in their real on-disk formats."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    """Write ``array`` (uint8) as an IDX file (``.gz`` appended when ``compress``)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    payload = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)
    return path


@pytest.fixture
def tiny_idx_root(tmp_path):
    """A Fashion-MNIST-style folder: 12 train / 6 test images of 28x28, train gzipped, test plain."""
    rng = np.random.default_rng(0)
    for split, n, compress in (("train", 12, True), ("t10k", 6, False)):
        write_idx(tmp_path / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), compress)
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte", np.arange(n) % 10, compress)
    return tmp_path


def write_cifar100(root: Path, n_train: int = 20, n_test: int = 10, protocol: int = 2) -> Path:
    """A tiny ``cifar-100-python/`` folder in torchvision's format (pickled dicts, uint8 [N, 3072])."""
    rng = np.random.default_rng(1)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", n_train), ("test", n_test)):
        entry = {
            "filenames": [f"img_{i}.png".encode() for i in range(n)],
            "batch_label": f"{name} batch".encode(),
            "fine_labels": [i % 5 for i in range(n)],
            "coarse_labels": [i % 2 for i in range(n)],
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        }
        (folder / name).write_bytes(pickle.dumps(entry, protocol=protocol))
    meta = {
        "fine_label_names": [f"fine{i}" for i in range(5)],
        "coarse_label_names": ["c0", "c1"],
    }
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=protocol))
    return folder


@pytest.fixture
def idx_writer():
    """The :func:`write_idx` helper."""
    return write_idx


@pytest.fixture
def cifar100_writer():
    """The :func:`write_cifar100` helper."""
    return write_cifar100
