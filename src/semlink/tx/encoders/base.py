"""The image-encoder interface: uint8 images in, one L2-normalised float32 feature per image out.

:func:`as_uint8_rgb` turns the accepted inputs (``[B,H,W,3]`` / ``[B,H,W,1]`` / ``[B,H,W]`` uint8,
NumPy or torch) into one form; :class:`ImageEncoder` does the checks, batching and normalisation
around a subclass's ``_encode_batch``.
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from semlink.errors import SemlinkError

DEFAULT_BATCH_SIZE = 128

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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

