"""Batched feature extraction for a whole dataset, cached on disk as safetensors.

The cache key joins the encoder's canonical name, the hash of its weights file and the dataset's
fingerprint (name, split, subset indices and a content hash), so a different encoder, resolution,
weights file, subset or changed data file never reuses a stale cache. Files are written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import warnings
from pathlib import Path

import torch

from semlink.data.base import ImageDataset
from semlink.errors import SemlinkError, require
from semlink.io import atomic_path
from semlink.tx.encoders import ImageEncoder

CACHE_FORMAT = "semlink-features-v1"


def feature_cache_key(encoder: ImageEncoder, dataset: ImageDataset) -> str:
    """Hex key of the features of ``dataset`` under ``encoder``."""
    h = hashlib.blake2b(digest_size=16)
    for part in (CACHE_FORMAT, encoder.name, encoder.weights_id, dataset.fingerprint()):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def feature_cache_path(
    cache_dir: str | os.PathLike[str], encoder: ImageEncoder, dataset: ImageDataset
) -> Path:
    """Where :func:`extract_features` caches the features of ``dataset`` under ``encoder``."""
    readable = re.sub(
        r"[^A-Za-z0-9._+-]+", "_", f"{encoder.name}__{dataset.name}-{dataset.split}-{len(dataset)}"
    )
    return Path(cache_dir) / f"{readable[:120]}__{feature_cache_key(encoder, dataset)[:24]}.safetensors"


def _read_cache(path: Path, encoder: ImageEncoder, dataset: ImageDataset, key: str) -> torch.Tensor | None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            meta = fh.metadata() or {}
            feats = fh.get_tensor("features")
    except Exception as exc:  # corrupted or truncated file: recompute
        warnings.warn(f"ignoring unreadable feature cache {str(path)!r}: {exc}", RuntimeWarning, stacklevel=3)
        return None
    if (
        meta.get("key") != key
        or feats.dtype != torch.float32
        or tuple(feats.shape) != (len(dataset), encoder.dim)
    ):
        warnings.warn(
            f"ignoring feature cache {str(path)!r}: it does not match", RuntimeWarning, stacklevel=3
        )
        return None
    return feats


def extract_features(
    encoder: ImageEncoder,
    dataset: ImageDataset,
    cache_dir: str | os.PathLike[str] | None = None,
    batch_size: int = 256,
    progress: bool | None = None,
) -> torch.Tensor:
    """Features ``[N, encoder.dim] float32`` (CPU, L2-normalised) of every image of ``dataset``.

    Parameters
    ----------
    cache_dir:
        Folder for the safetensors cache; ``None`` disables caching. A hit skips the encoder entirely.
    batch_size:
        Images handed to ``encoder.encode`` per step (the encoder may split further).
    progress:
        Show a tqdm bar; ``None`` (default) shows it only when stderr is a terminal.
    """
    require(
        isinstance(dataset, ImageDataset), f"dataset must be an ImageDataset, got {type(dataset).__name__}"
    )
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
        raise SemlinkError(f"batch_size must be a positive integer, got {batch_size!r}")
    batch_size = int(batch_size)

    path = key = None
    if cache_dir is not None:
        key = feature_cache_key(encoder, dataset)
        path = feature_cache_path(cache_dir, encoder, dataset)
        if path.is_file():
            cached = _read_cache(path, encoder, dataset, key)
            if cached is not None:
                return cached

    from tqdm.auto import tqdm

    show = progress if progress is not None else sys.stderr.isatty()
    n = len(dataset)
    feats = torch.empty(n, encoder.dim, dtype=torch.float32)
    with tqdm(total=n, unit="img", desc=f"features {encoder.name}", disable=not show, leave=False) as bar:
        for start in range(0, n, batch_size):
            chunk = encoder.encode(dataset.images[start : start + batch_size])
            if chunk.shape != (min(batch_size, n - start), encoder.dim):
                raise SemlinkError(
                    f"encoder {encoder.name!r} returned shape {tuple(chunk.shape)} for "
                    f"{min(batch_size, n - start)} images; expected dim {encoder.dim}"
                )
            feats[start : start + chunk.shape[0]] = chunk.detach().to("cpu", torch.float32)
            bar.update(chunk.shape[0])

    if path is not None and key is not None:
        from safetensors.torch import save_file

        metadata = {
            "format": CACHE_FORMAT,
            "key": key,
            "encoder": encoder.name,
            "weights_id": encoder.weights_id,
            "dataset": json.dumps(dataset.describe(), sort_keys=True),
            "dataset_fingerprint": dataset.fingerprint(),
        }
        with atomic_path(path) as tmp:
            save_file({"features": feats.contiguous()}, str(tmp), metadata=metadata)
    return feats
