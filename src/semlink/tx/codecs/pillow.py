"""``jpeg``, ``webp``, ``avif`` and ``jpeg2000`` through Pillow (libjpeg-turbo, libwebp, libavif, OpenJPEG).

Quality scales (worst -> best) and settings:

- ``jpeg``: IJG quality 1..100; ``subsampling`` ``"4:2:0"`` (default) or ``"4:4:4"`` for colour;
  Huffman tables optimised per image (``optimize=True``, counted in the payload).
- ``webp``: lossy quality 0..100; ``method`` 0..6 (effort, default 4). WebP has no grayscale
  mode: grayscale images are coded as RGB and converted back with ``expected_shape``
  (without it, they decode as RGB).
- ``avif``: quality 0..99 (100 switches libavif to lossless with another container; not on the
  scale); ``speed`` 0..10 (default 6), ``subsampling`` ``"4:2:0"`` (default) or ``"4:4:4"``.
  Grayscale images are coded monochrome (4:0:0).
- ``jpeg2000``: the target PSNR in dB, 16..60 (OpenJPEG's fixed-quality mode, one layer,
  irreversible 9/7 wavelet); ``num_resolutions`` 0 = automatic (the coarsest level keeps at
  least 4 pixels, at most 6 levels as OpenJPEG's default).

What the payload counts, what is side information and where the header ends:
:mod:`semlink.tx.codecs.containers`. Decoding runs in a child process with a time limit
(``isolated=True``, the default; see :mod:`semlink.tx.codecs._decode_worker`); ``isolated=False``
decodes in this process (faster for small batches, only for trusted payloads).
"""

from __future__ import annotations

import io
import json
import math
import struct
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, features

from semlink.errors import MissingResourceError, SemlinkError
from semlink.tx.codecs import _decode_worker
from semlink.tx.codecs.base import (
    MAX_IMAGE_SIDE,
    Encoded,
    ImageCodec,
    check_bool,
    check_choice,
    check_int,
    check_options,
)
from semlink.tx.codecs.bitstream import TruncatedData
from semlink.tx.codecs.containers import (
    WEBP_CONTAINER_BYTES,
    AvifTemplate,
    av1_image_format,
    av1_payload,
    j2k_header_bytes,
    jpeg_header_bytes,
    jpeg_payload,
    webp_file,
    webp_payload,
)
from semlink.tx.codecs.isolate import run_isolated

__all__ = ["PillowCodec", "JpegCodec", "WebpCodec", "AvifCodec", "Jpeg2000Codec"]

_WORKER = str(Path(_decode_worker.__file__).resolve())
#: Largest picture a received header may claim when the receiver does not know the size.
MAX_DECODE_PIXELS = 64 * 1024 * 1024
#: Largest AVIF picture whose container template a receiver builds for an unexpected size.
MAX_TEMPLATE_PIXELS = 16 * 1024 * 1024


class PillowCodec(ImageCodec):
    """Shared machinery: subclasses say how to save, how a file becomes a payload and back."""

    pil_format = ""  # Pillow's format name
    feature = ""  # PIL.features name of the library
    defaults: dict[str, Any] = {}

    def __init__(self, **options: Any) -> None:
        opts = check_options(self.name, options, {**self.defaults, "isolated": True})
        self._isolated = check_bool("isolated", opts.pop("isolated"))  # not part of the cache key
        if self.feature and not features.check(self.feature):
            raise MissingResourceError(
                f"codec {self.name!r} needs Pillow built with {self.feature} support; "
                f"this Pillow {Image.__version__} lacks it"
            )
        super().__init__(**self._check(opts))

    def _check(self, opts: dict[str, Any]) -> dict[str, Any]:
        return opts

    @property
    def library_version(self) -> str:
        lib = features.version(self.feature) if self.feature else None
        return f"Pillow {Image.__version__}, {self.feature} {lib}"

    # -- to implement -----------------------------------------------------------------------------
    def _save(self, image: Image.Image, quality: int) -> bytes:
        raise NotImplementedError

    def _payload(self, file: bytes, image: np.ndarray) -> tuple[bytes, int, int]:
        """``(payload, header_bytes, side_info_bytes)`` of an encoded file."""
        raise NotImplementedError

    def _file(self, payload: bytes, expected_shape: tuple[int, ...] | None) -> bytes:
        """Rebuild the file from a received payload (raise TruncatedData when impossible)."""
        return payload

    # -- batch API --------------------------------------------------------------------------------
    def _pil_image(self, image: np.ndarray) -> Image.Image:
        return Image.fromarray(image, "L" if image.ndim == 2 else "RGB")

    def _encode_group(self, images: np.ndarray, qualities: list[int]) -> list[Encoded]:
        out = []
        for image, quality in zip(images, qualities):
            payload, header, side = self._payload(self._save(self._pil_image(image), quality), image)
            out.append(Encoded(payload, quality, header, side, 0.0))
        return out

    def _decode_payloads(
        self, payloads: list[bytes], expected_shape: tuple[int, ...] | None
    ) -> list[np.ndarray | None]:
        files: list[bytes | None] = []
        for payload in payloads:
            try:
                files.append(self._file(payload, expected_shape))
            except Exception:  # noqa: BLE001 - received bytes: any parse failure means "undecodable"
                files.append(None)
        mode = "auto" if expected_shape is None else ("L" if len(expected_shape) == 2 else "RGB")
        size = None if expected_shape is None else (expected_shape[1], expected_shape[0])
        max_pixels = MAX_DECODE_PIXELS if size is None else size[0] * size[1]
        if self._isolated:
            results = decode_in_child(files, self.pil_format, mode, size, max_pixels)
        else:
            results = [None if f is None else _decode_worker.decode_file(f, self.pil_format, mode, size, max_pixels)
                       for f in files]
        return [None if r is None else _as_array(*r) for r in results]


def _as_array(height: int, width: int, channels: int, pixels: bytes) -> np.ndarray:
    image = np.frombuffer(pixels, np.uint8).reshape(height, width, channels)
    return image[..., 0].copy() if channels == 1 else image.copy()


def decode_in_child(
    files: list[bytes | None], fmt: str, mode: str, size: tuple[int, int] | None, max_pixels: int
) -> list[tuple[int, int, int, bytes] | None]:
    """Decode ``files`` in child processes (see :mod:`._decode_worker`); a crash or hang costs one item."""
    results: list[tuple[int, int, int, bytes] | None] = [None] * len(files)
    pending = [i for i, f in enumerate(files) if f is not None]
    while pending:
        spec = {"format": fmt, "mode": mode, "size": size, "max_pixels": max_pixels, "count": len(pending)}
        stdin = bytearray(json.dumps(spec).encode() + b"\n")
        for i in pending:
            stdin += struct.pack(">I", len(files[i])) + files[i]  # type: ignore[arg-type]
        pixels = sum(min(max_pixels, 4 * len(files[i])) for i in pending)  # type: ignore[arg-type]
        timeout = 10.0 + 0.05 * len(pending) + 2e-6 * pixels
        result = run_isolated([sys.executable, "-I", _WORKER], bytes(stdin), timeout)
        done = _read_results(result.stdout, results, pending)
        if done == len(pending):
            break
        pending = pending[done + 1 :]  # item ``done`` crashed or hung the decoder: undecodable
    return results


def _read_results(stdout: bytes, results: list, pending: list[int]) -> int:
    """Fill ``results`` from a child's output; returns how many items it completed."""
    pos = 0
    for n, i in enumerate(pending):
        if pos >= len(stdout):
            return n
        if stdout[pos] == 0:
            pos += 1
            continue
        if pos + 10 > len(stdout):
            return n
        height, width, channels = struct.unpack(">IIB", stdout[pos + 1 : pos + 10])
        end = pos + 10 + height * width * channels
        if end > len(stdout):
            return n
        results[i] = (height, width, channels, stdout[pos + 10 : end])
        pos = end
    return len(pending)


# --------------------------------------------------------------------------------------------------
# The four codecs
# --------------------------------------------------------------------------------------------------
SUBSAMPLINGS = ("4:2:0", "4:4:4")


class JpegCodec(PillowCodec):
    name = "jpeg"
    qualities = tuple(range(1, 101))
    quality_meaning = "IJG quality"
    pil_format = "JPEG"
    feature = "jpg"
    defaults = {"subsampling": "4:2:0", "optimize": True}

    def _check(self, opts: dict[str, Any]) -> dict[str, Any]:
        check_choice("subsampling", opts["subsampling"], SUBSAMPLINGS)
        check_bool("optimize", opts["optimize"])
        return opts

    def _save(self, image: Image.Image, quality: int) -> bytes:
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=quality, optimize=self.options["optimize"],
                   subsampling=self.options["subsampling"])
        return buf.getvalue()

    def _payload(self, file: bytes, image: np.ndarray) -> tuple[bytes, int, int]:
        payload = jpeg_payload(file)
        return payload, jpeg_header_bytes(payload), 0


class WebpCodec(PillowCodec):
    name = "webp"
    qualities = tuple(range(101))
    quality_meaning = "libwebp lossy quality"
    pil_format = "WEBP"
    feature = "webp"
    defaults = {"method": 4}

    def _check(self, opts: dict[str, Any]) -> dict[str, Any]:
        check_int("method", opts["method"], 0, 6)
        return opts

    def _pil_image(self, image: np.ndarray) -> Image.Image:
        return Image.fromarray(image if image.ndim == 3 else np.repeat(image[..., None], 3, -1), "RGB")

    def _save(self, image: Image.Image, quality: int) -> bytes:
        buf = io.BytesIO()
        image.save(buf, "WEBP", quality=quality, method=self.options["method"], lossless=False,
                   exif=b"", icc_profile=None)
        return buf.getvalue()

    def _payload(self, file: bytes, image: np.ndarray) -> tuple[bytes, int, int]:
        payload, header = webp_payload(file)
        return payload, header, WEBP_CONTAINER_BYTES + (len(file) & 1)

    def _file(self, payload: bytes, expected_shape: tuple[int, ...] | None) -> bytes:
        return webp_file(payload)


class AvifCodec(PillowCodec):
    name = "avif"
    qualities = tuple(range(100))
    quality_meaning = "libavif quality (100, lossless, excluded)"
    pil_format = "AVIF"
    feature = "avif"
    defaults = {"speed": 6, "subsampling": "4:2:0"}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._templates: dict[tuple[int, int, bool], AvifTemplate] = {}

    def _check(self, opts: dict[str, Any]) -> dict[str, Any]:
        check_int("speed", opts["speed"], 0, 10)
        check_choice("subsampling", opts["subsampling"], SUBSAMPLINGS)
        return opts

    def _save(self, image: Image.Image, quality: int) -> bytes:
        buf = io.BytesIO()
        subsampling = "4:0:0" if image.mode == "L" else self.options["subsampling"]
        image.save(buf, "AVIF", quality=quality, speed=self.options["speed"], subsampling=subsampling,
                   exif=b"", xmp=b"", icc_profile=None)
        return buf.getvalue()

    def _template(self, width: int, height: int, monochrome: bool) -> AvifTemplate:
        """The receiver's container for a size and pixel format: a flat image coded with these settings."""
        key = (width, height, monochrome)
        if key not in self._templates:
            flat = np.full((height, width) if monochrome else (height, width, 3), 128, np.uint8)
            template, _ = AvifTemplate.from_file(self._save(self._pil_image(flat), self.qualities[-1] // 2))
            self._templates[key] = template
        return self._templates[key]

    def _payload(self, file: bytes, image: np.ndarray) -> tuple[bytes, int, int]:
        _, item = AvifTemplate.from_file(file)
        payload, header = av1_payload(item)
        width, height, monochrome, _ = av1_image_format(payload)  # what the receiver will read
        if (height, width, monochrome) != (image.shape[0], image.shape[1], image.ndim == 2):
            raise SemlinkError(f"codec 'avif': libavif coded a {image.shape} image as {width}x{height}, "
                               f"monochrome={monochrome}")
        template = self._template(width, height, monochrome)
        if template.file_from_payload(payload) != file:
            raise SemlinkError(
                f"codec 'avif': libavif's container for a {image.shape[1]}x{image.shape[0]} image is not "
                "the receiver's template (it depends on more than size and pixel format)"
            )
        return payload, header, template.side_info_bytes

    def _file(self, payload: bytes, expected_shape: tuple[int, ...] | None) -> bytes:
        width, height, monochrome, end = av1_image_format(payload)
        if expected_shape is not None and expected_shape[:2] != (height, width):
            raise TruncatedData("size differs from the expected one")
        if max(width, height) > MAX_IMAGE_SIDE or width * height > MAX_TEMPLATE_PIXELS:
            raise TruncatedData("implausible size")
        return self._template(width, height, monochrome).file_from_payload(payload[:end])


class Jpeg2000Codec(PillowCodec):
    name = "jpeg2000"
    qualities = tuple(range(16, 61))
    quality_meaning = "target PSNR in dB"
    pil_format = "JPEG2000"
    feature = "jpg_2000"
    defaults = {"num_resolutions": 0}

    def _check(self, opts: dict[str, Any]) -> dict[str, Any]:
        check_int("num_resolutions", opts["num_resolutions"], 0, 32)
        return opts

    def _save(self, image: Image.Image, quality: int) -> bytes:
        levels = self.options["num_resolutions"] or max(1, min(6, int(math.log2(min(image.size) / 4)) + 1))
        buf = io.BytesIO()
        image.save(buf, "JPEG2000", quality_mode="dB", quality_layers=[float(quality)], no_jp2=True,
                   irreversible=True, num_resolutions=levels)
        return buf.getvalue()

    def _payload(self, file: bytes, image: np.ndarray) -> tuple[bytes, int, int]:
        return file, j2k_header_bytes(file), 0
