"""Encoders by name: spec strings ``<family>[:<model>][@<weights>][+<N>px]`` and the registry.

>>> parse_encoder_spec("clip:ViT-B-32@openai+224px")
('clip', 'ViT-B-32', 'openai', 224)
>>> "efficientnet-lite0" in available_encoders()
True
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from semlink.devices import resolve_device
from semlink.errors import SemlinkError, choice_error, require
from semlink.registry import Registry
from semlink.tx.encoders.base import DEFAULT_BATCH_SIZE, ImageEncoder

EncoderFactory = Callable[..., ImageEncoder]
"""``factory(model, weights, *, image_size, device, batch_size, **options) -> ImageEncoder``."""

ENCODERS: Registry[EncoderFactory] = Registry("encoder", {
    "efficientnet-lite0": "semlink.tx.encoders.efficientnet:make_efficientnet_lite0",
    "clip": "semlink.tx.encoders.clip:make_clip",
}, entry_points="semlink.encoders")
"""Encoder families by name (:mod:`semlink.registry`)."""
_SIZE_SUFFIX = re.compile(r"\+(\d+)px$")


def register_encoder(family: str, factory: EncoderFactory | None = None) -> Any:
    """Register ``factory(model, weights, *, image_size, device, batch_size, **options) -> ImageEncoder``.

    ``model`` and ``weights`` are the parts after ``:`` and ``@`` of the spec (``None`` when absent).
    Usable as a decorator.
    """

    if factory is not None:
        ENCODERS.add(family, factory)
        return factory
    return ENCODERS.register(family)


def available_encoders() -> list[str]:
    """Encoder families accepted by :func:`create_encoder`."""
    return ENCODERS.names()


def parse_encoder_spec(spec: str) -> tuple[str, str | None, str | None, int | None]:
    """``"clip:ViT-B-32@openai+224px"`` -> ``("clip", "ViT-B-32", "openai", 224)``."""
    require(
        isinstance(spec, str) and spec.strip() != "", f"encoder spec must be a non-empty string, got {spec!r}"
    )
    text = spec.strip()
    size = None
    m = _SIZE_SUFFIX.search(text)
    if m:
        size = int(m.group(1))
        text = text[: m.start()]
    head, sep, weights = text.partition("@")
    family, sep2, model = head.partition(":")
    if sep and not weights:
        raise SemlinkError(f"encoder spec {spec!r} has an empty weights part after '@'")
    if sep2 and not model:
        raise SemlinkError(f"encoder spec {spec!r} has an empty model part after ':'")
    return family.strip().lower(), (model.strip() or None), (weights.strip() or None), size


def create_encoder(
    spec: str,
    *,
    image_size: int | None = None,
    device: str | torch.device | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    **options: Any,
) -> ImageEncoder:
    """Build an encoder from a spec string (see :mod:`semlink.tx.encoders`).

    Parameters
    ----------
    spec:
        e.g. ``"efficientnet-lite0"``, ``"clip:ViT-B-32@openai"``, ``"clip:ViT-B-32@/ckpt/model.safetensors"``.
    image_size:
        Input resolution in pixels (square). EfficientNet default 64; CLIP default: the model's own.
    device:
        ``"auto"`` (``None``; CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``,
        ``"mps"`` or a ``torch.device`` (see :func:`semlink.devices.resolve_device`).
    batch_size:
        Images per forward pass inside :meth:`ImageEncoder.encode`.
    options:
        Family-specific, e.g. ``cache_dir=`` (where CLIP looks for cached pretrained weights).

    Raises
    ------
    SemlinkError
        Unknown family/model or a bad value. :class:`MissingResourceError` when weights cannot be
        found offline; :class:`CorruptFileError` when a weights file is unreadable or unsafe.
    """
    family, model, weights, spec_size = parse_encoder_spec(spec)
    if family not in ENCODERS:
        raise choice_error(
            "encoder",
            spec,
            [f"{f}:<model>[@<weights>]" if f == "clip" else f"{f}[@<weights>]" for f in available_encoders()],
        )
    if image_size is not None:
        image_size = _int_in_range(image_size, "image_size", 8, 4096)
    if spec_size is not None and image_size is not None and image_size != spec_size:
        raise SemlinkError(f"encoder spec {spec!r} says {spec_size}px but image_size={image_size}")
    size = _int_in_range(spec_size, "image_size", 8, 4096) if spec_size is not None else image_size
    batch_size = _int_in_range(batch_size, "batch_size", 1, 1 << 20)
    return ENCODERS.get(family)(
        model, weights, image_size=size, device=resolve_device(device), batch_size=batch_size, **options
    )


def _int_in_range(value: Any, what: str, lo: int, hi: int) -> int:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and lo <= int(value) <= hi
    if not ok:
        raise SemlinkError(f"{what} must be an integer in [{lo}, {hi}], got {value!r}")
    return int(value)

