"""The sender/receiver splits of knowledge-base semantic communication (KBSC) and per-class subsets.

The reference setup (CIFAR-100) splits

* the **training set** per class into 80 % training, 10 % validation on the sender side and 10 %
  validation on the receiver side (random, seeded), and
* the **test set** per class into the first half - the sender's queries - and the last half - the
  receiver's knowledge base (first 50 / last 50 of CIFAR-100's 100 test images per class).

:func:`kbsc_split` does this for any label arrays; every returned index array is sorted, int64, and
the five arrays are disjoint within their source set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from semlink.errors import SemlinkError, require

# Fixed stream tags so the split and the subset draws never share random numbers for one seed.
_SPLIT_STREAM = 0x4B425343  # "KBSC"
_SUBSET_STREAM = 0x53554253  # "SUBS"


@dataclass(frozen=True, eq=False)
class KbscSplit:
    """Index arrays (``[n] int64``, sorted). ``train``/``val_*`` index the training set, ``test_*`` the test set."""

    train: np.ndarray
    val_sender: np.ndarray
    val_receiver: np.ndarray
    test_sender: np.ndarray
    test_receiver: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {k: int(getattr(self, k).shape[0]) for k in self.__dataclass_fields__}


def _labels(labels: np.ndarray | list[int], what: str) -> np.ndarray:
    arr = np.asarray(labels)
    require(arr.ndim == 1, f"{what} must be 1-D, got shape {tuple(arr.shape)}")
    require(
        arr.size == 0 or np.issubdtype(arr.dtype, np.integer),
        f"{what} must hold integers, got {arr.dtype}",
    )
    return arr.astype(np.int64, copy=False)


def _rng(seed: int, stream: int) -> np.random.Generator:
    require(
        isinstance(seed, (int, np.integer)) and not isinstance(seed, bool),
        f"seed must be an int, got {seed!r}",
    )
    return np.random.default_rng([int(seed) & ((1 << 64) - 1), stream])


def _fraction(value: float, what: str) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise SemlinkError(f"{what} must lie in [0, 1], got {value}")
    return value


def kbsc_split(
    train_labels: np.ndarray | list[int],
    test_labels: np.ndarray | list[int],
    seed: int,
    train_fraction: float = 0.8,
    val_sender_fraction: float | None = None,
    test_sender_fraction: float = 0.5,
) -> KbscSplit:
    """Split training and test sets per class for KBSC.

    Parameters
    ----------
    train_labels, test_labels:
        ``[N_train]`` and ``[N_test]`` integer class labels.
    seed:
        Seeds the random per-class permutation of the training set (the test split is not random).
    train_fraction:
        Share of each class's training items used for training (default 0.8), rounded per class.
    val_sender_fraction:
        Share for the sender's validation set; default: half of what training leaves (0.1 by default).
        The receiver's validation set gets the rest.
    test_sender_fraction:
        Share of each class's test items, taken from the *start* in dataset order, that become
        sender queries (default 0.5); the remaining items at the end form the receiver's knowledge
        base. With an odd count the receiver gets the extra item.
    """
    train_labels = _labels(train_labels, "train_labels")
    test_labels = _labels(test_labels, "test_labels")
    train_fraction = _fraction(train_fraction, "train_fraction")
    if val_sender_fraction is None:
        val_sender_fraction = (1.0 - train_fraction) / 2.0
    val_sender_fraction = _fraction(val_sender_fraction, "val_sender_fraction")
    if train_fraction + val_sender_fraction > 1.0 + 1e-12:
        raise SemlinkError(
            f"train_fraction + val_sender_fraction must not exceed 1, got {train_fraction} + {val_sender_fraction}"
        )
    test_sender_fraction = _fraction(test_sender_fraction, "test_sender_fraction")
    rng = _rng(seed, _SPLIT_STREAM)

    parts: dict[str, list[np.ndarray]] = {k: [] for k in KbscSplit.__dataclass_fields__}
    for cls in np.unique(train_labels):
        idx = np.flatnonzero(train_labels == cls)
        idx = idx[rng.permutation(idx.shape[0])]
        n = idx.shape[0]
        n_train = min(n, int(np.floor(n * train_fraction + 0.5)))
        n_vs = min(n - n_train, int(np.floor(n * val_sender_fraction + 0.5)))
        parts["train"].append(idx[:n_train])
        parts["val_sender"].append(idx[n_train : n_train + n_vs])
        parts["val_receiver"].append(idx[n_train + n_vs :])
    for cls in np.unique(test_labels):
        idx = np.flatnonzero(test_labels == cls)  # dataset order
        n_s = int(np.floor(idx.shape[0] * test_sender_fraction))
        parts["test_sender"].append(idx[:n_s])
        parts["test_receiver"].append(idx[n_s:])

    def _join(chunks: list[np.ndarray]) -> np.ndarray:
        return np.sort(np.concatenate(chunks)).astype(np.int64) if chunks else np.zeros(0, np.int64)

    return KbscSplit(**{k: _join(v) for k, v in parts.items()})


def subset_per_class(labels: np.ndarray | list[int], n_per_class: int, seed: int | None) -> np.ndarray:
    """Sorted indices of ``n_per_class`` items of every class (all items of a smaller class).

    ``seed=None`` takes the first items of each class in dataset order; an int draws them at random.
    Sorting keeps dataset order, so "first half / last half" splits of the result stay meaningful.
    """
    labels = _labels(labels, "labels")
    if isinstance(n_per_class, bool) or int(n_per_class) != n_per_class or n_per_class < 1:
        raise SemlinkError(f"n_per_class must be a positive integer, got {n_per_class!r}")
    n_per_class = int(n_per_class)
    rng = None if seed is None else _rng(seed, _SUBSET_STREAM)
    chosen: list[np.ndarray] = []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        if rng is not None and idx.shape[0] > n_per_class:
            idx = rng.choice(idx, size=n_per_class, replace=False)
        chosen.append(idx[:n_per_class])
    if not chosen:
        return np.zeros(0, np.int64)
    return np.sort(np.concatenate(chosen)).astype(np.int64)
