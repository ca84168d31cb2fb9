"""Single-image helpers on ``[H, W, 3] uint8`` NumPy arrays (PIL resampling), shared by the Multi-SC stages.

Boxes are ``(top, left, bottom, right)`` ints in pixels, bottom/right exclusive, so
``image[top:bottom, left:right]`` is the boxed region.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from semlink.errors import SemlinkError, require

Box = tuple[int, int, int, int]


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
