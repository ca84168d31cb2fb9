"""CIFAR readers and the restricted unpickler."""

from __future__ import annotations

import io
import os
import pickle
import subprocess

import numpy as np
import pytest

from semlink.data import load_dataset, restricted_load
from semlink.errors import CorruptFileError, MissingResourceError


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_tiny_cifar100(tmp_path, cifar100_writer, protocol):
    folder = cifar100_writer(tmp_path, protocol=protocol)
    train = load_dataset("cifar100", root=tmp_path, split="train")
    test = load_dataset("cifar100", root=tmp_path, split="test")
    assert train.images.shape == (20, 32, 32, 3) and train.images.dtype == np.uint8
    assert test.images.shape == (10, 32, 32, 3)
    assert train.labels.tolist() == [i % 5 for i in range(20)]
    assert train.class_names == [f"fine{i}" for i in range(5)]
    assert train.name == "cifar100" and train.split == "train"
    # channel-major rows become HWC images, as torchvision does
    raw = restricted_load(folder / "train")
    np.testing.assert_array_equal(train.images[3], raw["data"][3].reshape(3, 32, 32).transpose(1, 2, 0))


def test_cifar10_layout(tmp_path):
    rng = np.random.default_rng(2)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        entry = {"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), "labels": [i % 10] * 4}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))
    train = load_dataset("cifar10", root=tmp_path, split="train")
    assert train.images.shape == (20, 32, 32, 3) and train.num_classes == 10
    assert len(load_dataset("cifar10", root=tmp_path, split="test")) == 4


class _System:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Popen:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (subprocess.Popen, (["touch", self.marker],))


@pytest.mark.parametrize("payload", [_System, _Popen])
def test_malicious_pickle_is_refused_and_not_executed(tmp_path, cifar100_writer, payload):
    folder = cifar100_writer(tmp_path)
    marker = tmp_path / "pwned"
    evil = payload(f"touch {marker}") if payload is _System else payload(str(marker))
    (folder / "test").write_bytes(pickle.dumps({"data": evil, "fine_labels": [0]}, protocol=2))
    with pytest.raises(CorruptFileError, match="refusing to unpickle global"):
        load_dataset("cifar100", root=tmp_path, split="test")
    assert not marker.exists()
    # sanity check: a plain pickle.load really would have run it
    if payload is _System:
        pickle.loads((folder / "test").read_bytes())
        assert marker.exists()


@pytest.mark.parametrize(
    "obj",
    [
        eval,  # builtins.eval
        np.array([object()], dtype=object)[:0],  # an object array (its items escape type checks)
    ],
)
def test_restricted_unpickler_refuses_other_globals(obj):
    with pytest.raises(CorruptFileError):
        restricted_load(io.BytesIO(pickle.dumps({"x": obj}, protocol=2)))


def test_malformed_pickle_and_bad_content(tmp_path, cifar100_writer):
    folder = cifar100_writer(tmp_path)
    (folder / "test").write_bytes(b"\x80\x02garbage")
    with pytest.raises(CorruptFileError, match="cannot unpickle"):
        load_dataset("cifar100", root=tmp_path, split="test")
    (folder / "test").write_bytes(pickle.dumps({"data": np.zeros((2, 10), np.uint8), "fine_labels": [0, 1]}))
    with pytest.raises(CorruptFileError, match=r"\[N, 3072\]"):
        load_dataset("cifar100", root=tmp_path, split="test")
    (folder / "test").write_bytes(
        pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "fine_labels": [0, 7]})
    )
    with pytest.raises(CorruptFileError, match="classes"):
        load_dataset("cifar100", root=tmp_path, split="test")


def test_missing_folder_names_it(tmp_path):
    with pytest.raises(MissingResourceError) as info:
        load_dataset("cifar100", root=tmp_path)
    assert "cifar-100-python" in str(info.value) and "download=True" in str(info.value)


def test_download_failure_is_a_missing_resource(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tv_utils

    calls = []

    def _offline(url, *args, **kwargs):
        calls.append(url)
        raise OSError("Network is unreachable")

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", _offline)
    with pytest.raises(MissingResourceError, match="could not download cifar10"):
        load_dataset("cifar10", root=tmp_path, download=True)
    assert calls and calls[0].endswith("cifar-10-python.tar.gz")
