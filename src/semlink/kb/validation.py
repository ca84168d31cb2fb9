"""Checks on what the knowledge base hands to FAISS: vectors, labels and ids, the metric name, and
FAISS's own refusals put in words.

Every failure is a :class:`~semlink.errors.SemlinkError` naming the bad value and what is accepted.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import torch

from semlink.bridge import as_faiss_input, describe, to_numpy, to_torch
from semlink.errors import SemlinkError, choice_error

METRICS = {"l2": "METRIC_L2", "ip": "METRIC_INNER_PRODUCT"}


def faiss_metric(faiss: Any, metric: str) -> int:
    """FAISS's constant for ``metric`` (``"l2"`` or ``"ip"``)."""
    if metric not in METRICS:
        raise choice_error("metric", metric, METRICS)
    return int(getattr(faiss, METRICS[metric]))


def faiss_reason(err: BaseException) -> str:
    """FAISS's C++ message without its source location: ``Error in f() at x.cpp:12: <reason>``."""
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    text = re.sub(r"^Error in .*? at \S+:\d+: ", "", text)
    return re.sub(r"^Error: '.*?' failed: ", "", text)


def int_vector(x: Any, what: str, n: int) -> np.ndarray:
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


def check_vectors(x: np.ndarray | torch.Tensor, what: str, dim: int | None) -> None:
    """Refuse an empty set (except queries), a dimension other than ``dim``, and NaN/inf values."""
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


def host_vectors(x: Any, what: str) -> np.ndarray | torch.Tensor:
    """``x`` as FAISS input on the host (CUDA build data is copied to the host on purpose)."""
    v = as_faiss_input(x)
    if isinstance(v, torch.Tensor) and v.device.type != "cpu":
        v = v.cpu()
    return v
