"""The receiver's knowledge base: a FAISS index over item features, with labels and item ids.

:class:`KnowledgeBase` builds the index, sets its search parameters and answers queries; the files
it saves and loads are :mod:`semlink.kb.store`'s, its GPU placement :mod:`semlink.kb.gpu`'s and its
input checks :mod:`semlink.kb.validation`'s.

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

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semlink.bridge import as_faiss_input, import_faiss, to_torch
from semlink.errors import SemlinkError
from semlink.kb.gpu import index_device, index_to_cpu, index_to_gpu, parameter_space
from semlink.kb.labels import LabelSet
from semlink.kb.store import read_kb, write_kb
from semlink.kb.validation import check_vectors, faiss_metric, faiss_reason, host_vectors, int_vector

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


class KnowledgeBase:
    """A FAISS index over ``N`` item features ``[N, D] float32`` with their labels and item ids.

    Build with :meth:`build`, reopen with :meth:`load`; :meth:`search` answers queries.
    Index rows are numbered ``0..N-1`` in the order of ``features``; ``labels[i]`` and ``ids[i]``
    belong to row ``i``. :attr:`label_set` says what the labels mean (dataset, split, class names;
    unknown for a knowledge base saved before semlink recorded them) and :attr:`encoder_weights`
    the sha256 of the encoder's weights (or None).
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
        label_set: LabelSet | None = None,
        encoder_weights: str | None = None,
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
        self.label_set = label_set or LabelSet()
        self.encoder_weights = encoder_weights
        self.device = "cpu"
        self._search_params: dict[str, int] = {}
        self.set_search_params(**(search_params or {}))
        if index_device(self._faiss, device) == "cuda":
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
        label_set: LabelSet | None = None,
        encoder_weights: str | None = None,
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
        - ``label_set``: what the labels mean (:class:`~semlink.kb.labels.LabelSet`, e.g.
          ``LabelSet.of(dataset)``); labels must lie within its class names. Default: unknown.
        - ``encoder_weights``: sha256 of the encoder's weights (``encoder.weights_id``), checked
          before images are encoded for a query. Default: unknown.

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
        metric_code = faiss_metric(faiss, metric)
        x = host_vectors(features, "features")
        check_vectors(x, "features", None)
        n, dim = int(x.shape[0]), int(x.shape[1])
        label_arr = int_vector(labels, "labels", n)
        if label_set is not None and not isinstance(label_set, LabelSet):
            raise SemlinkError(f"label_set must be a semlink.kb.LabelSet or None; got {type(label_set).__name__}")
        if encoder_weights is not None and (not isinstance(encoder_weights, str) or not encoder_weights):
            raise SemlinkError(f"encoder_weights must be a non-empty string (a sha256) or None; got {encoder_weights!r}")
        (label_set or LabelSet()).check_labels(label_arr, "labels")
        id_arr = np.arange(n, dtype=np.int64) if ids is None else int_vector(ids, "ids", n)
        try:
            index = faiss.index_factory(dim, factory, metric_code)
        except RuntimeError as err:
            raise SemlinkError(
                f"bad FAISS factory string {factory!r} for dimension {dim}: {faiss_reason(err)}; "
                f"examples: {FACTORY_EXAMPLES}"
            ) from err
        if not index.is_trained:
            tx = x if train_features is None else host_vectors(train_features, "train_features")
            check_vectors(tx, "train_features", dim)
            need, why = _min_training_points(faiss, index)
            if tx.shape[0] < need:
                raise SemlinkError(
                    f"factory {factory!r} needs at least {need} training vectors ({why}); got "
                    f"{tx.shape[0]}. Use fewer lists/centroids (e.g. 'IVF16,Flat', or 'Flat' or 'HNSW32', "
                    "which need no training), or more vectors (in Python: KnowledgeBase.build(train_features=...))"
                )
            _seed_clustering(faiss, index, int(seed))
            try:
                index.train(tx)
            except RuntimeError as err:
                raise SemlinkError(f"training FAISS index {factory!r} failed: {faiss_reason(err)}") from err
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
            label_set=label_set,
            encoder_weights=encoder_weights,
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
            space = parameter_space(self._faiss, self.device)
            space.set_index_parameter(self._index, faiss_name, int(value))
            self._search_params[name] = int(value)

    # -------------------------------------------------------------------- GPU
    def _to_gpu(self, strict: bool) -> None:  # pragma: no cover - needs faiss-gpu and CUDA
        """Move the index to the GPU(s) (see :func:`semlink.kb.gpu.index_to_gpu`)."""
        moved = index_to_gpu(self._faiss, self._index, self.factory, strict)
        if moved is None:
            return
        (self._index, self._gpu_resources), self.device = moved, "cuda"
        self.set_search_params(**self._search_params)

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
        check_vectors(x, "queries", self.dim)
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
        search parameters, the label set, the encoder's weights hash, and the size and sha256 of
        each data file (:mod:`semlink.kb.store`).
        Returns the directory.
        """
        return write_kb(
            directory,
            self._faiss,
            index_to_cpu(self._faiss, self._index, self.device),
            self._labels,
            self._ids,
            metric=self.metric,
            factory=self.factory,
            encoder=self.encoder,
            search_params=self.search_params,
            label_set=self.label_set,
            encoder_weights=self.encoder_weights,
        )

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
        stored = read_kb(directory, import_faiss(), expect_encoder, expect_dim)
        return cls(
            stored.index,
            stored.labels,
            stored.ids,
            metric=stored.meta["metric"],
            factory=stored.meta["factory"],
            encoder=stored.meta["encoder"],
            device=device,
            search_params=stored.search_params,
            label_set=stored.label_set,
            encoder_weights=stored.meta.get("encoder_weights"),
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

