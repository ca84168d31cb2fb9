"""Pillow decoding of received image files, in-process or as a child process (run as a script).

Kept free of semlink imports so the child starts fast (Pillow only). Protocol of the child:

- stdin: one JSON line ``{"format", "mode", "size", "max_pixels", "count"}``, then ``count`` items,
  each a 4-byte big-endian length and the file's bytes;
- stdout: per item, as soon as it is done, one status byte (0 = undecodable, 1 = image), then for
  an image ``height``, ``width`` (4 bytes each, big-endian), ``channels`` (1 byte) and the pixels.

A crash or a hang while decoding item ``k`` leaves items ``0..k-1`` on stdout; the parent marks
``k`` undecodable and starts a new child for the rest.
"""

from __future__ import annotations

import io
import json
import struct
import sys
import warnings

from PIL import Image, ImageFile


def decode_file(
    data: bytes, fmt: str, mode: str, size: tuple[int, int] | None, max_pixels: int
) -> tuple[int, int, int, bytes] | None:
    """``(height, width, channels, pixels)`` of one file, or ``None``; never raises.

    ``mode``: ``"L"`` or ``"RGB"`` to convert to, or ``"auto"`` (grayscale stays ``L``, all
    else becomes ``RGB``). ``size``: ``(width, height)`` the receiver expects (others refused
    before the pixels are decoded). ``max_pixels`` bounds what a damaged header can claim.
    """
    # A damaged file decodes to what the decoder recovers (the rest grey), as ffmpeg does for HEVC. Pillow's
    # switches are process-wide: set for this call only, so the dataset loaders still refuse truncated files.
    truncated, limit = ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS
    ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS = True, max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as image:
                if size is not None and tuple(image.size) != tuple(size):
                    return None
                if image.size[0] * image.size[1] > max_pixels:
                    return None
                image.load()
                target = mode if mode != "auto" else ("L" if image.mode in ("L", "I;16", "I", "1") else "RGB")
                converted = image.convert(target)
                return converted.height, converted.width, len(target), converted.tobytes()
    except Exception:  # noqa: BLE001 - any decoder failure on received bytes means "undecodable"
        return None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS = truncated, limit


def _read_exact(stream, n: int) -> bytes:  # noqa: ANN001 - a binary file object
    data = stream.read(n)
    if len(data) != n:
        raise EOFError
    return data


def main() -> None:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    spec = json.loads(stdin.readline())
    size = tuple(spec["size"]) if spec["size"] else None
    for _ in range(int(spec["count"])):
        (length,) = struct.unpack(">I", _read_exact(stdin, 4))
        result = decode_file(_read_exact(stdin, length), spec["format"], spec["mode"], size, spec["max_pixels"])
        if result is None:
            stdout.write(b"\x00")
        else:
            height, width, channels, pixels = result
            stdout.write(b"\x01" + struct.pack(">IIB", height, width, channels) + pixels)
        stdout.flush()


if __name__ == "__main__":
    main()
