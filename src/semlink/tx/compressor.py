"""The KBSC transmitter's learned feature compressor (the reference design's encoder MLP).

``D → hidden → k`` with ReLU, then ``BatchNorm1d(k)``: the k real outputs become k/2 complex
channel symbols (:func:`semlink.phy.real_to_complex`). ``k`` is twice the channel-use budget.

>>> import torch
>>> enc = FeatureCompressor(feature_dim=512, channel_uses=128).eval()
>>> enc(torch.randn(4, 512)).shape
torch.Size([4, 256])
"""

from __future__ import annotations

import torch
from torch import nn

from semlink.errors import require


class FeatureCompressor(nn.Module):
    """Feature ``[B, D] float32`` → latent ``[B, 2·channel_uses] float32`` (unit variance per dim via BN)."""

    def __init__(self, feature_dim: int, channel_uses: int, hidden_dim: int = 384) -> None:
        super().__init__()
        require(feature_dim > 0, f"feature_dim = {feature_dim}; must be a positive integer")
        require(channel_uses > 0, f"channel_uses = {channel_uses}; must be a positive integer")
        require(hidden_dim > 0, f"hidden_dim = {hidden_dim}; must be a positive integer")
        self.feature_dim = feature_dim
        self.channel_uses = channel_uses
        self.hidden_dim = hidden_dim
        self.net = nn.Sequential(
            nn.Linear(feature_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, 2 * channel_uses),
            nn.BatchNorm1d(2 * channel_uses),
        )

    @property
    def latent_dim(self) -> int:
        return 2 * self.channel_uses

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)
