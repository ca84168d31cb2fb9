"""The KBSC receiver's learned feature decompressor (the reference design's decoder MLP).

``k → hidden → D`` with ReLU; the reference ends with ``BatchNorm1d(D)`` (``output_norm=True``).

>>> import torch
>>> dec = FeatureDecompressor(latent_dim=256, feature_dim=512).eval()
>>> dec(torch.randn(4, 256)).shape
torch.Size([4, 512])
"""

from __future__ import annotations

import torch
from torch import nn

from semlink.errors import require


class FeatureDecompressor(nn.Module):
    """Received latent ``[B, k] float32`` → feature estimate ``[B, D] float32``."""

    def __init__(self, latent_dim: int, feature_dim: int, hidden_dim: int = 384, output_norm: bool = True) -> None:
        super().__init__()
        require(latent_dim > 0, f"latent_dim = {latent_dim}; must be a positive integer")
        require(feature_dim > 0, f"feature_dim = {feature_dim}; must be a positive integer")
        self.latent_dim = latent_dim
        self.feature_dim = feature_dim
        self.hidden_dim = hidden_dim
        self.output_norm = output_norm
        layers: list[nn.Module] = [
            nn.Linear(latent_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, feature_dim),
        ]
        if output_norm:
            layers.append(nn.BatchNorm1d(feature_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.net(latent)
