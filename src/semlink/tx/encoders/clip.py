"""CLIP image towers through open_clip, with each model's own eval preprocessing.

Weights: a pretrained tag whose file is already in a local cache (nothing is ever downloaded), or a
local checkpoint (``.safetensors``, or a torch file that must load with ``weights_only=True``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semlink.devices import resolve_device
from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError
from semlink.io import sha256_file
from semlink.tx.encoders.base import DEFAULT_BATCH_SIZE, ImageEncoder
from semlink.tx.encoders.weights import load_state_dict_safely

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
        device: str | torch.device | None = None,
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
        return sha256_file(self.weights_path, memoise=True)

    def _encode_batch(self, images: torch.Tensor) -> torch.Tensor:
        from PIL import Image

        arrays = np.ascontiguousarray(images.cpu().numpy())
        batch = torch.stack([self.preprocess(Image.fromarray(a)) for a in arrays]).to(self.device)
        return self.model.encode_image(batch)


def make_clip(
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

