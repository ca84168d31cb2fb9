"""Image fidelity of reconstructions against the sent images: PSNR, SSIM / MS-SSIM, LPIPS.

Images are uint8 ``[N, H, W]`` (grayscale) or ``[N, H, W, 3]`` (RGB), compared at ``data_range =
255``. PSNR is computed per image and averaged (the deep-JSCC literature's convention); an exact
reconstruction is capped at :data:`MAX_PSNR_DB`. SSIM and MS-SSIM come from ``pytorch-msssim``
(Gaussian window 11, σ 1.5); MS-SSIM needs images of at least :data:`MS_SSIM_MIN_SIDE` px per side
(five scales of an 11-px window), so smaller images report SSIM only and say so. LPIPS (AlexNet,
``torchmetrics``) runs only where its ImageNet backbone weights already sit in torch's hub cache:
nothing is downloaded. Every metric that is not computed is named in ``skipped`` with the reason.

>>> import numpy as np
>>> ref = np.full((2, 32, 32), 100, dtype=np.uint8)
>>> out = ref.copy(); out[:, 0, 0] = 110                   # one pixel off by 10 in each image
>>> q = image_quality(ref, out)
>>> round(q.metrics["psnr_db"], 1), sorted(q.skipped)   # 10·log10(255² · 1024 / 100)
(58.2, ['lpips', 'ms_ssim'])
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np
import torch

from semlink.errors import SemlinkError

__all__ = ["ImageQuality", "MAX_PSNR_DB", "MS_SSIM_MIN_SIDE", "image_quality", "lpips_weights_path", "psnr_db"]

MAX_PSNR_DB = 100.0
"""PSNR reported for an exact reconstruction (the MSE is zero)."""

MS_SSIM_MIN_SIDE = 161
"""``pytorch-msssim`` needs a side > (win_size - 1) · 2⁴ = 160 px for its five scales."""

LPIPS_MIN_SIDE = 64
"""AlexNet's strided stem and pooling leave no spatial extent below about 64 px."""


@dataclass
class ImageQuality:
    """Mean metrics over the batch, per-image vectors (for paired comparisons), and what was skipped."""

    metrics: dict[str, float] = field(default_factory=dict)
    per_image: dict[str, np.ndarray] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def _as_nchw(images: np.ndarray | torch.Tensor, what: str) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(images)) if not isinstance(images, torch.Tensor) else images
    if x.dtype != torch.uint8:
        raise SemlinkError(f"{what} must be uint8 images (0..255), got {x.dtype}")
    if x.ndim == 3:
        x = x.unsqueeze(-1)
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise SemlinkError(f"{what} must be [N,H,W] or [N,H,W,3] uint8, got shape {tuple(x.shape)}")
    return x.permute(0, 3, 1, 2).float()


def psnr_db(reference: np.ndarray | torch.Tensor, estimate: np.ndarray | torch.Tensor,
            max_value: float = 255.0) -> torch.Tensor:
    """``[B] float64`` PSNR of each item in dB, ``10 log10(max_value² / MSE)``, capped at :data:`MAX_PSNR_DB`.

    ``reference``/``estimate``: ``[B, ...]`` of one shape, NumPy or torch, any real dtype (uint8
    images with ``max_value=255``; floats in [0, 1] with ``max_value=1``). Averages over a data set
    are taken of these per-image values (the deep-JSCC literature's convention).

    >>> round(float(psnr_db(torch.zeros(1, 4), torch.full((1, 4), 0.1), max_value=1.0)[0]), 6)
    20.0
    """
    ref = torch.as_tensor(reference)
    est = torch.as_tensor(estimate).to(ref.device)
    if ref.shape != est.shape or ref.dim() < 1:
        raise SemlinkError(
            f"psnr_db needs two tensors [B, ...] of one shape; got {tuple(ref.shape)} and {tuple(est.shape)}"
        )
    mse = (ref.double() - est.double()).square().flatten(1).mean(dim=1)
    return (10.0 * torch.log10(max_value**2 / mse)).clamp(max=MAX_PSNR_DB)


def lpips_weights_path(net: str = "alex") -> str:
    """Where torchvision keeps the ImageNet backbone weights LPIPS needs (whether or not they exist)."""
    import torchvision

    weights = {"alex": torchvision.models.AlexNet_Weights, "vgg": torchvision.models.VGG16_Weights}[net].DEFAULT
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))


_LPIPS_MODELS: dict[str, object] = {}


def _lpips(reference: torch.Tensor, decoded: torch.Tensor) -> np.ndarray:
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    model = _LPIPS_MODELS.get("alex")
    if model is None:
        model = LearnedPerceptualImagePatchSimilarity(net_type="alex", reduction="mean", normalize=True).eval()
        _LPIPS_MODELS["alex"] = model
    to_rgb = (lambda x: x.expand(-1, 3, -1, -1)) if reference.shape[1] == 1 else (lambda x: x)
    scores = []
    with torch.no_grad():
        for a, b in zip(reference.split(32), decoded.split(32)):
            for i in range(a.shape[0]):
                scores.append(float(model(to_rgb(a[i : i + 1]) / 255.0, to_rgb(b[i : i + 1]) / 255.0)))
    return np.asarray(scores)


def image_quality(
    reference: np.ndarray | torch.Tensor, decoded: np.ndarray | torch.Tensor, *, lpips: bool = True
) -> ImageQuality:
    """PSNR, SSIM (and MS-SSIM, LPIPS where they apply) of ``decoded`` against ``reference``."""
    from pytorch_msssim import ms_ssim, ssim

    ref, out = _as_nchw(reference, "reference images"), _as_nchw(decoded, "decoded images")
    if ref.shape != out.shape:
        raise SemlinkError(f"decoded images {tuple(out.shape)} do not match the reference {tuple(ref.shape)}")
    result = ImageQuality()
    psnr = psnr_db(ref, out).cpu().numpy()
    result.per_image["psnr_db"] = psnr
    result.metrics["psnr_db"] = float(psnr.mean())
    side = min(ref.shape[-2:])
    if side >= 11:
        values = ssim(ref, out, data_range=255.0, size_average=False).numpy()
        result.per_image["ssim"] = values
        result.metrics["ssim"] = float(values.mean())
    else:
        result.skipped["ssim"] = f"images of {side} px are smaller than SSIM's 11-px window"
    if side >= MS_SSIM_MIN_SIDE:
        result.metrics["ms_ssim"] = float(ms_ssim(ref, out, data_range=255.0, size_average=True))
    else:
        result.skipped["ms_ssim"] = f"images of {side} px are smaller than MS-SSIM's {MS_SSIM_MIN_SIDE} px (SSIM reported)"
    if not lpips:
        result.skipped["lpips"] = "disabled in the run's settings"
    elif side < LPIPS_MIN_SIDE:
        result.skipped["lpips"] = f"images of {side} px are smaller than LPIPS' {LPIPS_MIN_SIDE} px"
    elif not os.path.isfile(lpips_weights_path("alex")):
        result.skipped["lpips"] = (
            f"its AlexNet ImageNet weights are not on disk ({lpips_weights_path('alex')}); nothing is downloaded"
        )
    else:
        values = _lpips(ref, out)
        result.per_image["lpips"] = values
        result.metrics["lpips"] = float(values.mean()) if values.size else math.nan
    return result
