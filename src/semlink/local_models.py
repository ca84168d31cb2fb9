"""Local model folders: checked before any model library is imported, so a wrong path fails fast.

Model backends (LLaVA, BLIP, BART, Stable Diffusion + IP-Adapter, FCN) load only from folders the
user names; nothing is downloaded. :func:`require_model_dir` checks that the folder exists and holds
the files its loader reads, and raises :class:`MissingResourceError` naming the folder and what it must
contain. :func:`load_from_dir` turns a loader's own error on a damaged folder into
:class:`CorruptFileError`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import torch

from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError, choice_error

T = TypeVar("T")

#: The weights files a transformers ``from_pretrained`` folder may hold (one of them).
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
DTYPES = ("float32", "float16", "bfloat16")

# One requirement: a relative path, or a tuple of alternatives of which one must exist.
Requirement = str | tuple[str, ...]


def _describe(requirement: Requirement) -> str:
    return requirement if isinstance(requirement, str) else " or ".join(requirement)


def require_model_dir(
    path: str | os.PathLike[str], backend: str, must_contain: Sequence[Requirement]
) -> Path:
    """The resolved folder ``path`` after checking that each requirement exists inside it.

    Parameters
    ----------
    path:
        The folder named in the spec (``~`` is expanded).
    backend:
        What is being loaded, for the message (``"LLaVA captioner"``).
    must_contain:
        Relative paths that must exist; a tuple means "one of these".

    Raises
    ------
    MissingResourceError
        The folder does not exist or lacks a required file; the message lists all requirements.
    """
    folder = Path(os.path.expanduser(str(path)))
    needs = ", ".join(_describe(r) for r in must_contain)
    if not folder.is_dir():
        raise MissingResourceError(
            f"{backend}: model folder {str(folder)!r} does not exist; it must contain {needs} "
            f"(nothing is downloaded at run time)"
        )
    missing = [
        _describe(r)
        for r in must_contain
        if not any((folder / alt).exists() for alt in ((r,) if isinstance(r, str) else r))
    ]
    if missing:
        raise MissingResourceError(
            f"{backend}: model folder {str(folder)!r} lacks {', '.join(missing)}; it must contain {needs}"
        )
    return folder.resolve()


def torch_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    """``None`` (float32), ``"float32"``, ``"float16"``, ``"bfloat16"`` or a torch dtype → torch dtype."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise choice_error("dtype", dtype, DTYPES)
    return getattr(torch, dtype)


def load_from_dir(loader: Callable[[], T], folder: Path, backend: str) -> T:
    """Run ``loader()``; a loader error on a damaged folder becomes :class:`CorruptFileError`."""
    try:
        return loader()
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as exc:
        if isinstance(exc, SemlinkError):
            raise
        raise CorruptFileError(
            f"{backend}: cannot load the model in {str(folder)!r}: {type(exc).__name__}: {exc}"
        ) from exc
