"""The codec interface, the :class:`Encoded` record and the registry of codecs by name.

A codec turns a batch of uint8 images into one payload per image (the bytes that cross the
channel) and payloads back into images. Every codec:

- has a ``name`` and an ordered quality scale :attr:`ImageCodec.qualities` (worst -> best);
- encodes in batches: ``encode(images [N,H,W] | [N,H,W,3] uint8, quality) -> list[Encoded]``
  (``quality`` one value or one per image; images of different sizes may come as a list);
- decodes in batches: ``decode(payloads) -> list[np.ndarray | None]``: ``None`` marks a payload it
  cannot turn into an image (the caller sends its fallback); bad bytes never raise;
- accepts trailing bytes after a payload (the zero padding of a fixed-length frame): payloads
  are self-delimiting;
- reports timing per image in :class:`Encoded` and in :attr:`ImageCodec.stats`.

Example::

    >>> import numpy as np
    >>> from semlink.tx.codecs import create_codec
    >>> codec = create_codec("jpeg")
    >>> images = np.full((2, 28, 28), 128, np.uint8)
    >>> encoded = codec.encode(images, quality=75)
    >>> decoded = codec.decode([e.payload for e in encoded])
    >>> decoded[0].shape
    (28, 28)
"""

from __future__ import annotations

import abc
import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from semlink.errors import SemlinkError, choice_error
from semlink.registry import Registry

__all__ = [
    "Encoded",
    "CodecStats",
    "ImageCodec",
    "register_codec",
    "create_codec",
    "available_codecs",
    "as_image_list",
    "check_expected_shape",
]

#: Largest image side any codec accepts (and any receiver believes a header about).
MAX_IMAGE_SIDE = 8192


@dataclass(frozen=True)
class Encoded:
    """One encoded image.

    Attributes
    ----------
    payload:
        The bytes that cross the channel (counted). Self-delimiting: see the codec's docs.
    quality:
        The quality it was encoded at (a value of the codec's :attr:`~ImageCodec.qualities`).
    header_bytes:
        How many of the payload bytes are header rather than coded picture data (the codec's
        docs say which bytes).
    side_info_bytes:
        Receiver-known side information *not* counted in the payload (e.g. BPG's HEVC parameter
        sets, a container template): reported so results can say what was assumed known.
    encode_seconds:
        Encoder wall time per image (batch time divided by the batch size).
    """

    payload: bytes
    quality: int
    header_bytes: int
    side_info_bytes: int
    encode_seconds: float

    @property
    def payload_bits(self) -> int:
        return 8 * len(self.payload)


@dataclass
class CodecStats:
    """Running totals of a codec's work; ``*_seconds_per_image`` are the averages so far."""

    encoded_images: int = 0
    encode_seconds: float = 0.0
    decoded_images: int = 0
    decode_seconds: float = 0.0
    last_decode_seconds_per_image: float = 0.0

    @property
    def encode_seconds_per_image(self) -> float:
        return self.encode_seconds / max(self.encoded_images, 1)

    @property
    def decode_seconds_per_image(self) -> float:
        return self.decode_seconds / max(self.decoded_images, 1)


class ImageCodec(abc.ABC):
    """Base class of the codecs; subclasses implement :meth:`_encode_group` and :meth:`_decode_payloads`.

    ``options`` (the canonical settings, JSON-serialisable) and :attr:`library_version` together
    with ``name`` make :attr:`cache_key`, which keys cached encodes.
    """

    name: str = ""
    #: Quality values, worst -> best.
    qualities: tuple[int, ...] = ()
    #: What the quality value means (for messages and docs).
    quality_meaning: str = ""

    def __init__(self, **options: Any) -> None:
        self.options: dict[str, Any] = options
        self.stats = CodecStats()

    # -- identity ---------------------------------------------------------------------------------
    @property
    def library_version(self) -> str:
        """Version of the library doing the work (part of :attr:`cache_key`)."""
        return ""

    @property
    def cache_key(self) -> str:
        """Canonical text naming the codec, its options and its library version."""
        return json.dumps(
            {"codec": self.name, "options": self.options, "library": self.library_version}, sort_keys=True
        )

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in sorted(self.options.items()))
        return f"{type(self).__name__}({opts})"

    # -- qualities --------------------------------------------------------------------------------
    def check_quality(self, quality: object) -> int:
        """``quality`` as an int of :attr:`qualities`, else :class:`SemlinkError` naming the scale."""
        if isinstance(quality, (bool, np.bool_)) or not isinstance(quality, (int, np.integer)) or (
            int(quality) not in self.qualities
        ):
            raise SemlinkError(
                f"codec {self.name!r}: quality {quality!r} is not on its scale; accepted: integers "
                f"{self.qualities[0]}..{self.qualities[-1]} ({self.quality_meaning})"
                if self._contiguous_scale()
                else f"codec {self.name!r}: quality {quality!r} is not on its scale; accepted: "
                f"{', '.join(map(str, self.qualities))} ({self.quality_meaning})"
            )
        return int(quality)

    def _contiguous_scale(self) -> bool:
        q = self.qualities
        return len(q) > 2 and all(b - a == 1 for a, b in zip(q, q[1:]))

    # -- batch API --------------------------------------------------------------------------------
    def encode(self, images: Any, quality: int | Sequence[int]) -> list[Encoded]:
        """Encode ``images`` (``[N,H,W]`` / ``[N,H,W,3]`` uint8, or a list of such images) at ``quality``.

        ``quality``: one value of :attr:`qualities` for all images, or one per image.
        """
        image_list = as_image_list(images)
        if isinstance(quality, (Sequence, np.ndarray)) and not isinstance(quality, (str, bytes)):
            qualities = [self.check_quality(q) for q in quality]
            if len(qualities) != len(image_list):
                raise SemlinkError(
                    f"got {len(qualities)} qualities for {len(image_list)} images; give one or one per image"
                )
        else:
            qualities = [self.check_quality(quality)] * len(image_list)
        out: list[Encoded | None] = [None] * len(image_list)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, image in enumerate(image_list):
            groups.setdefault(image.shape, []).append(i)
        for indices in groups.values():
            start = time.perf_counter()
            group = np.stack([image_list[i] for i in indices])
            results = self._encode_group(group, [qualities[i] for i in indices])
            per_image = (time.perf_counter() - start) / len(indices)
            for i, enc in zip(indices, results):
                out[i] = dataclasses.replace(enc, encode_seconds=per_image)
            self.stats.encoded_images += len(indices)
            self.stats.encode_seconds += per_image * len(indices)
        return out  # type: ignore[return-value]

    def decode(
        self, payloads: Sequence[bytes], *, expected_shape: Sequence[int] | None = None
    ) -> list[np.ndarray | None]:
        """Images (``[H,W]`` or ``[H,W,3]`` uint8) from ``payloads``; ``None`` where undecodable.

        ``expected_shape``: the image shape the receiver knows (e.g. the dataset's); a payload
        that decodes to another shape gives ``None``, and headers claiming another size are
        refused before any decoding work.
        """
        if isinstance(payloads, (bytes, bytearray)):
            raise SemlinkError("decode takes a sequence of payloads (one bytes object per image), got bytes")
        expected = check_expected_shape(expected_shape)
        data = [bytes(p) if isinstance(p, (bytes, bytearray, memoryview)) else None for p in payloads]
        start = time.perf_counter()
        images = self._decode_payloads([d if d is not None else b"" for d in data], expected)
        elapsed = time.perf_counter() - start
        out = []
        for image in images:
            if image is not None and expected is not None and image.shape != expected:
                image = None
            out.append(image)
        if out:
            self.stats.decoded_images += len(out)
            self.stats.decode_seconds += elapsed
            self.stats.last_decode_seconds_per_image = elapsed / len(out)
        return out

    # -- to implement -----------------------------------------------------------------------------
    @abc.abstractmethod
    def _encode_group(self, images: np.ndarray, qualities: list[int]) -> list[Encoded]:
        """Encode ``images [N,H,W(,3)] uint8`` (one shape) at ``qualities[i]``; timing filled in by the caller."""

    @abc.abstractmethod
    def _decode_payloads(
        self, payloads: list[bytes], expected_shape: tuple[int, ...] | None
    ) -> list[np.ndarray | None]:
        """Decode; must never raise for bad bytes."""


# --------------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------------


def _check_image(image: np.ndarray, what: str) -> np.ndarray:
    if image.dtype != np.uint8:
        raise SemlinkError(f"{what} must be uint8 (0..255), got dtype {image.dtype}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[-1] == 3)):
        raise SemlinkError(f"{what} must be [H,W] (grayscale) or [H,W,3] (RGB), got shape {tuple(image.shape)}")
    if min(image.shape[:2]) < 1 or max(image.shape[:2]) > MAX_IMAGE_SIDE:
        raise SemlinkError(
            f"{what} must be 1..{MAX_IMAGE_SIDE} pixels on each side, got {image.shape[1]}x{image.shape[0]}"
        )
    return np.ascontiguousarray(image)


def as_image_list(images: Any) -> list[np.ndarray]:
    """``[N,H,W]`` / ``[N,H,W,3]`` uint8 array (NumPy or CPU torch) or a list of images -> list of images."""
    if hasattr(images, "detach") and hasattr(images, "cpu"):  # torch tensor
        images = images.detach().cpu().numpy()
    if isinstance(images, np.ndarray):
        if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
            raise SemlinkError(
                f"images must be [N,H,W] (grayscale) or [N,H,W,3] (RGB) uint8, got shape {tuple(images.shape)}"
            )
        if images.shape[0] < 1:
            raise SemlinkError("images must hold at least one image")
        return [_check_image(images[i], "each image") for i in range(images.shape[0])]
    if isinstance(images, (list, tuple)) and images:
        return [_check_image(np.asarray(im), f"image {i}") for i, im in enumerate(images)]
    raise SemlinkError(
        f"images must be a uint8 array [N,H,W] / [N,H,W,3] or a non-empty list of images, got {type(images).__name__}"
    )


def check_expected_shape(shape: Sequence[int] | None) -> tuple[int, ...] | None:
    if shape is None:
        return None
    try:
        out = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        out = ()
    if not (len(out) == 2 or (len(out) == 3 and out[2] == 3)) or min(out[:2], default=0) < 1:
        raise SemlinkError(f"expected_shape must be (H, W) or (H, W, 3), got {shape!r}")
    return out


# --------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------

CodecFactory = Callable[..., ImageCodec]
"""``factory(**options) -> ImageCodec`` (a codec class is one)."""

CODECS: Registry[CodecFactory] = Registry("codec", {
    "bpg": "semlink.tx.codecs.hevc:BpgCodec",
    "jpeg": "semlink.tx.codecs.pillow:JpegCodec",
    "webp": "semlink.tx.codecs.pillow:WebpCodec",
    "avif": "semlink.tx.codecs.pillow:AvifCodec",
    "jpeg2000": "semlink.tx.codecs.pillow:Jpeg2000Codec",
}, entry_points="semlink.codecs")
"""Image codecs by name (:mod:`semlink.registry`); listing them imports no codec module."""


def register_codec(name: str, factory: CodecFactory | None = None) -> Any:
    """Register ``factory(**options) -> ImageCodec`` under ``name``; usable as a decorator."""
    if factory is not None:
        CODECS.add(name, factory)
        return factory
    return CODECS.register(name)


def available_codecs() -> list[str]:
    """Names accepted by :func:`create_codec`."""
    return CODECS.names()


def create_codec(name: str, **options: Any) -> ImageCodec:
    """The codec ``name`` (see :func:`available_codecs`) with ``options`` (see each codec's docs).

    Unknown names, options or option values raise :class:`SemlinkError` naming what is accepted; a
    codec whose program or library is missing raises :class:`~semlink.errors.MissingResourceError`.
    """
    if not isinstance(name, str) or name not in CODECS:
        raise choice_error("codec", name, available_codecs())
    return CODECS.get(name)(**options)


def check_options(codec: str, given: dict[str, Any], accepted: dict[str, Any]) -> dict[str, Any]:
    """``accepted`` (defaults) updated with ``given``; unknown option names raise :class:`SemlinkError`."""
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise SemlinkError(
            f"unknown option {unknown[0]!r} for codec {codec!r}; accepted: {', '.join(sorted(accepted))}"
        )
    return {**accepted, **given}


def check_choice(what: str, value: Any, accepted: Sequence[Any]) -> Any:
    if value not in accepted or isinstance(value, bool) != isinstance(accepted[0], bool):
        raise choice_error(what, value, accepted)
    return value


def check_bool(what: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise SemlinkError(f"{what} must be True or False, got {value!r}")
    return bool(value)


def check_int(what: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= int(value) <= high:
        raise SemlinkError(f"{what} must be an integer in {low}..{high}, got {value!r}")
    return int(value)
