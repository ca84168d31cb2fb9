"""The in-memory image dataset and the registry of datasets by name.

Every loader returns an :class:`ImageDataset`: all images in one uint8 array, the labels, the class
names, and what it was read from. Datasets in this project are small enough (Fashion-MNIST, CIFAR,
a folder of images) to live in memory, which keeps feature extraction a simple batched loop.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semlink.errors import SemlinkError, choice_error, require
from semlink.registry import Registry

SPLITS = ("train", "test")


@dataclass(eq=False)
class ImageDataset:
    """Images, labels and class names of one split of a dataset.

    Attributes
    ----------
    images:
        ``[N, H, W, 3] uint8`` (RGB) or ``[N, H, W] uint8`` (grayscale) NumPy array.
    labels:
        ``[N] int64`` class indices into ``class_names``.
    class_names:
        Names of all classes of the dataset (also those absent from a subset).
    name:
        Dataset name as given to :func:`load_dataset` (e.g. ``"fashion-mnist"``).
    split:
        ``"train"``, ``"test"`` or ``"all"`` (a folder without split sub-folders).
    indices:
        ``[N] int64`` positions of these items in the full split, or ``None`` for the full split.
    source:
        Where the data was read from (a folder), for messages and the cache fingerprint.
    notes:
        What the loader converted or left out on the way (e.g. "2 image(s) 16-bit, scaled to 8
        bits: ..."), one sentence each; empty when the files were used as they are.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    name: str
    split: str = "train"
    indices: np.ndarray | None = None
    source: str = ""
    notes: tuple[str, ...] = ()
    _fingerprint: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        images = np.asarray(self.images)
        labels = np.asarray(self.labels)
        require(images.dtype == np.uint8, f"dataset images must be uint8, got {images.dtype}")
        require(
            images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 3),
            f"dataset images must be [N,H,W] or [N,H,W,3], got shape {tuple(images.shape)}",
        )
        require(labels.ndim == 1, f"dataset labels must be 1-D, got shape {tuple(labels.shape)}")
        require(
            labels.shape[0] == images.shape[0],
            f"{images.shape[0]} images but {labels.shape[0]} labels",
        )
        labels = labels.astype(np.int64, copy=False)
        if labels.size:
            require(
                int(labels.min()) >= 0 and int(labels.max()) < len(self.class_names),
                f"labels must lie in [0, {len(self.class_names)}), got [{labels.min()}, {labels.max()}]",
            )
        self.images = images
        self.labels = labels
        self.class_names = [str(c) for c in self.class_names]
        self.notes = tuple(str(n) for n in self.notes)
        if self.indices is not None:
            idx = np.asarray(self.indices, dtype=np.int64)
            require(idx.shape == labels.shape, "indices must have one entry per item")
            self.indices = idx

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, ...]:
        """``(H, W)`` or ``(H, W, 3)``."""
        return tuple(int(s) for s in self.images.shape[1:])

    def subset(self, indices: Sequence[int] | np.ndarray) -> ImageDataset:
        """The items at ``indices`` (positions in *this* dataset), remembering their original positions."""
        idx = np.asarray(indices, dtype=np.int64)
        require(idx.ndim == 1, f"subset indices must be 1-D, got shape {tuple(idx.shape)}")
        if idx.size:
            require(
                int(idx.min()) >= 0 and int(idx.max()) < len(self),
                f"subset indices must lie in [0, {len(self)}), got [{idx.min()}, {idx.max()}]",
            )
        base = np.arange(len(self), dtype=np.int64) if self.indices is None else self.indices
        return ImageDataset(
            images=self.images[idx],
            labels=self.labels[idx],
            class_names=list(self.class_names),
            name=self.name,
            split=self.split,
            indices=base[idx],
            source=self.source,
            notes=self.notes,
        )

    def fingerprint(self) -> str:
        """A hex digest naming this exact data: name, split, subset indices and the pixel/label bytes.

        Used to key feature caches. Hashing the content (BLAKE2b, ~1 GB/s) costs a fraction of a
        second even for the full CIFAR training set and guards against a changed folder or file.
        """
        if self._fingerprint is None:
            h = hashlib.blake2b(digest_size=16)
            h.update(f"{self.name}\0{self.split}\0{self.images.shape}\0".encode())
            h.update(b"all" if self.indices is None else self.indices_hash().encode())
            h.update(np.ascontiguousarray(self.images).data)
            h.update(np.ascontiguousarray(self.labels).data)
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    def indices_hash(self) -> str:
        """Hex digest of the subset indices (``"all"`` for a full split)."""
        if self.indices is None:
            return "all"
        return hashlib.blake2b(np.ascontiguousarray(self.indices).data, digest_size=8).hexdigest()

    def describe(self) -> dict[str, Any]:
        """JSON-friendly description (for manifests and cache metadata)."""
        described = {
            "name": self.name,
            "split": self.split,
            "num_items": len(self),
            "image_shape": list(self.image_shape),
            "num_classes": self.num_classes,
            "indices": self.indices_hash(),
            "source": self.source,
        }
        if self.notes:
            described["notes"] = list(self.notes)
        return described


DatasetLoader = Callable[..., ImageDataset]
"""``loader(root=None, split="train", download=False, **options) -> ImageDataset``."""

DATASETS: Registry[DatasetLoader] = Registry("dataset", {
    "fashion-mnist": "semlink.data.fashion_mnist:load_fashion_mnist",
    "cifar10": "semlink.data.cifar:load_cifar10",
    "cifar100": "semlink.data.cifar:load_cifar100",
    "folder": "semlink.data.folder:load_folder",
    "photos": "semlink.data.photos:load_photos",
}, entry_points="semlink.datasets")
"""Datasets by name (:mod:`semlink.registry`): built-ins, ``register_dataset`` and the ``semlink.datasets``
entry points."""


def register_dataset(name: str, loader: DatasetLoader | None = None) -> Any:
    """Register ``loader(root=None, split="train", download=False, **options) -> ImageDataset``.

    Usable as a decorator: ``@register_dataset("my-data")``.
    """
    if loader is not None:
        DATASETS.add(name, loader)
        return loader
    return DATASETS.register(name)


def available_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`."""
    return DATASETS.names()


def load_dataset(
    name: str,
    root: str | os.PathLike[str] | None = None,
    split: str = "train",
    download: bool = False,
    **options: Any,
) -> ImageDataset:
    """Load one split of a dataset by name.

    Parameters
    ----------
    name:
        ``"fashion-mnist"``, ``"cifar10"``, ``"cifar100"``, ``"folder"`` or ``"photos"`` (see
        :func:`available_datasets`).
    root:
        Folder holding the data; each dataset has its own default (``folder`` needs one).
    split:
        ``"train"`` or ``"test"``.
    download:
        Allow fetching the data from the network (CIFAR only); never done otherwise.
    options:
        Dataset-specific options, e.g. ``image_size=(64, 64)`` for ``folder``.

    Raises
    ------
    SemlinkError
        Unknown name or split, or a bad option.
    MissingResourceError
        The files are not where they should be (the message names the folder and how to get them).
    CorruptFileError
        A file exists but is not in the expected format.
    """
    loader = DATASETS.get(str(name))
    if split not in SPLITS:
        raise choice_error("split", split, SPLITS)
    return loader(root=root, split=split, download=download, **options)


def as_path(root: str | os.PathLike[str] | None, default: str | os.PathLike[str]) -> Path:
    return Path(os.path.expanduser(str(root if root is not None else default)))


def reject_options(dataset: str, options: dict[str, Any]) -> None:
    if options:
        raise SemlinkError(f"dataset {dataset!r} takes no option(s) {sorted(options)}")
