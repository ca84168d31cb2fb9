"""What labels mean: the dataset, split and class names a set of integer labels was taken from.

A label is a bare integer: ``3`` is "Dress" in Fashion-MNIST and "cat" in CIFAR-10. A
:class:`LabelSet` travels with features files (safetensors metadata) and knowledge bases
(``kb.json``), so that a query's labels are only scored against labels that mean the same classes,
and a query's neighbours can be shown by class name.

Two label sets are the same when their class names are (the same names in the same order: label
``i`` names one class on both sides), whatever the datasets are called: a folder of photos sorted
into CIFAR-10's class names may be scored against a CIFAR-10 knowledge base. Where either side's
class names are unknown (files written before semlink recorded them), different dataset names
still tell two sets apart; otherwise the match is unknown (:meth:`LabelSet.known` is false on one
side), and the caller says so.

>>> kb = LabelSet("fashion-mnist", "test", ("T-shirt/top", "Trouser"))
>>> kb.class_name(1), kb.conflicts(LabelSet("folder", "all", ("T-shirt/top", "Trouser")))
('Trouser', False)
>>> kb.conflicts(LabelSet("folder", "all", ("a", "b")))
True
>>> print(LabelSet())
unknown dataset and class names (written before semlink recorded them)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from semlink.errors import CorruptFileError, SemlinkError

if TYPE_CHECKING:  # label sets stay import-light: `semlink kb --help` loads no NumPy
    import numpy as np

_NAMES_SHOWN = 4


@dataclass(frozen=True)
class LabelSet:
    """``dataset`` name, ``split`` and ``class_names`` (label ``i`` is ``class_names[i]``); each may be unknown (None)."""

    dataset: str | None = None
    split: str | None = None
    class_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("dataset", "split"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise SemlinkError(f"label set {name} must be a non-empty string or None; got {value!r}")
        names = self.class_names
        if names is not None:
            if isinstance(names, str) or not isinstance(names, Sequence) or not all(
                isinstance(n, str) for n in names
            ):
                raise SemlinkError(f"class_names must be a sequence of strings or None; got {names!r}")
            object.__setattr__(self, "class_names", tuple(names))

    @classmethod
    def of(cls, dataset: Any) -> LabelSet:
        """The label set of an :class:`~semlink.data.ImageDataset` (its ``name``, ``split``, ``class_names``)."""
        return cls(str(dataset.name), str(dataset.split), tuple(str(c) for c in dataset.class_names))

    @property
    def known(self) -> bool:
        """Whether there is anything to compare: a dataset name or class names."""
        return self.dataset is not None or self.class_names is not None

    def class_name(self, label: int) -> str | None:
        """The name of class ``label``, or None where class names are unknown (or ``label`` is -1: no item)."""
        if self.class_names is None or not 0 <= int(label) < len(self.class_names):
            return None
        return self.class_names[int(label)]

    def conflicts(self, other: LabelSet) -> bool:
        """Whether the same label numbers certainly mean different classes here and in ``other``."""
        if self.class_names is not None and other.class_names is not None:
            return self.class_names != other.class_names
        return self.dataset is not None and other.dataset is not None and self.dataset != other.dataset

    def check_comparable(self, other: LabelSet, here: str, there: str) -> None:
        """Refuse (one line naming both) when ``other``'s labels (those of ``there``) mean other classes
        than this set's (those of ``here``)."""
        if self.conflicts(other):
            raise SemlinkError(
                f"the labels of {there} are {other} but those of {here} are {self}: the same numbers name "
                "different classes, so they are not scored; use features and a knowledge base of one label "
                "set (a file without 'labels' only shows neighbours)"
            )

    def check_labels(self, labels: np.ndarray, where: str) -> None:
        """Refuse labels outside ``0..len(class_names)-1`` (when class names are known); ``where``
        names them (``"the labels of f.safetensors"``)."""
        if self.class_names is None or labels.size == 0:
            return
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= len(self.class_names):
            raise SemlinkError(
                f"{where} lie in [{low}, {high}] but there are {len(self.class_names)} class names; "
                f"labels must lie in [0, {len(self.class_names) - 1}]"
            )

    def __str__(self) -> str:
        if not self.known:
            return "unknown dataset and class names (written before semlink recorded them)"
        where = self.dataset or "an unnamed dataset"
        if self.split is not None:
            where += f" ({self.split})"
        if self.class_names is None:
            return f"{where}, class names unknown"
        names = ", ".join(self.class_names[:_NAMES_SHOWN])
        more = ", ..." if len(self.class_names) > _NAMES_SHOWN else ""
        return f"{where} with {len(self.class_names)} classes [{names}{more}]"

    # ------------------------------------------------------------------ files
    def to_metadata(self) -> dict[str, str]:
        """Safetensors metadata entries (strings; ``class_names`` as a JSON list); unknown fields left out."""
        meta = {k: v for k, v in (("dataset", self.dataset), ("split", self.split)) if v is not None}
        if self.class_names is not None:
            meta["class_names"] = json.dumps(list(self.class_names))
        return meta

    @classmethod
    def from_metadata(cls, meta: Mapping[str, str], where: str) -> LabelSet:
        """Read :meth:`to_metadata`'s entries (absent ones are unknown); a damaged entry is a
        :class:`~semlink.errors.CorruptFileError` naming ``where``."""
        names = meta.get("class_names")
        if names is not None:
            try:
                names = json.loads(names)
            except json.JSONDecodeError as err:
                raise CorruptFileError(f"{where}: metadata 'class_names' is not a JSON list ({err})") from err
        return cls.from_json({**meta, "class_names": names}, where)

    def to_json(self) -> dict[str, Any]:
        """``{"dataset", "split", "class_names"}`` for a JSON file (None where unknown)."""
        names = None if self.class_names is None else list(self.class_names)
        return {"dataset": self.dataset, "split": self.split, "class_names": names}

    @classmethod
    def from_json(cls, meta: Mapping[str, Any], where: str) -> LabelSet:
        """Read :meth:`to_json`'s fields (absent or null ones are unknown); wrong types are a
        :class:`~semlink.errors.CorruptFileError` naming ``where``."""
        try:
            return cls(meta.get("dataset"), meta.get("split"), meta.get("class_names"))
        except SemlinkError as err:
            raise CorruptFileError(f"{where}: {err}") from err
