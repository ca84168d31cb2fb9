"""Weights files read safely: safetensors, or torch files with ``weights_only=True`` (never a pickle)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from semlink.errors import CorruptFileError, MissingResourceError


def load_state_dict_safely(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A tensor state dict from ``.safetensors`` or a torch file loaded with ``weights_only=True``.

    A ``{"state_dict": ...}`` wrapper is unwrapped. Anything that is not plain tensors/containers
    (e.g. a pickle naming ``os.system``) raises :class:`CorruptFileError` and is never executed.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingResourceError(f"weights file {str(path)!r} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: Any = load_file(str(path), device="cpu")
        else:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError, SafetensorError...
        raise CorruptFileError(
            f"cannot load weights {str(path)!r} as a safe tensor file (torch.load(weights_only=True) or "
            f"safetensors): {type(exc).__name__}: {exc}"
        ) from exc
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CorruptFileError(f"weights file {str(path)!r} does not hold a state dict of tensors")
    return obj

