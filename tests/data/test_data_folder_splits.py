"""Folder datasets, ImageDataset subsets and the KBSC splits."""

from __future__ import annotations

import numpy as np
import pytest

from semlink.data import ImageDataset, kbsc_split, load_dataset, subset_per_class
from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError


def _write_images(folder, sizes, color):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, (w, h) in enumerate(sizes):
        Image.new("RGB", (w, h), color).save(folder / f"img{i}.png")


def test_folder_dataset(tmp_path):
    _write_images(tmp_path / "cat", [(20, 10), (20, 10)], (255, 0, 0))
    _write_images(tmp_path / "dog", [(20, 10)], (0, 0, 255))
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden").mkdir()
    ds = load_dataset("folder", root=tmp_path)
    assert ds.class_names == ["cat", "dog"]
    assert ds.images.shape == (3, 10, 20, 3)  # (height, width) of the files: nothing resized
    assert ds.labels.tolist() == [0, 0, 1]
    assert ds.split == "all" and ds.notes == ()
    assert tuple(ds.images[2, 0, 0]) == (0, 0, 255)
    ds16 = load_dataset("folder", root=tmp_path, image_size=16)
    assert ds16.images.shape == (3, 16, 16, 3)
    assert load_dataset("folder", root=tmp_path, image_size=(12, 6)).images.shape == (3, 12, 6, 3)


def test_folder_with_split_subfolders(tmp_path):
    _write_images(tmp_path / "train" / "a", [(8, 8)] * 2, (1, 2, 3))
    _write_images(tmp_path / "train" / "b", [(8, 8)], (4, 5, 6))
    _write_images(tmp_path / "test" / "b", [(8, 8)], (4, 5, 6))
    train = load_dataset("folder", root=tmp_path, split="train")
    test = load_dataset("folder", root=tmp_path, split="test")
    assert train.class_names == test.class_names == ["a", "b"]
    assert test.labels.tolist() == [1] and test.split == "test"


def test_folder_errors(tmp_path):
    with pytest.raises(SemlinkError, match="root="):
        load_dataset("folder")
    with pytest.raises(MissingResourceError):
        load_dataset("folder", root=tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingResourceError):
        load_dataset("folder", root=tmp_path / "empty")
    _write_images(tmp_path / "ok" / "a", [(4, 4)], (0, 0, 0))
    (tmp_path / "ok" / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(CorruptFileError, match="broken.png"):
        load_dataset("folder", root=tmp_path / "ok")
    with pytest.raises(SemlinkError, match="image_size"):
        load_dataset("folder", root=tmp_path / "ok", image_size="big")


def test_image_dataset_checks_and_subset():
    images = np.zeros((6, 4, 4), np.uint8)
    ds = ImageDataset(
        images=images, labels=np.array([0, 1, 2, 0, 1, 2]), class_names=["x", "y", "z"], name="t"
    )
    sub = ds.subset([1, 3, 5])
    assert sub.indices.tolist() == [1, 3, 5] and sub.labels.tolist() == [1, 0, 2]
    subsub = sub.subset([2])
    assert subsub.indices.tolist() == [5]
    assert len({ds.fingerprint(), sub.fingerprint(), subsub.fingerprint()}) == 3
    with pytest.raises(SemlinkError):
        ds.subset([6])
    with pytest.raises(SemlinkError):
        ImageDataset(images=images.astype(np.float32), labels=np.zeros(6), class_names=["x"], name="t")
    with pytest.raises(SemlinkError):
        ImageDataset(images=images, labels=np.zeros(5, int), class_names=["x"], name="t")
    with pytest.raises(SemlinkError):
        ImageDataset(images=images, labels=np.full(6, 3), class_names=["x"], name="t")


def _labels(n_classes, per_class, shuffle_seed=None):
    labels = np.repeat(np.arange(n_classes), per_class)
    if shuffle_seed is not None:
        labels = np.random.default_rng(shuffle_seed).permutation(labels)
    return labels


def test_kbsc_split_sizes_and_disjointness():
    train_labels = _labels(5, 500, shuffle_seed=0)
    test_labels = _labels(5, 100, shuffle_seed=1)
    split = kbsc_split(train_labels, test_labels, seed=7)
    assert split.sizes() == {
        "train": 2000,
        "val_sender": 250,
        "val_receiver": 250,
        "test_sender": 250,
        "test_receiver": 250,
    }
    train_parts = [split.train, split.val_sender, split.val_receiver]
    joined = np.concatenate(train_parts)
    assert np.array_equal(np.sort(joined), np.arange(len(train_labels)))  # disjoint and complete
    assert np.array_equal(np.sort(np.concatenate([split.test_sender, split.test_receiver])), np.arange(500))
    for part in [*train_parts, split.test_sender, split.test_receiver]:
        assert part.dtype == np.int64 and np.all(np.diff(part) > 0)
    for cls in range(5):  # stratified: 400/50/50 per class
        assert [int((train_labels[p] == cls).sum()) for p in train_parts] == [400, 50, 50]
        cls_idx = np.flatnonzero(test_labels == cls)
        assert np.array_equal(split.test_sender[test_labels[split.test_sender] == cls], cls_idx[:50])
        assert np.array_equal(split.test_receiver[test_labels[split.test_receiver] == cls], cls_idx[50:])


def test_kbsc_split_seeding_and_options():
    train_labels, test_labels = _labels(3, 20), _labels(3, 5)
    a = kbsc_split(train_labels, test_labels, seed=1)
    b = kbsc_split(train_labels, test_labels, seed=1)
    c = kbsc_split(train_labels, test_labels, seed=2)
    assert all(np.array_equal(getattr(a, k), getattr(b, k)) for k in a.sizes())
    assert not np.array_equal(a.train, c.train)
    assert np.array_equal(a.test_sender, c.test_sender)  # the test split is not random
    assert a.sizes()["test_sender"] == 6 and a.sizes()["test_receiver"] == 9  # odd: receiver gets extra
    d = kbsc_split(train_labels, test_labels, seed=1, train_fraction=0.5, val_sender_fraction=0.3)
    assert d.sizes()["train"] == 30 and d.sizes()["val_sender"] == 18 and d.sizes()["val_receiver"] == 12
    with pytest.raises(SemlinkError):
        kbsc_split(train_labels, test_labels, seed=1, train_fraction=1.2)
    with pytest.raises(SemlinkError):
        kbsc_split(train_labels, test_labels, seed=1, train_fraction=0.8, val_sender_fraction=0.3)
    with pytest.raises(SemlinkError):
        kbsc_split(train_labels.astype(float), test_labels, seed=1)


def test_subset_per_class():
    labels = _labels(4, 10, shuffle_seed=3)
    idx = subset_per_class(labels, 3, seed=0)
    assert idx.dtype == np.int64 and np.all(np.diff(idx) > 0)
    assert np.bincount(labels[idx]).tolist() == [3, 3, 3, 3]
    assert np.array_equal(idx, subset_per_class(labels, 3, seed=0))
    assert not np.array_equal(idx, subset_per_class(labels, 3, seed=1))
    first = subset_per_class(labels, 2, seed=None)
    for cls in range(4):
        assert np.array_equal(first[labels[first] == cls], np.flatnonzero(labels == cls)[:2])
    assert len(subset_per_class(labels, 50, seed=0)) == 40  # small classes give all they have
    with pytest.raises(SemlinkError):
        subset_per_class(labels, 0, seed=0)
