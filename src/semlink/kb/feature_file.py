"""Features files: the safetensors files ``semlink features`` writes and ``semlink kb build|query`` read.

Tensors: ``features [N, D]`` (any float dtype; read as float32), ``labels [N]`` (integer; needed
to build a knowledge base, optional for queries) and ``ids [N]`` (integer; optional). String
metadata says where they came from:

- ``encoder``: the encoder's canonical spec (``efficientnet-lite0@imagenet+64px``: weights and
  input size included, so ``semlink.tx.create_encoder(spec)`` rebuilds it);
- ``encoder_weights``: the sha256 of the encoder's weights file;
- ``dataset``, ``split`` and ``class_names`` (a JSON list): what the labels mean
  (:class:`~semlink.kb.labels.LabelSet`).

Every metadata entry is optional: a file written before semlink recorded them still reads, with
them unknown (None).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError
from semlink.kb.labels import LabelSet

if TYPE_CHECKING:  # torch loads inside the functions: `semlink kb --help` stays light
    import torch


@dataclass(frozen=True)
class FeatureFile:
    """A read features file: ``features [N, D] float32``, ``labels``/``ids`` ``[N]`` (None when
    absent), the ``encoder`` spec and ``encoder_weights`` hash (None when unrecorded) and the
    :class:`LabelSet` of the labels."""

    path: Path
    features: torch.Tensor
    labels: torch.Tensor | None
    ids: torch.Tensor | None
    encoder: str | None
    encoder_weights: str | None
    label_set: LabelSet


def read_feature_file(path: str | os.PathLike[str], *, need_labels: bool) -> FeatureFile:
    """Read and check a features file (see the module docstring)."""
    import torch
    from safetensors import SafetensorError, safe_open

    from semlink.bridge import describe

    path = Path(path)
    if not path.is_file():
        raise MissingResourceError(f"feature file {path} not found")
    try:
        with safe_open(str(path), framework="pt") as fh:
            keys = set(fh.keys())
            meta = dict(fh.metadata() or {})
            tensors = {name: fh.get_tensor(name) for name in ("features", "labels", "ids") if name in keys}
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CorruptFileError(f"{path} is not a readable safetensors file: {err}") from err
    if "features" not in tensors:
        raise SemlinkError(
            f"{path} has no tensor 'features' [N, D]; it holds: {', '.join(sorted(keys)) or 'nothing'}"
        )
    if need_labels and "labels" not in tensors:
        raise SemlinkError(f"{path} has no tensor 'labels' [N], needed to build a knowledge base")
    feats = tensors["features"]
    if feats.dim() != 2 or not feats.is_floating_point():
        raise SemlinkError(f"{path}: 'features' must be a 2-D float tensor [N, D]; got {describe(feats)}")
    for name in ("labels", "ids"):
        t = tensors.get(name)
        if t is not None and (t.dim() != 1 or t.shape[0] != feats.shape[0] or t.is_floating_point()):
            raise SemlinkError(
                f"{path}: '{name}' must be [N] integers with N={feats.shape[0]} (rows of 'features'); "
                f"got {describe(t)}"
            )
    label_set = LabelSet.from_metadata(meta, str(path))
    labels = tensors.get("labels")
    if labels is not None:
        label_set.check_labels(labels.numpy(), f"the labels of {path}")
    return FeatureFile(
        path=path,
        # the file's data is ours (freshly read), so converting it is not a hidden copy of the caller's memory
        features=feats.to(torch.float32).contiguous(),
        labels=labels,
        ids=tensors.get("ids"),
        encoder=meta.get("encoder") or None,
        encoder_weights=meta.get("encoder_weights") or None,
        label_set=label_set,
    )


def write_feature_file(
    path: str | os.PathLike[str],
    features: torch.Tensor,
    labels: torch.Tensor,
    ids: torch.Tensor,
    *,
    encoder: str,
    encoder_weights: str | None,
    label_set: LabelSet,
) -> Path:
    """Write ``features [N, D] float32``, ``labels [N] int64`` and ``ids [N] int64`` with their
    metadata, atomically; returns the path."""
    from safetensors.torch import save_file

    from semlink.io import atomic_path

    meta = {"encoder": encoder, **label_set.to_metadata()}
    if encoder_weights is not None:
        meta["encoder_weights"] = encoder_weights
    tensors = {"features": features, "labels": labels, "ids": ids}
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file({k: t.detach().cpu().contiguous() for k, t in tensors.items()}, str(tmp), metadata=meta)
    return path
