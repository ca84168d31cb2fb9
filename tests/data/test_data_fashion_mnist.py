"""Fashion-MNIST IDX reader."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from semlink.data import load_dataset, read_idx
from semlink.data.fashion_mnist import DEFAULT_ROOT
from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError

REAL_FILES = [
    Path(DEFAULT_ROOT) / f
    for f in (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    )
]


@pytest.mark.skipif(
    not all(p.is_file() for p in REAL_FILES),
    reason=f"Debian's dataset-fashion-mnist is not installed ({DEFAULT_ROOT})",
)
def test_real_fashion_mnist():
    train = load_dataset("fashion-mnist", split="train")
    test = load_dataset("fashion-mnist", split="test")
    assert train.images.shape == (60000, 28, 28) and train.images.dtype == np.uint8
    assert test.images.shape == (10000, 28, 28)
    assert train.labels.dtype == np.int64
    assert np.bincount(train.labels).tolist() == [6000] * 10
    assert np.bincount(test.labels).tolist() == [1000] * 10
    assert train.class_names[0] == "T-shirt/top" and train.class_names[9] == "Ankle boot"
    assert train.split == "train" and test.split == "test" and train.name == "fashion-mnist"
    assert 0 < train.images.mean() < 255


def test_tiny_idx_gz_and_plain(tiny_idx_root):
    train = load_dataset("fashion-mnist", root=tiny_idx_root, split="train")
    test = load_dataset("fashion-mnist", root=tiny_idx_root, split="test")
    assert train.images.shape == (12, 28, 28) and test.images.shape == (6, 28, 28)
    assert train.labels.tolist() == [i % 10 for i in range(12)]
    assert train.images.flags.writeable


def test_torchvision_layout(tiny_idx_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("tv")
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for p in tiny_idx_root.iterdir():
        (raw / p.name).write_bytes(p.read_bytes())
    assert len(load_dataset("fashion-mnist", root=root, split="test")) == 6


def test_corrupted_magic_is_refused(tiny_idx_root):
    path = tiny_idx_root / "t10k-images-idx3-ubyte"
    raw = bytearray(path.read_bytes())
    raw[0] = 0x1F  # first magic byte must be zero
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptFileError, match="magic"):
        load_dataset("fashion-mnist", root=tiny_idx_root, split="test")


def test_truncated_and_mismatched_files_are_refused(tiny_idx_root, idx_writer):
    path = tiny_idx_root / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(CorruptFileError, match="data bytes"):
        read_idx(path)
    idx_writer(path, np.zeros((5, 28, 28)))  # 5 images, 6 labels
    with pytest.raises(CorruptFileError, match="labels"):
        load_dataset("fashion-mnist", root=tiny_idx_root, split="test")
    idx_writer(path, np.zeros((6, 28)))  # wrong number of dimensions
    with pytest.raises(CorruptFileError, match="dimensions"):
        load_dataset("fashion-mnist", root=tiny_idx_root, split="test")
    gz = tiny_idx_root / "train-images-idx3-ubyte.gz"
    gz.write_bytes(gzip.compress(b"\x00\x00\x08\x03")[:-4])  # broken gzip stream
    with pytest.raises(CorruptFileError):
        load_dataset("fashion-mnist", root=tiny_idx_root, split="train")


def test_missing_files_name_the_package_and_root(tmp_path):
    with pytest.raises(MissingResourceError) as info:
        load_dataset("fashion-mnist", root=tmp_path / "absent")
    assert "apt-get install dataset-fashion-mnist" in str(info.value)
    assert "root=" in str(info.value)


def test_bad_name_split_option(tiny_idx_root):
    with pytest.raises(SemlinkError, match="fashion-mnist"):
        load_dataset("mnist-fashion")
    with pytest.raises(SemlinkError, match="train, test"):
        load_dataset("fashion-mnist", root=tiny_idx_root, split="val")
    with pytest.raises(SemlinkError, match="option"):
        load_dataset("fashion-mnist", root=tiny_idx_root, image_size=3)
