"""CIFAR-10 and CIFAR-100 from torchvision's on-disk format, read with a restricted unpickler.

The CIFAR "python version" files (``cifar-10-batches-py/`` and ``cifar-100-python/``) are Python
pickles of dicts holding a ``data`` uint8 array ``[N, 3072]`` (channel-major 32x32 RGB), a label list
(``labels`` for CIFAR-10, ``fine_labels``/``coarse_labels`` for CIFAR-100) and some byte strings.

A plain :func:`pickle.load` runs whatever callable the file names, so a tampered file could execute
arbitrary code. These files are therefore read **only** with :class:`RestrictedUnpickler`, whose
``find_class`` resolves nothing but the few NumPy array/dtype reconstructors (and ``_codecs.encode``,
which Python 3 protocol-2 pickles use for bytes); any other global - ``os.system``, ``builtins.eval``,
``subprocess.Popen``... - raises :class:`~semlink.errors.CorruptFileError` before it can be called.
Arrays of Python objects are refused as well. The loaded dicts are then checked for the expected
keys, dtypes and shapes.

Nothing is downloaded unless ``download=True`` is passed; then torchvision's downloader fetches the
archive (which fails without network, reported as :class:`~semlink.errors.MissingResourceError`).
"""

from __future__ import annotations

import importlib
import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from semlink.data.base import ImageDataset, as_path, reject_options
from semlink.errors import CorruptFileError, MissingResourceError

DEFAULT_ROOT = "~/.cache/semlink/datasets"

# (module, name) pairs a CIFAR pickle may reference, and where the object lives today.
# numpy 2 moved ``numpy.core`` to ``numpy._core``; files written by either name both load.
_ALLOWED_GLOBALS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("numpy.core.multiarray", "_reconstruct"): (
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "_reconstruct"),
    ),
    ("numpy._core.multiarray", "_reconstruct"): (
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "_reconstruct"),
    ),
    ("numpy.core.multiarray", "scalar"): (
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.multiarray", "scalar"),
    ),
    ("numpy._core.multiarray", "scalar"): (
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.multiarray", "scalar"),
    ),
    ("numpy.core.numeric", "_frombuffer"): (
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy.core.numeric", "_frombuffer"),
    ),
    ("numpy._core.numeric", "_frombuffer"): (
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy.core.numeric", "_frombuffer"),
    ),
    ("numpy", "ndarray"): (("numpy", "ndarray"),),
    ("numpy", "dtype"): (("numpy", "dtype"),),
    ("_codecs", "encode"): (("_codecs", "encode"),),
}


def _resolve(candidates: tuple[tuple[str, str], ...]) -> Any:
    for module_name, attr in candidates:
        try:
            return getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"none of {candidates} is importable")


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild dicts, lists, strings, bytes, numbers and NumPy arrays - nothing else.

    ``find_class`` allows only NumPy's array/scalar/dtype reconstruction functions and
    ``_codecs.encode``; every other global raises :class:`CorruptFileError` (so e.g. a pickle that
    tries to call ``os.system`` fails *before* anything runs). Persistent ids are refused too.
    """

    def find_class(self, module: str, name: str) -> Any:
        candidates = _ALLOWED_GLOBALS.get((module, name))
        if candidates is None:
            raise CorruptFileError(
                f"refusing to unpickle global {module}.{name}: this file may only contain dicts, lists, "
                f"strings, numbers and NumPy arrays"
            )
        return _resolve(candidates)

    def persistent_load(self, pid: Any) -> Any:
        raise CorruptFileError("refusing to unpickle a persistent id")


def _check_no_objects(obj: Any, depth: int = 0) -> None:
    """Refuse object arrays anywhere in the loaded structure (their elements escape type checks)."""
    if depth > 20:
        raise CorruptFileError("pickle nesting too deep for a CIFAR file")
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject:
        raise CorruptFileError("refusing a pickled NumPy array of Python objects")
    if isinstance(obj, dict):
        for key, value in obj.items():
            _check_no_objects(key, depth + 1)
            _check_no_objects(value, depth + 1)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _check_no_objects(value, depth + 1)


def restricted_load(
    path_or_file: str | os.PathLike[str] | io.BufferedIOBase, encoding: str = "latin1"
) -> Any:
    """Unpickle a CIFAR-style file with :class:`RestrictedUnpickler` (``encoding`` as in :func:`pickle.load`).

    ``latin1`` (torchvision's choice) turns the Python 2 byte strings of the original files into
    ``str``. Raises :class:`CorruptFileError` for a forbidden global or a malformed pickle.
    """
    if isinstance(path_or_file, (str, os.PathLike)):
        with open(path_or_file, "rb") as fh:
            return restricted_load(fh, encoding=encoding)
    try:
        obj = RestrictedUnpickler(path_or_file, encoding=encoding).load()
    except CorruptFileError:
        raise
    except Exception as exc:  # malformed pickles raise many exception types
        name = getattr(path_or_file, "name", "<stream>")
        raise CorruptFileError(f"cannot unpickle {name!r}: {type(exc).__name__}: {exc}") from exc
    _check_no_objects(obj)
    return obj


def _text_keys(entry: Any, path: Path) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise CorruptFileError(f"{str(path)!r} holds a {type(entry).__name__}; expected a dict")
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in entry.items()}


def _as_text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class _CifarSpec:
    def __init__(
        self,
        name: str,
        folder: str,
        files: dict[str, list[str]],
        meta_file: str,
        meta_key: str,
        label_key: str,
        num_classes: int,
        torchvision_class: str,
    ) -> None:
        self.name = name
        self.folder = folder
        self.files = files
        self.meta_file = meta_file
        self.meta_key = meta_key
        self.label_key = label_key
        self.num_classes = num_classes
        self.torchvision_class = torchvision_class


_CIFAR10 = _CifarSpec(
    "cifar10",
    "cifar-10-batches-py",
    {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
    "batches.meta",
    "label_names",
    "labels",
    10,
    "CIFAR10",
)
_CIFAR100 = _CifarSpec(
    "cifar100",
    "cifar-100-python",
    {"train": ["train"], "test": ["test"]},
    "meta",
    "fine_label_names",
    "fine_labels",
    100,
    "CIFAR100",
)


def _download(spec: _CifarSpec, base: Path) -> None:
    from torchvision import datasets as tv_datasets
    from torchvision.datasets.utils import download_and_extract_archive

    tv = getattr(tv_datasets, spec.torchvision_class)
    try:
        download_and_extract_archive(tv.url, str(base), filename=tv.filename, md5=tv.tgz_md5)
    except Exception as exc:  # no network, HTTP error, bad archive...
        raise MissingResourceError(
            f"could not download {spec.name} into {str(base)!r} ({type(exc).__name__}: {exc}); put the "
            f"extracted {spec.folder}/ folder under root= yourself, or retry download=True with network"
        ) from exc


def _load_cifar(spec: _CifarSpec, root: Any, split: str, download: bool) -> ImageDataset:
    base = as_path(root, DEFAULT_ROOT)
    folder = base / spec.folder
    paths = [folder / f for f in spec.files[split]]
    meta_path = folder / spec.meta_file
    if download and not all(p.is_file() for p in [*paths, meta_path]):
        _download(spec, base)
    missing = [p.name for p in [*paths, meta_path] if not p.is_file()]
    if missing:
        raise MissingResourceError(
            f"{spec.name} {split} files {missing} not found in {str(folder)!r}; expected torchvision's "
            f"layout <root>/{spec.folder}/ - pass root= to the folder containing {spec.folder}/, or "
            f"download=True (needs network)"
        )

    chunks: list[np.ndarray] = []
    labels: list[int] = []
    for path in paths:
        entry = _text_keys(restricted_load(path), path)
        data = entry.get("data")
        if (
            not isinstance(data, np.ndarray)
            or data.dtype != np.uint8
            or data.ndim != 2
            or data.shape[1] != 3072
        ):
            got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
            raise CorruptFileError(f"{str(path)!r}: 'data' must be a uint8 array [N, 3072]; got {got}")
        raw_labels = entry.get(spec.label_key, entry.get("labels"))
        if raw_labels is None:
            raise CorruptFileError(f"{str(path)!r} has no {spec.label_key!r} entry")
        lab = np.asarray(raw_labels)
        if lab.ndim != 1 or lab.shape[0] != data.shape[0] or not np.issubdtype(lab.dtype, np.integer):
            raise CorruptFileError(
                f"{str(path)!r}: {spec.label_key!r} must hold {data.shape[0]} integers; got {lab.dtype} {lab.shape}"
            )
        chunks.append(data)
        labels.extend(int(x) for x in lab)

    meta = _text_keys(restricted_load(meta_path), meta_path)
    names = meta.get(spec.meta_key)
    if not isinstance(names, (list, tuple)) or not names:
        raise CorruptFileError(f"{str(meta_path)!r} has no list {spec.meta_key!r}")
    class_names = [_as_text(n) for n in names]

    label_arr = np.asarray(labels, dtype=np.int64)
    if label_arr.size and (label_arr.min() < 0 or label_arr.max() >= len(class_names)):
        raise CorruptFileError(
            f"{spec.name} labels span [{label_arr.min()}, {label_arr.max()}] but {str(meta_path)!r} names "
            f"{len(class_names)} classes"
        )
    images = np.concatenate(chunks).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return ImageDataset(
        images=np.ascontiguousarray(images),
        labels=label_arr,
        class_names=class_names,
        name=spec.name,
        split=split,
        source=str(folder),
    )


def load_cifar10(
    root: str | os.PathLike[str] | None = None, split: str = "train", download: bool = False, **options: Any
) -> ImageDataset:
    """CIFAR-10 from ``root/cifar-10-batches-py/`` as ``[N, 32, 32, 3] uint8`` (restricted unpickling)."""
    reject_options("cifar10", options)
    return _load_cifar(_CIFAR10, root, split, download)


def load_cifar100(
    root: str | os.PathLike[str] | None = None, split: str = "train", download: bool = False, **options: Any
) -> ImageDataset:
    """CIFAR-100 (fine labels) from ``root/cifar-100-python/`` as ``[N, 32, 32, 3] uint8`` (restricted unpickling)."""
    reject_options("cifar100", options)
    return _load_cifar(_CIFAR100, root, split, download)
