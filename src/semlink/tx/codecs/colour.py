"""RGB <-> Y'CbCr planes for the HEVC (BPG) codec, and edge padding.

Colour follows BPG's default (``-c ycbcr``, full range): ITU-R BT.601 Y'CbCr with full-range
8-bit levels (the JFIF equations). 4:2:0 chroma is the mean of each 2x2 block (chroma sited at the
centre of the block) and is brought back by bilinear interpolation at the same siting (weights
3/4 and 1/4, edges replicated). Conversions are done here, on both ends, rather than by x265 or
ffmpeg, so the encoder and the decoder use exactly the same definition.
"""

from __future__ import annotations

import numpy as np

__all__ = ["rgb_to_planes", "planes_to_rgb", "pad_edges", "PIXEL_FORMATS"]

#: Pixel formats of the BPG-style header: grayscale (4:0:0) and colour with 4:2:0 or 4:4:4 chroma.
PIXEL_FORMATS = ("400", "420", "444")

_RGB_TO_YCC = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype=np.float32
)
_YCC_TO_RGB = np.array([[1.0, 0.0, 1.402], [1.0, -0.344136, -0.714136], [1.0, 1.772, 0.0]], dtype=np.float32)


def _to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def pad_edges(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """``[N,H,W(,C)]`` -> ``[N,height,width(,C)]`` by replicating the last row and column."""
    pad = [(0, 0), (0, height - images.shape[1]), (0, width - images.shape[2])] + [(0, 0)] * (images.ndim - 3)
    return np.pad(images, pad, mode="edge") if height > images.shape[1] or width > images.shape[2] else images


def rgb_to_planes(images: np.ndarray, pixel_format: str) -> bytes:
    """``[N,H,W]`` (400) or ``[N,H,W,3]`` RGB uint8 -> raw planar frames (I400 / I420 / I444), frame after frame.

    H and W must be even for 420.
    """
    if pixel_format == "400":
        return np.ascontiguousarray(images).tobytes()
    ycc = images.astype(np.float32) @ _RGB_TO_YCC.T
    ycc[..., 1:] += 128.0
    luma = _to_u8(ycc[..., 0])
    chroma = ycc[..., 1:]
    if pixel_format == "420":
        n, h, w, _ = chroma.shape
        chroma = chroma.reshape(n, h // 2, 2, w // 2, 2, 2).mean(axis=(2, 4))
    chroma = _to_u8(chroma)
    frames = [
        np.concatenate([luma[i].ravel(), chroma[i, ..., 0].ravel(), chroma[i, ..., 1].ravel()])
        for i in range(images.shape[0])
    ]
    return np.concatenate(frames).tobytes()


def _upsample_axis(c: np.ndarray, axis: int) -> np.ndarray:
    """Double ``c`` along ``axis``: centre-sited bilinear (3/4 nearest + 1/4 next), edges replicated."""
    lower = np.concatenate([np.take(c, [0], axis=axis), np.take(c, range(c.shape[axis] - 1), axis=axis)], axis)
    upper = np.concatenate([np.take(c, range(1, c.shape[axis]), axis=axis), np.take(c, [-1], axis=axis)], axis)
    even = 0.75 * c + 0.25 * lower
    odd = 0.75 * c + 0.25 * upper
    out = np.stack([even, odd], axis=axis + 1)
    shape = list(c.shape)
    shape[axis] *= 2
    return out.reshape(shape)


def planes_to_rgb(frame: bytes | np.ndarray, height: int, width: int, pixel_format: str) -> np.ndarray:
    """One raw planar frame -> ``[H,W]`` (400) or ``[H,W,3]`` RGB uint8."""
    raw = np.frombuffer(frame, dtype=np.uint8) if isinstance(frame, (bytes, bytearray)) else frame
    area = height * width
    luma = raw[:area].reshape(height, width)
    if pixel_format == "400":
        return luma.copy()
    if pixel_format == "420":
        quarter = area // 4
        cb = raw[area : area + quarter].reshape(height // 2, width // 2).astype(np.float32)
        cr = raw[area + quarter : area + 2 * quarter].reshape(height // 2, width // 2).astype(np.float32)
        cb = _upsample_axis(_upsample_axis(cb, 0), 1)
        cr = _upsample_axis(_upsample_axis(cr, 0), 1)
    else:
        cb = raw[area : 2 * area].reshape(height, width).astype(np.float32)
        cr = raw[2 * area : 3 * area].reshape(height, width).astype(np.float32)
    ycc = np.stack([luma.astype(np.float32), cb - 128.0, cr - 128.0], axis=-1)
    return _to_u8(ycc @ _YCC_TO_RGB.T)
