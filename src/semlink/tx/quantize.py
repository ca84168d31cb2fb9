"""Uniform scalar quantiser for the digital KBSC variant: latent reals ↔ bits.

The compressor's output passes a BatchNorm, so each value is roughly zero-mean, unit-variance:
1 bit keeps the sign (reconstructed at ±E|x| = ±0.798 for a standard normal); ``b ≥ 2`` bits use
``2**b`` uniform levels on ``[-clip, clip]`` (natural binary, MSB first).

>>> import torch
>>> q = UniformQuantizer(bits_per_value=3)
>>> x = torch.tensor([[0.0, 1.0, -2.0]])
>>> q.dequantize(q.quantize(x)).shape
torch.Size([1, 3])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semlink.errors import require

SIGN_LEVEL = 0.7978845608  # E|x| of a standard normal: the MSE-optimal 1-bit reconstruction


@dataclass(frozen=True)
class UniformQuantizer:
    bits_per_value: int = 1
    clip: float = 2.5

    def __post_init__(self) -> None:
        require(
            1 <= self.bits_per_value <= 16,
            f"bits_per_value = {self.bits_per_value}; accepted: an integer from 1 to 16",
        )
        require(self.clip > 0, f"clip = {self.clip}; must be positive")

    def quantize(self, values: torch.Tensor) -> torch.Tensor:
        """``[B, k] float32`` → bits ``[B, k·bits_per_value] float32`` (0/1)."""
        b = self.bits_per_value
        if b == 1:
            return (values >= 0).to(torch.float32)
        levels = 2**b
        step = 2 * self.clip / (levels - 1)
        index = torch.round((values.clamp(-self.clip, self.clip) + self.clip) / step).to(torch.int64)
        shifts = torch.arange(b - 1, -1, -1, device=values.device)
        bits = (index.unsqueeze(-1) >> shifts) & 1
        return bits.reshape(values.shape[0], -1).to(torch.float32)

    def dequantize(self, bits: torch.Tensor) -> torch.Tensor:
        """bits ``[B, k·bits_per_value]`` → reconstructed values ``[B, k] float32``."""
        b = self.bits_per_value
        if b == 1:
            return (bits.to(torch.float32) * 2 - 1) * SIGN_LEVEL
        grouped = bits.reshape(bits.shape[0], -1, b).to(torch.int64)
        weights = 2 ** torch.arange(b - 1, -1, -1, device=bits.device)
        index = (grouped * weights).sum(-1)
        step = 2 * self.clip / (2**b - 1)
        return index.to(torch.float32) * step - self.clip
