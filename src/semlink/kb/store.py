"""The knowledge base on disk: ``index.faiss``, ``labels.npy``, ``ids.npy`` and ``kb.json``.

Every file is written to a temporary name and renamed into place (atomic); ``kb.json`` comes last
and records the format version, dimension, metric, factory, encoder, ``ntotal``, search parameters,
and the size and sha256 of each data file; also what the labels mean (``dataset``, ``split``,
``class_names``: :class:`~semlink.kb.labels.LabelSet`) and the sha256 of the encoder's weights
(``encoder_weights``). Those last four are optional: a knowledge base written before semlink
recorded them still loads, with them unknown (``null``). Reading checks all of it before trusting anything: a
missing file is a :class:`~semlink.errors.MissingResourceError`, a damaged one (bad JSON, size or
checksum mismatch, unreadable index or array, pickled array) a
:class:`~semlink.errors.CorruptFileError`. Arrays are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semlink.bridge import describe
from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError
from semlink.io import atomic_path, sha256_file, write_json_atomic
from semlink.kb.labels import LabelSet
from semlink.kb.validation import METRICS, faiss_metric, faiss_reason

FORMAT_NAME = "semlink-kb"
FORMAT_VERSION = 1
INDEX_FILE = "index.faiss"
META_FILE = "kb.json"
LABELS_FILE = "labels.npy"
IDS_FILE = "ids.npy"

_FILES = {"index": INDEX_FILE, "labels": LABELS_FILE, "ids": IDS_FILE}

_META_TYPES: dict[str, type | tuple[type, ...]] = {
    "format": str,
    "format_version": int,
    "dim": int,
    "metric": str,
    "factory": str,
    "encoder": str,
    "ntotal": int,
    "search_params": dict,
    "files": dict,
}


@dataclass(frozen=True)
class StoredKb:
    """What :func:`read_kb` found, checked: the CPU index, ``labels``/``ids`` ``[N] int64``, what
    the labels mean, and the metadata of ``kb.json`` (``metric``, ``factory``, ``encoder``,
    ``search_params``, ``encoder_weights``...)."""

    index: Any
    labels: np.ndarray
    ids: np.ndarray
    meta: dict[str, Any]
    label_set: LabelSet

    @property
    def search_params(self) -> dict[str, int]:
        """The recorded ``nprobe`` / ``ef_search`` (other keys ignored)."""
        return {k: v for k, v in self.meta["search_params"].items() if k in ("nprobe", "ef_search")}


def write_kb(
    directory: str | os.PathLike[str],
    faiss: Any,
    index: Any,
    labels: np.ndarray,
    ids: np.ndarray,
    *,
    metric: str,
    factory: str,
    encoder: str,
    search_params: dict[str, int],
    label_set: LabelSet | None = None,
    encoder_weights: str | None = None,
) -> Path:
    """Write a CPU ``index`` with its ``labels``/``ids`` into ``directory``; returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_path(directory / INDEX_FILE) as tmp:
        try:
            faiss.write_index(index, str(tmp))
        except RuntimeError as err:
            raise SemlinkError(
                f"cannot write FAISS index to {directory / INDEX_FILE}: {faiss_reason(err)}"
            ) from err
    for name, arr in ((LABELS_FILE, labels), (IDS_FILE, ids)):
        with atomic_path(directory / name) as tmp, open(tmp, "wb") as fh:
            np.save(fh, arr, allow_pickle=False)
    files = {
        role: {
            "name": name,
            "bytes": (directory / name).stat().st_size,
            "sha256": sha256_file(directory / name),
        }
        for role, name in _FILES.items()
    }
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "dim": int(index.d),
        "metric": metric,
        "factory": factory,
        "encoder": encoder,
        "ntotal": int(index.ntotal),
        "search_params": search_params,
        **(label_set or LabelSet()).to_json(),
        "encoder_weights": encoder_weights,
        "faiss_version": faiss.__version__,
        "files": files,
    }
    write_json_atomic(directory / META_FILE, meta)
    return directory


def read_kb(
    directory: str | os.PathLike[str],
    faiss: Any,
    expect_encoder: str | None = None,
    expect_dim: int | None = None,
) -> StoredKb:
    """Read and check a knowledge base written by :func:`write_kb` (see the module docstring).

    ``expect_encoder`` / ``expect_dim``: raise :class:`SemlinkError` when the knowledge base was
    built with another encoder or dimension.
    """
    directory = Path(directory)
    meta_path = directory / META_FILE
    if not directory.is_dir():
        raise MissingResourceError(f"knowledge base directory {directory} does not exist")
    if not meta_path.is_file():
        raise MissingResourceError(
            f"{meta_path} not found; is {directory} a knowledge base written by KnowledgeBase.save?"
        )
    meta = _read_meta(meta_path)
    label_set = LabelSet.from_json(meta, str(meta_path))
    if expect_encoder is not None and meta["encoder"] != expect_encoder:
        raise SemlinkError(
            f"knowledge base {directory} was built with encoder {meta['encoder']!r} but {expect_encoder!r} "
            "was expected; rebuild it with that encoder's features"
        )
    if expect_dim is not None and meta["dim"] != expect_dim:
        raise SemlinkError(
            f"knowledge base {directory} has dimension {meta['dim']} but {expect_dim} was expected"
        )
    paths = {role: _verified_file(directory, meta_path, entry) for role, entry in meta["files"].items()}
    try:
        index = faiss.read_index(str(paths["index"]))
    except RuntimeError as err:
        raise CorruptFileError(
            f"{paths['index']} is not a readable FAISS index: {faiss_reason(err)}"
        ) from err
    if int(index.d) != meta["dim"] or int(index.ntotal) != meta["ntotal"]:
        raise CorruptFileError(
            f"{paths['index']} holds {index.ntotal} vectors of dimension {index.d} but {meta_path} says "
            f"{meta['ntotal']} of dimension {meta['dim']}"
        )
    if int(index.metric_type) != faiss_metric(faiss, meta["metric"]):
        raise CorruptFileError(
            f"{paths['index']} uses FAISS metric {index.metric_type}, not {meta['metric']!r} as {meta_path} says"
        )
    labels, ids = (_read_int_array(paths[role], meta["ntotal"]) for role in ("labels", "ids"))
    try:
        label_set.check_labels(labels, f"the labels in {paths['labels']}")
    except SemlinkError as err:
        raise CorruptFileError(f"{err} (the class names of {meta_path})") from err
    return StoredKb(index=index, labels=labels, ids=ids, meta=meta, label_set=label_set)


def _read_meta(meta_path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptFileError(
            f"{meta_path} is not valid JSON ({err}); the knowledge base metadata is damaged"
        ) from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise CorruptFileError(
            f'{meta_path} is not semlink knowledge-base metadata (no "format": "{FORMAT_NAME}")'
        )
    if meta.get("format_version") != FORMAT_VERSION:
        raise SemlinkError(
            f"{meta_path} has format_version {meta.get('format_version')!r}; this semlink reads version {FORMAT_VERSION}"
        )
    for key, kind in _META_TYPES.items():
        if not isinstance(meta.get(key), kind) or isinstance(meta.get(key), bool):
            raise CorruptFileError(
                f"{meta_path}: field {key!r} is missing or not a {getattr(kind, '__name__', kind)}"
            )
    weights = meta.get("encoder_weights")
    if weights is not None and not isinstance(weights, str):
        raise CorruptFileError(f"{meta_path}: field 'encoder_weights' must be a sha256 string or null")
    if meta["metric"] not in METRICS:
        raise CorruptFileError(f"{meta_path}: metric {meta['metric']!r} is not one of {', '.join(METRICS)}")
    for role, name in _FILES.items():
        entry = meta["files"].get(role)
        if not (
            isinstance(entry, dict)
            and entry.get("name") == name
            and isinstance(entry.get("sha256"), str)
            and isinstance(entry.get("bytes"), int)
        ):
            raise CorruptFileError(
                f"{meta_path}: files.{role} must be {{'name': '{name}', 'bytes': int, 'sha256': str}}"
            )
    meta["files"] = {role: meta["files"][role] for role in _FILES}
    return meta


def _verified_file(directory: Path, meta_path: Path, entry: dict[str, Any]) -> Path:
    path = directory / entry["name"]
    if not path.is_file():
        raise MissingResourceError(f"{path} not found (listed in {meta_path})")
    size = path.stat().st_size
    if size != entry["bytes"]:
        raise CorruptFileError(
            f"{path} has {size} bytes but {meta_path} records {entry['bytes']}: truncated or modified"
        )
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise CorruptFileError(
            f"{path} fails its checksum: sha256 {digest} but {meta_path} records {entry['sha256']}"
        )
    return path


def _read_int_array(path: Path, n: int) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise CorruptFileError(f"{path} is not a readable .npy array: {err}") from err
    if not isinstance(arr, np.ndarray) or arr.dtype != np.int64 or arr.shape != (n,):
        raise CorruptFileError(f"{path} must hold [{n}] int64; got {describe(arr)}")
    return arr
