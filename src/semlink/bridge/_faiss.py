"""Hand vectors to FAISS without crossing to NumPy when they are torch tensors.

What FAISS 1.15 does with bad input (read from its Python wrappers):

- NumPy path (``faiss/class_wrappers.py``): ``np.ascontiguousarray(x, "float32")`` — a float64 or
  strided array is copied *silently* on every call.
- torch path (``faiss/contrib/torch_utils.py``): ``swig_ptr_from_FloatTensor`` asserts
  ``x.is_contiguous()`` and ``x.dtype == torch.float32`` — a bare ``AssertionError()`` with no
  message.

:func:`as_faiss_input` replaces both with one policy: input that already is float32, 2-D and
C-contiguous passes through untouched (same memory); anything else is refused with a
:class:`~semlink.errors.SemlinkError` that names dtype, shape and strides, unless the caller passes
``allow_copy=True``, in which case one explicit float32 C-contiguous copy is made.

Torch tensors stay torch tensors: FAISS reads them in place through ``faiss.contrib.torch_utils``
(imported by :func:`import_faiss`), which also keeps CUDA tensors on the GPU for GPU indexes.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import numpy as np
import torch

from semlink.bridge._core import describe, to_torch
from semlink.errors import SemlinkError

_ACCEPTED = (
    "accepted: a 2-D [n, d] float32 C-contiguous NumPy array or torch tensor (CPU, or CUDA for GPU indexes)"
)


def import_faiss() -> ModuleType:
    """Import ``faiss`` with ``faiss.contrib.torch_utils`` loaded, so indexes accept torch tensors.

    ``torch_utils`` patches every ``faiss.Index`` class for the whole process: ``add``, ``train``,
    ``search``... accept torch tensors (CPU, or CUDA on GPU indexes) and return torch tensors
    allocated on the input's device; NumPy input is forwarded to the original methods. One caveat
    of FAISS 1.15.1: the patched ``search`` no longer takes ``params=`` (even for NumPy input) —
    set ``nprobe``/``efSearch`` on the index (``faiss.ParameterSpace``) instead, as
    :class:`semlink.kb.KnowledgeBase` does.

    >>> faiss = import_faiss()
    >>> index = faiss.IndexFlatL2(4)
    >>> index.add(torch.eye(4))
    >>> d, i = index.search(torch.eye(4)[:2], 1)
    >>> type(i).__name__, i.flatten().tolist()
    ('Tensor', [0, 1])
    """
    faiss = importlib.import_module("faiss")
    importlib.import_module("faiss.contrib.torch_utils")
    return faiss


def as_faiss_input(x: Any, *, allow_copy: bool = False) -> np.ndarray | torch.Tensor:
    """Return ``x`` in the form FAISS reads in place: float32, C-contiguous, 2-D ``[n, d]``.

    - torch tensors stay torch tensors (on their device; ``requires_grad`` ones are detached, a
      view); NumPy arrays stay NumPy arrays; other DLPack producers become torch tensors (zero-copy).
    - Already conforming input is returned sharing the caller's memory.
    - Wrong dtype (float64, float16, int...) or layout (transposed, sliced, negative strides):
      :class:`~semlink.errors.SemlinkError` naming dtype/shape/strides, unless ``allow_copy=True``,
      which makes one float32 C-contiguous copy. Complex input is always refused.
    - Not 2-D: always refused (a single vector ``v`` is ``v[None, :]``).

    >>> q = torch.randn(3, 8)
    >>> as_faiss_input(q) is q
    True
    >>> as_faiss_input(np.zeros((3, 8)))                            # float64
    Traceback (most recent call last):
    ...
    semlink.errors.SemlinkError: FAISS needs float32 vectors; got numpy.ndarray shape=(3, 8) dtype=float64 strides=(64, 8) bytes C-contiguous=True. Convert with x.astype(np.float32) / x.float(), or pass allow_copy=True to let semlink copy it (accepted: a 2-D [n, d] float32 C-contiguous NumPy array or torch tensor (CPU, or CUDA for GPU indexes))
    >>> as_faiss_input(np.zeros((3, 8)), allow_copy=True).dtype
    dtype('float32')
    """
    if isinstance(x, np.ndarray):
        return _numpy_input(x, allow_copy)
    t = x if isinstance(x, torch.Tensor) else to_torch(x)
    return _torch_input(t, allow_copy)


def _check_rank(x: Any, ndim: int) -> None:
    if ndim != 2:
        hint = " (a single vector v is v[None, :])" if ndim == 1 else ""
        raise SemlinkError(f"FAISS needs 2-D [n, d] vectors; got {describe(x)}{hint} ({_ACCEPTED})")


def _refuse(problem: str, x: Any, fix: str) -> SemlinkError:
    return SemlinkError(
        f"FAISS needs {problem}; got {describe(x)}. {fix}, or pass allow_copy=True to let semlink copy "
        f"it ({_ACCEPTED})"
    )


def _numpy_input(x: np.ndarray, allow_copy: bool) -> np.ndarray:
    _check_rank(x, x.ndim)
    if x.dtype.kind == "c" or x.dtype.kind not in "biuf":
        raise SemlinkError(f"FAISS needs real float32 vectors; got {describe(x)} ({_ACCEPTED})")
    if x.dtype != np.float32:
        if not allow_copy:
            raise _refuse("float32 vectors", x, "Convert with x.astype(np.float32) / x.float()")
        return np.ascontiguousarray(x, dtype=np.float32)
    if not (x.flags.c_contiguous and x.flags.aligned):
        if not allow_copy:
            raise _refuse(
                "C-contiguous (row-major, unit-stride) vectors", x, "Copy with np.ascontiguousarray(x)"
            )
        return np.ascontiguousarray(x, dtype=np.float32)
    return x


def _torch_input(t: torch.Tensor, allow_copy: bool) -> torch.Tensor:
    _check_rank(t, t.dim())
    if t.is_complex() or t.layout != torch.strided:
        raise SemlinkError(f"FAISS needs real dense float32 vectors; got {describe(t)} ({_ACCEPTED})")
    if t.requires_grad:
        t = t.detach()
    if t.dtype != torch.float32:
        if not allow_copy:
            raise _refuse("float32 vectors", t, "Convert with x.float()")
        return t.to(torch.float32).contiguous()
    if not t.is_contiguous() or t.is_neg():
        if not allow_copy:
            raise _refuse("C-contiguous (row-major, unit-stride) vectors", t, "Copy with x.contiguous()")
        return t.resolve_neg().contiguous()
    return t
