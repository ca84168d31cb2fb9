"""semlink.data: datasets by name and the sender/receiver splits.

>>> from semlink.data import load_dataset, kbsc_split
>>> ds = load_dataset("fashion-mnist", split="test")            # doctest: +SKIP
>>> ds.images.shape, ds.labels.dtype                            # doctest: +SKIP
((10000, 28, 28), dtype('int64'))
"""

from semlink.data.base import ImageDataset, available_datasets, load_dataset, register_dataset
from semlink.data.cifar import RestrictedUnpickler, restricted_load
from semlink.data.fashion_mnist import read_idx
from semlink.data.splits import KbscSplit, kbsc_split, subset_per_class

__all__ = [
    "ImageDataset",
    "KbscSplit",
    "RestrictedUnpickler",
    "available_datasets",
    "kbsc_split",
    "load_dataset",
    "read_idx",
    "register_dataset",
    "restricted_load",
    "subset_per_class",
]
