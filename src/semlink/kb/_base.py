"""The receiver's knowledge base: a FAISS index over item features, with labels and item ids.

>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> feats = torch.nn.functional.normalize(torch.randn(100, 16, generator=g), dim=1)
>>> kb = KnowledgeBase.build(feats, labels=torch.arange(100) % 10, encoder="toy")
>>> res = kb.search(feats[:3], k=2)
>>> res.indices[:, 0].tolist(), res.labels[:, 0].tolist()       # each query finds itself first
([0, 1, 2], [0, 1, 2])
>>> res.distances.dtype, res.indices.dtype, res.labels.dtype
(torch.float32, torch.int64, torch.int64)
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semlink.bridge import as_faiss_input, describe, import_faiss, to_numpy, to_torch
from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError, choice_error
from semlink.io import atomic_path, sha256_file, write_json_atomic

FORMAT_NAME = "semlink-kb"
FORMAT_VERSION = 1
INDEX_FILE = "index.faiss"
META_FILE = "kb.json"
LABELS_FILE = "labels.npy"
IDS_FILE = "ids.npy"

METRICS = {"l2": "METRIC_L2", "ip": "METRIC_INNER_PRODUCT"}
DEVICES = ("cpu", "cuda", "auto")
FACTORY_EXAMPLES = "'Flat', 'HNSW32', 'IVF1024,Flat', 'IVF1024,SQ8', 'IVF256,PQ32'"
DEFAULT_EF_SEARCH = 64


@dataclass(frozen=True)
class SearchResult:
    """The ``k`` nearest knowledge-base items of each query, best first.

    - ``distances`` ``[Q, k] float32``: squared L2 distance (metric ``"l2"``) or inner product
      (``"ip"``, larger is closer).
    - ``indices`` ``[Q, k] int64``: rows of the knowledge base; ``-1`` where the index returned
      fewer than ``k`` items (possible with IVF and a small ``nprobe``).
    - ``labels`` ``[Q, k] int64``: class labels of those items (``-1`` where missing).
    - ``ids`` ``[Q, k] int64``: item ids of those items (``-1`` where missing).

    All four are torch tensors on the query's device.
    """

    distances: torch.Tensor
    indices: torch.Tensor
    labels: torch.Tensor
    ids: torch.Tensor


def _faiss_metric(faiss: Any, metric: str) -> int:
    if metric not in METRICS:
        raise choice_error("metric", metric, METRICS)
    return int(getattr(faiss, METRICS[metric]))


def _first_line(err: BaseException) -> str:
    """FAISS's C++ message without its source location: ``Error in f() at x.cpp:12: <reason>``."""
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    text = re.sub(r"^Error in .*? at \S+:\d+: ", "", text)
    return re.sub(r"^Error: '.*?' failed: ", "", text)


def _int_vector(x: Any, what: str, n: int) -> np.ndarray:
    """``[n] int64`` NumPy copy of labels or ids (small, so a copy is fine)."""
    if isinstance(x, (list, tuple)):
        arr = np.asarray(x)
    else:
        arr = to_numpy(to_torch(x), allow_copy=True)  # labels on the GPU are small: copied on purpose
    if arr.ndim != 1 or arr.shape[0] != n:
        raise SemlinkError(f"{what} must be [N] with N={n} (rows of features); got {describe(arr)}")
    if n and arr.dtype.kind not in "iu":
        raise SemlinkError(f"{what} must be integers; got {describe(arr)}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _check_vectors(x: np.ndarray | torch.Tensor, what: str, dim: int | None) -> None:
    if x.shape[0] == 0 and what != "queries":
        raise SemlinkError(f"{what} is empty ({describe(x)}); need at least one vector")
    if dim is not None and x.shape[1] != dim:
        raise SemlinkError(f"{what} have dimension {x.shape[1]} but the knowledge base has dimension {dim}")
    isfinite = np.isfinite if isinstance(x, np.ndarray) else torch.isfinite
    step = 1 << 16  # in row blocks: no [N, D] boolean temporary for a million items
    if not all(bool(isfinite(x[i : i + step]).all()) for i in range(0, x.shape[0], step)):
        raise SemlinkError(
            f"{what} contain NaN or infinite values ({describe(x)}); FAISS needs finite vectors"
        )


def _min_training_points(faiss: Any, index: Any) -> tuple[int, str]:
    """Fewest training vectors the index accepts, and why (IVF lists, PQ centroids)."""
    need, why = 1, []
    ivf = faiss.try_extract_index_ivf(index)
    candidates = [faiss.downcast_index(index)]
    if ivf is not None:
        need = max(need, int(ivf.nlist))
        why.append(f"{ivf.nlist} IVF lists")
        candidates.append(faiss.downcast_index(ivf))
    for cand in candidates:
        pq = getattr(cand, "pq", None)
        if pq is not None:
            need = max(need, int(pq.ksub))
            why.append(f"{pq.ksub} PQ centroids ({pq.nbits} bits)")
            break
    return need, " and ".join(why) or "training"


def _seed_clustering(faiss: Any, index: Any, seed: int) -> None:
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ivf.cp.seed = seed
        pq = getattr(faiss.downcast_index(ivf), "pq", None)
    else:
        pq = getattr(faiss.downcast_index(index), "pq", None)
    if pq is not None:
        pq.cp.seed = seed


def _resolve_device(faiss: Any, device: str) -> str:
    if device not in DEVICES:
        raise choice_error("device", device, DEVICES)
    if device == "cpu":
        return "cpu"
    gpu_ok = hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0
    if device == "auto":
        return "cuda" if gpu_ok else "cpu"
    if not gpu_ok:
        raise MissingResourceError(
            f"device={device!r} needs faiss-gpu and a CUDA GPU; this faiss ({faiss.__version__}) sees "
            f"{faiss.get_num_gpus()} GPU(s). Install semlink[gpu] (faiss-gpu-cu12) or use device='cpu'"
        )
    return "cuda"


class KnowledgeBase:
    """A FAISS index over ``N`` item features ``[N, D] float32`` with their labels and item ids.

    Build with :meth:`build`, reopen with :meth:`load`; :meth:`search` answers queries.
    Index rows are numbered ``0..N-1`` in the order of ``features``; ``labels[i]`` and ``ids[i]``
    belong to row ``i``.
    """

    def __init__(
        self,
        index: Any,
        labels: np.ndarray,
        ids: np.ndarray,
        *,
        metric: str,
        factory: str,
        encoder: str,
        device: str = "cpu",
        search_params: dict[str, int] | None = None,
    ) -> None:
        """Wrap a built FAISS ``index`` (use :meth:`build` or :meth:`load` rather than this)."""
        self._faiss = import_faiss()
        self._index = index
        self._labels = labels
        self._ids = ids
        self._labels_t = {torch.device("cpu"): (torch.from_numpy(labels), torch.from_numpy(ids))}
        self.metric = metric
        self.factory = factory
        self.encoder = encoder
        self.device = "cpu"
        self._search_params: dict[str, int] = {}
        self.set_search_params(**(search_params or {}))
        if _resolve_device(self._faiss, device) == "cuda":
            self._to_gpu(strict=device != "auto")

    # ------------------------------------------------------------------ build
    @classmethod
    def build(
        cls,
        features: Any,
        labels: Any,
        ids: Any = None,
        factory: str = "Flat",
        metric: str = "l2",
        encoder: str = "unknown",
        train_features: Any = None,
        seed: int = 0,
        *,
        nprobe: int | None = None,
        ef_search: int | None = None,
        device: str = "cpu",
    ) -> KnowledgeBase:
        """Index ``features [N, D] float32`` (torch or NumPy) with ``labels [N]`` int and ``ids [N]``.

        - ``factory``: a FAISS index-factory string (``"Flat"``, exact; ``"HNSW32"``;
          ``"IVF1024,Flat"``, ``"IVF1024,SQ8"``, ``"IVF256,PQ32"``, ...).
        - ``metric``: ``"l2"`` (squared L2) or ``"ip"`` (inner product; cosine for L2-normalised
          features).
        - ``encoder``: name of the feature encoder, checked by :meth:`load` (``expect_encoder``).
        - ``ids``: item ids (e.g. dataset indices); default ``0..N-1``.
        - ``train_features``: vectors to train IVF/PQ on (default: ``features``); ``seed`` seeds the
          k-means of that training.
        - ``nprobe`` (IVF; default ``clamp(ceil(sqrt(nlist)), 8, nlist)``) and ``ef_search`` (HNSW's
          ``efSearch``; default 64): speed/recall trade-off of the search.
        - ``device``: ``"cpu"``, ``"cuda"`` (needs faiss-gpu) or ``"auto"`` (GPU when available).

        Features must be finite float32 and C-contiguous (see :func:`semlink.bridge.as_faiss_input`);
        CUDA features are copied to the host for the CPU-side build.
        """
        faiss = import_faiss()
        if not isinstance(factory, str) or not factory.strip():
            raise SemlinkError(
                f"factory must be a FAISS index-factory string such as {FACTORY_EXAMPLES}; got {factory!r}"
            )
        if not isinstance(encoder, str) or not encoder:
            raise SemlinkError(f"encoder must be a non-empty name; got {encoder!r}")
        faiss_metric = _faiss_metric(faiss, metric)
        x = _host_vectors(features, "features")
        _check_vectors(x, "features", None)
        n, dim = int(x.shape[0]), int(x.shape[1])
        label_arr = _int_vector(labels, "labels", n)
        id_arr = np.arange(n, dtype=np.int64) if ids is None else _int_vector(ids, "ids", n)
        try:
            index = faiss.index_factory(dim, factory, faiss_metric)
        except RuntimeError as err:
            raise SemlinkError(
                f"bad FAISS factory string {factory!r} for dimension {dim}: {_first_line(err)}; "
                f"examples: {FACTORY_EXAMPLES}"
            ) from err
        if not index.is_trained:
            tx = x if train_features is None else _host_vectors(train_features, "train_features")
            _check_vectors(tx, "train_features", dim)
            need, why = _min_training_points(faiss, index)
            if tx.shape[0] < need:
                raise SemlinkError(
                    f"factory {factory!r} needs at least {need} training vectors ({why}); got "
                    f"{tx.shape[0]}. Pass more train_features or use fewer lists/centroids (e.g. 'Flat' or 'HNSW32')"
                )
            _seed_clustering(faiss, index, int(seed))
            try:
                index.train(tx)
            except RuntimeError as err:
                raise SemlinkError(f"training FAISS index {factory!r} failed: {_first_line(err)}") from err
        index.add(x)
        params = {}
        ivf = faiss.try_extract_index_ivf(index)
        if ivf is not None or nprobe is not None:
            nlist = int(ivf.nlist) if ivf is not None else 0
            params["nprobe"] = (
                nprobe if nprobe is not None else min(nlist, max(8, math.ceil(math.sqrt(nlist))))
            )
        if ef_search is not None or _has_param(faiss, index, "efSearch"):
            params["ef_search"] = ef_search if ef_search is not None else DEFAULT_EF_SEARCH
        return cls(
            index,
            label_arr,
            id_arr,
            metric=metric,
            factory=factory,
            encoder=encoder,
            device=device,
            search_params=params,
        )

    # --------------------------------------------------------------- properties
    @property
    def dim(self) -> int:
        """Feature dimension ``D``."""
        return int(self._index.d)

    @property
    def ntotal(self) -> int:
        """Number of indexed items ``N``."""
        return int(self._index.ntotal)

    def __len__(self) -> int:
        return self.ntotal

    @property
    def labels(self) -> torch.Tensor:
        """``[N] int64`` class labels (CPU; shares memory with the knowledge base)."""
        return self._labels_t[torch.device("cpu")][0]

    @property
    def ids(self) -> torch.Tensor:
        """``[N] int64`` item ids (CPU; shares memory with the knowledge base)."""
        return self._labels_t[torch.device("cpu")][1]

    @property
    def index(self) -> Any:
        """The underlying FAISS index (CPU or GPU)."""
        return self._index

    @property
    def search_params(self) -> dict[str, int]:
        """Current search parameters: ``nprobe`` (IVF) and/or ``ef_search`` (HNSW)."""
        return dict(self._search_params)

    def __repr__(self) -> str:
        params = "".join(f", {k}={v}" for k, v in self._search_params.items())
        return (
            f"KnowledgeBase(n={self.ntotal}, dim={self.dim}, factory={self.factory!r}, metric={self.metric!r}, "
            f"encoder={self.encoder!r}, device={self.device!r}{params})"
        )

    def set_search_params(self, *, nprobe: int | None = None, ef_search: int | None = None) -> None:
        """Set IVF ``nprobe`` and/or HNSW ``efSearch``; refuses a parameter the index lacks."""
        for name, value, faiss_name in (("nprobe", nprobe, "nprobe"), ("ef_search", ef_search, "efSearch")):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise SemlinkError(f"{name} must be a positive integer; got {value!r}")
            if not _has_param(self._faiss, self._index, faiss_name):
                what = "IVF" if name == "nprobe" else "HNSW"
                raise SemlinkError(
                    f"{name} applies to {what} indexes only; factory {self.factory!r} has none"
                )
            self._parameter_space().set_index_parameter(self._index, faiss_name, int(value))
            self._search_params[name] = int(value)

    def _parameter_space(self) -> Any:
        if self.device == "cuda":  # pragma: no cover - needs faiss-gpu
            return self._faiss.GpuParameterSpace()
        return self._faiss.ParameterSpace()

    # -------------------------------------------------------------------- GPU
    def _to_gpu(self, strict: bool) -> None:  # pragma: no cover - needs faiss-gpu and CUDA
        """Move the index to the GPU(s): one GPU through StandardGpuResources, several through
        ``faiss.index_cpu_to_all_gpus``. ``device="auto"`` stays on the CPU for index types FAISS
        cannot put on a GPU (e.g. HNSW); ``device="cuda"`` refuses them."""
        faiss = self._faiss
        try:
            if faiss.get_num_gpus() == 1:
                self._gpu_resources = faiss.StandardGpuResources()
                gpu_index = faiss.index_cpu_to_gpu(self._gpu_resources, 0, self._index)
            else:
                gpu_index = faiss.index_cpu_to_all_gpus(self._index)
        except RuntimeError as err:
            if strict:
                raise SemlinkError(
                    f"FAISS cannot put factory {self.factory!r} on the GPU: {_first_line(err)}"
                ) from err
            return
        self._index, self.device = gpu_index, "cuda"
        self.set_search_params(**self._search_params)

    def _cpu_index(self) -> Any:
        if self.device == "cuda":  # pragma: no cover - needs faiss-gpu
            return self._faiss.index_gpu_to_cpu(self._index)
        return self._index

    # ------------------------------------------------------------------ search
    def search(self, queries: Any, k: int = 5) -> SearchResult:
        """The ``k`` nearest items of each query ``[Q, D] float32`` (torch, NumPy, any DLPack producer).

        Queries reach FAISS through :func:`semlink.bridge.as_faiss_input` without a copy (torch
        tensors are read in place via ``faiss.contrib.torch_utils``); float64 or non-contiguous
        queries are refused with a message saying how to convert them. Results are torch tensors on
        the query's device; CUDA queries on a CPU index are copied to the host for the search and
        the results copied back (use ``device="cuda"`` to keep everything on the GPU).
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= self.ntotal:
            raise SemlinkError(
                f"k must be an integer in [1, {self.ntotal}] (items in the knowledge base); got {k!r}"
            )
        x = as_faiss_input(queries)
        out_device = x.device if isinstance(x, torch.Tensor) else torch.device("cpu")
        _check_vectors(x, "queries", self.dim)
        if isinstance(x, torch.Tensor) and x.is_cuda and not hasattr(self._index, "getDevice"):
            x = x.cpu()  # CPU index (or multi-GPU shards): FAISS reads host memory
        distances, indices = self._index.search(x, int(k))
        distances, indices = to_torch(distances), to_torch(indices)
        labels_t, ids_t = self._label_tables(indices.device)
        found = indices >= 0
        rows = indices.clamp(min=0)
        labels = torch.where(found, labels_t[rows], -1)
        ids = torch.where(found, ids_t[rows], -1)
        if indices.device != out_device:
            distances, indices, labels, ids = (t.to(out_device) for t in (distances, indices, labels, ids))
        return SearchResult(distances=distances, indices=indices, labels=labels, ids=ids)

    def _label_tables(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if device not in self._labels_t:  # pragma: no cover - GPU only
            cpu_labels, cpu_ids = self._labels_t[torch.device("cpu")]
            self._labels_t[device] = (cpu_labels.to(device), cpu_ids.to(device))
        return self._labels_t[device]

    # ------------------------------------------------------------ save / load
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``index.faiss``, ``labels.npy``, ``ids.npy`` and ``kb.json`` into ``directory``.

        Every file is written to a temporary name and renamed into place (atomic); ``kb.json``
        comes last and records the format version, dimension, metric, factory, encoder, ``ntotal``,
        search parameters, and the size and sha256 of each data file. Returns the directory.
        """
        faiss = self._faiss
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(directory / INDEX_FILE) as tmp:
            try:
                faiss.write_index(self._cpu_index(), str(tmp))
            except RuntimeError as err:
                raise SemlinkError(
                    f"cannot write FAISS index to {directory / INDEX_FILE}: {_first_line(err)}"
                ) from err
        for name, arr in ((LABELS_FILE, self._labels), (IDS_FILE, self._ids)):
            with atomic_path(directory / name) as tmp, open(tmp, "wb") as fh:
                np.save(fh, arr, allow_pickle=False)
        files = {
            role: {
                "name": name,
                "bytes": (directory / name).stat().st_size,
                "sha256": sha256_file(directory / name),
            }
            for role, name in (("index", INDEX_FILE), ("labels", LABELS_FILE), ("ids", IDS_FILE))
        }
        meta = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "dim": self.dim,
            "metric": self.metric,
            "factory": self.factory,
            "encoder": self.encoder,
            "ntotal": self.ntotal,
            "search_params": self.search_params,
            "faiss_version": faiss.__version__,
            "files": files,
        }
        write_json_atomic(directory / META_FILE, meta)
        return directory

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike[str],
        expect_encoder: str | None = None,
        expect_dim: int | None = None,
        *,
        device: str = "cpu",
    ) -> KnowledgeBase:
        """Open a knowledge base written by :meth:`save`, checking it before trusting it.

        Raises :class:`~semlink.errors.MissingResourceError` for a missing directory or file,
        :class:`~semlink.errors.CorruptFileError` for invalid ``kb.json``, a size or sha256
        mismatch, or a file FAISS/NumPy cannot read, and :class:`~semlink.errors.SemlinkError`
        when ``expect_encoder`` / ``expect_dim`` differ from what the knowledge base was built with.
        """
        faiss = import_faiss()
        directory = Path(directory)
        meta_path = directory / META_FILE
        if not directory.is_dir():
            raise MissingResourceError(f"knowledge base directory {directory} does not exist")
        if not meta_path.is_file():
            raise MissingResourceError(
                f"{meta_path} not found; is {directory} a knowledge base written by KnowledgeBase.save?"
            )
        meta = _read_meta(meta_path)
        if expect_encoder is not None and meta["encoder"] != expect_encoder:
            raise SemlinkError(
                f"knowledge base {directory} was built with encoder {meta['encoder']!r} but {expect_encoder!r} "
                "was expected; rebuild it with that encoder's features"
            )
        if expect_dim is not None and meta["dim"] != expect_dim:
            raise SemlinkError(
                f"knowledge base {directory} has dimension {meta['dim']} but {expect_dim} was expected"
            )
        paths = {
            role: _verified_file(directory, meta_path, role, entry) for role, entry in meta["files"].items()
        }
        try:
            index = faiss.read_index(str(paths["index"]))
        except RuntimeError as err:
            raise CorruptFileError(
                f"{paths['index']} is not a readable FAISS index: {_first_line(err)}"
            ) from err
        if int(index.d) != meta["dim"] or int(index.ntotal) != meta["ntotal"]:
            raise CorruptFileError(
                f"{paths['index']} holds {index.ntotal} vectors of dimension {index.d} but {meta_path} says "
                f"{meta['ntotal']} of dimension {meta['dim']}"
            )
        if int(index.metric_type) != _faiss_metric(faiss, meta["metric"]):
            raise CorruptFileError(
                f"{paths['index']} uses FAISS metric {index.metric_type}, not {meta['metric']!r} as {meta_path} says"
            )
        arrays = {role: _read_int_array(paths[role], meta["ntotal"]) for role in ("labels", "ids")}
        params = {k: v for k, v in meta["search_params"].items() if k in ("nprobe", "ef_search")}
        return cls(
            index,
            arrays["labels"],
            arrays["ids"],
            metric=meta["metric"],
            factory=meta["factory"],
            encoder=meta["encoder"],
            device=device,
            search_params=params,
        )


def _host_vectors(x: Any, what: str) -> np.ndarray | torch.Tensor:
    """``x`` as FAISS input on the host (CUDA build data is copied to the host on purpose)."""
    v = as_faiss_input(x)
    if isinstance(v, torch.Tensor) and v.device.type != "cpu":
        v = v.cpu()
    return v


def _has_param(faiss: Any, index: Any, name: str) -> bool:
    if name == "nprobe":
        return faiss.try_extract_index_ivf(index) is not None
    probe = faiss.downcast_index(index)
    while isinstance(probe, (faiss.IndexPreTransform, faiss.IndexIDMap)):
        probe = faiss.downcast_index(probe.index)
    if hasattr(probe, "hnsw"):
        return True
    ivf = faiss.try_extract_index_ivf(index)
    return ivf is not None and hasattr(faiss.downcast_index(ivf.quantizer), "hnsw")


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
    if meta["metric"] not in METRICS:
        raise CorruptFileError(f"{meta_path}: metric {meta['metric']!r} is not one of {', '.join(METRICS)}")
    expected_files = {"index": INDEX_FILE, "labels": LABELS_FILE, "ids": IDS_FILE}
    for role, name in expected_files.items():
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
    meta["files"] = {role: meta["files"][role] for role in expected_files}
    return meta


def _verified_file(directory: Path, meta_path: Path, role: str, entry: dict[str, Any]) -> Path:
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
