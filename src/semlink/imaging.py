"""Single-image helpers on ``[H, W, 3] uint8`` NumPy arrays (PIL resampling), shared by the Multi-SC stages,
and :func:`read_image`, the one way an image file becomes such an array (folder datasets, image queries).

Boxes are ``(top, left, bottom, right)`` ints in pixels, bottom/right exclusive, so
``image[top:bottom, left:right]`` is the boxed region.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from semlink.errors import CorruptFileError, SemlinkError, choice_error, require

Box = tuple[int, int, int, int]

ALPHA_MODES = ("composite", "refuse")
BACKGROUNDS = {"white": (255, 255, 255), "black": (0, 0, 0)}
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
_ALPHA_IMAGE_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
_EXIF_ORIENTATION = 0x0112
CONVERSIONS = {
    "16-bit": "16-bit, scaled to 8 bits",
    "alpha": "with transparent pixels, composited on the background",
    "exif": "rotated or flipped upright by the EXIF orientation",
    "cmyk": "CMYK, converted to RGB without a colour profile",
}


@dataclass(frozen=True)
class DecodedImage:
    """An image file as ``pixels [H, W, 3] uint8`` (RGB) and what was done to get there.

    ``conversions`` holds the changes that alter pixel values or geometry beyond a plain mode
    conversion, each a key of :data:`CONVERSIONS` (which says it in words): ``"16-bit"``,
    ``"alpha"``, ``"exif"``, ``"cmyk"``.
    """

    pixels: np.ndarray
    conversions: tuple[str, ...] = ()


def parse_background(value: Any) -> tuple[int, int, int]:
    """``"white"`` / ``"black"`` / ``(r, g, b)`` with ints in 0..255 → ``(r, g, b)``."""
    if isinstance(value, str):
        if value.lower() not in BACKGROUNDS:
            raise choice_error("background", value, [*BACKGROUNDS, "(r, g, b) with 0..255 each"])
        return BACKGROUNDS[value.lower()]
    if (
        isinstance(value, (tuple, list))
        and len(value) == 3
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v <= 255 for v in value)
    ):
        return (int(value[0]), int(value[1]), int(value[2]))
    raise SemlinkError(f"background must be 'white', 'black' or (r, g, b) with 0..255 each, got {value!r}")


def read_image(
    path: str | os.PathLike[str],
    *,
    alpha: str = "composite",
    background: Any = "white",
) -> DecodedImage:
    """Decode an image file into ``[H, W, 3] uint8`` RGB, never changing it silently.

    - 16-bit images (PNG/TIFF grayscale) are scaled to 8 bits (``round(v * 255 / 65535)``), not
      clipped; 32-bit integer and float images are refused.
    - Transparency (an alpha channel or a transparent palette/colour key) is composited on
      ``background`` (default white) when ``alpha="composite"``; ``alpha="refuse"`` raises for an
      image with any pixel not fully opaque (a fully opaque alpha channel is simply dropped).
    - The EXIF orientation is applied (a phone photo stored sideways comes out upright).
    - CMYK, palette, 1-bit and grayscale images are converted to RGB.

    Raises :class:`~semlink.errors.CorruptFileError` for a file that is not a readable image
    (zero bytes, truncated, unknown format) and :class:`~semlink.errors.SemlinkError` for a refused
    one; both name the file.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if alpha not in ALPHA_MODES:
        raise choice_error("alpha", alpha, ALPHA_MODES)
    fill = parse_background(background)
    name = str(path)
    conversions: list[str] = []
    try:
        with Image.open(path) as opened:
            opened.load()
            img: Image.Image = opened
            fmt = opened.format
            orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
            if orientation in range(2, 9):
                img = ImageOps.exif_transpose(img)
                conversions.append("exif")
            pixels = _to_rgb(img, fmt, name, alpha, fill, conversions)
    except Image.DecompressionBombError as exc:
        raise SemlinkError(f"image {name!r} is too large to decode safely: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, SemlinkError):
            raise
        raise CorruptFileError(f"cannot read image {name!r}: {exc or type(exc).__name__}") from exc
    return DecodedImage(pixels=pixels, conversions=tuple(conversions))


def _to_rgb(img: Any, fmt: str | None, name: str, alpha: str, fill: tuple[int, int, int],
            conversions: list[str]) -> np.ndarray:
    from PIL import Image

    mode = img.mode
    if mode in _SIXTEEN_BIT_MODES or (mode == "I" and fmt == "PNG"):  # PNG holds at most 16 bits
        wide = np.asarray(img).astype(np.uint32)
        conversions.append("16-bit")
        gray = ((wide * 255 + 32767) // 65535).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=-1))
    if mode in ("I", "F"):
        kind = "32-bit integer" if mode == "I" else "floating-point"
        raise SemlinkError(
            f"image {name!r} holds {kind} pixels (mode {mode}); convert it to 8 or 16 bits per channel"
        )
    if mode in _ALPHA_IMAGE_MODES or "transparency" in img.info:
        rgba = img.convert("RGBA")
        opacity = np.asarray(rgba.getchannel("A"))
        if bool((opacity < 255).any()):
            if alpha == "refuse":
                raise SemlinkError(
                    f"image {name!r} has transparent pixels (mode {mode}) and alpha='refuse'; "
                    "use alpha='composite' (with background=) to flatten it"
                )
            backdrop = Image.new("RGBA", rgba.size, (*fill, 255))
            conversions.append("alpha")
            return np.asarray(Image.alpha_composite(backdrop, rgba).convert("RGB"), dtype=np.uint8)
        return np.asarray(rgba.convert("RGB"), dtype=np.uint8)
    if mode == "CMYK":
        conversions.append("cmyk")
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def as_rgb_image(image: Any, what: str = "image") -> np.ndarray:
    """``[H,W,3]`` / ``[H,W,1]`` / ``[H,W]`` uint8 (NumPy or torch) → C-contiguous ``[H,W,3] uint8``."""
    if hasattr(image, "detach"):  # a torch tensor
        image = image.detach().cpu().numpy()
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise SemlinkError(f"{what} must be uint8 (0..255), got dtype {arr.dtype}")
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.ndim != 3 or arr.shape[-1] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise SemlinkError(f"{what} must be [H,W,3] (RGB) or [H,W] (grayscale), got shape {tuple(arr.shape)}")
    return np.ascontiguousarray(arr)


def parse_size(size: Any, what: str = "size") -> tuple[int, int]:
    """An int (square) or ``(height, width)`` → ``(height, width)`` of positive ints."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        out = (int(size), int(size))
    elif (
        isinstance(size, (tuple, list))
        and len(size) == 2
        and all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in size)
    ):
        out = (int(size[0]), int(size[1]))
    else:
        raise SemlinkError(f"{what} must be an int or (height, width), got {size!r}")
    require(min(out) >= 1, f"{what} must be positive, got {size!r}")
    return out


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``[H,W,3] uint8`` → ``[h,w,3] uint8`` (``size = (h, w)``), bicubic, aspect ratio not kept."""
    from PIL import Image

    h, w = size
    if image.shape[:2] == (h, w):
        return image
    return np.asarray(Image.fromarray(image).resize((w, h), Image.Resampling.BICUBIC), dtype=np.uint8)


def resize_float(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``[H,W] float32`` map → ``[h,w] float32``, bilinear (masks and saliency maps)."""
    from PIL import Image

    h, w = size
    if values.shape == (h, w):
        return values.astype(np.float32, copy=False)
    img = Image.fromarray(np.ascontiguousarray(values, dtype=np.float32), mode="F")
    return np.asarray(img.resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)


def resize_cover(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale ``image`` so it covers ``size = (h, w)``, then centre-crop to it (aspect ratio kept)."""
    h, w = size
    H, W = image.shape[:2]
    scale = max(h / H, w / W)
    sh, sw = max(h, round(H * scale)), max(w, round(W * scale))
    scaled = resize(image, (sh, sw))
    top, left = (sh - h) // 2, (sw - w) // 2
    return np.ascontiguousarray(scaled[top : top + h, left : left + w])


def clamp_box(box: Box, size: tuple[int, int]) -> Box | None:
    """``box`` clipped to an image of ``size = (H, W)``; ``None`` if nothing of it is left."""
    H, W = size
    top, left, bottom, right = (int(v) for v in box)
    top, bottom = max(0, top), min(H, bottom)
    left, right = max(0, left), min(W, right)
    if bottom <= top or right <= left:
        return None
    return (top, left, bottom, right)


def paste(canvas: np.ndarray, patch: np.ndarray, box: Box) -> np.ndarray:
    """A copy of ``canvas`` with ``patch`` resized to ``box`` and pasted there (box clipped to the canvas)."""
    top, left, bottom, right = box
    out = canvas.copy()
    placed = resize(as_rgb_image(patch, "patch"), (bottom - top, right - left))
    clipped = clamp_box(box, canvas.shape[:2])
    if clipped is None:
        return out
    ct, cl, cb, cr = clipped
    out[ct:cb, cl:cr] = placed[ct - top : cb - top, cl - left : cr - left]
    return out


def image_digest(image: np.ndarray) -> bytes:
    """16-byte BLAKE2b of an image's shape and pixels: its identity in caches and library checks."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr(tuple(image.shape)).encode())
    h.update(np.ascontiguousarray(image).tobytes())
    return h.digest()
