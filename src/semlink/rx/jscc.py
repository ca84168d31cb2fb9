"""The deep-JSCC receiver (Bourtsoulatze, Kurka & Gündüz, 2019): received symbols → image.

Mirrors :class:`semlink.tx.jscc.JsccEncoder`: the received ``2·channel_uses`` reals are zero-filled
to the full latent ``[c, H'/4, W'/4]`` (the reals the transmitter did not send, see
:class:`~semlink.tx.jscc.JsccLayout`), then five 5×5 transposed convolutions with PReLU — three of
stride 1 (``filters`` maps), one of stride 2 (``filters // 2``), one of stride 2 to the image's
colour channels — and a sigmoid give the padded image in [0, 1], cropped back to ``H × W``.
The decoder sees only the equalised symbols (no SNR, no transmit-side information).

>>> import torch
>>> from semlink.tx.jscc import JsccLayout
>>> decoder = JsccDecoder(JsccLayout.for_image((30, 30, 3), channel_uses=100), filters=8)
>>> images = decoder(torch.randn(2, 100, dtype=torch.complex64))
>>> images.shape, bool(((images >= 0) & (images <= 1)).all())
(torch.Size([2, 3, 30, 30]), True)
>>> images_to_uint8(images).shape
torch.Size([2, 30, 30, 3])
"""

from __future__ import annotations

import torch
from torch import nn

from semlink.errors import SemlinkError, require
from semlink.tx.jscc import KERNEL_SIZE, JsccLayout, he_init

__all__ = ["JsccDecoder", "images_to_uint8"]


def _tconv(in_maps: int, out_maps: int, stride: int) -> nn.ConvTranspose2d:
    # padding k//2 and, at stride 2, output_padding 1: the output is exactly stride × the input.
    layer = nn.ConvTranspose2d(
        in_maps, out_maps, KERNEL_SIZE, stride=stride, padding=KERNEL_SIZE // 2, output_padding=stride - 1
    )
    he_init(layer, "fan_out")
    return layer


class JsccDecoder(nn.Module):
    """``[B, channel_uses] complex64`` received symbols → image ``[B, C, H, W] float32`` in [0, 1].

    :param layout: image shape and budget, the transmitter's (:class:`~semlink.tx.jscc.JsccLayout`).
    :param filters: feature maps of the inner layers (the paper's 32); the stride-2 layer has half.
    """

    def __init__(self, layout: JsccLayout, filters: int = 32) -> None:
        super().__init__()
        require(
            isinstance(filters, int) and not isinstance(filters, bool) and filters >= 2,
            f"filters = {filters!r}; must be an integer >= 2 (the last hidden layer has filters // 2)",
        )
        self.layout = layout
        self.filters = filters
        half = filters // 2
        self.net = nn.Sequential(
            _tconv(layout.latent_channels, filters, 1), nn.PReLU(filters),
            _tconv(filters, filters, 1), nn.PReLU(filters),
            _tconv(filters, filters, 1), nn.PReLU(filters),
            _tconv(filters, half, 2), nn.PReLU(half),
            _tconv(half, layout.image_channels, 2), nn.Sigmoid(),
        )  # fmt: skip

    def forward_reals(self, reals: torch.Tensor) -> torch.Tensor:
        """Received symbols as interleaved reals ``[B, 2·channel_uses] float32`` → ``[B, C, H, W]``."""
        lay = self.layout
        latent = nn.functional.pad(reals, (0, lay.latent_reals - lay.sent_reals))
        latent = latent.reshape(-1, lay.latent_channels, lay.latent_height, lay.latent_width)
        return self.net(latent)[:, :, : lay.height, : lay.width]

    def forward(self, symbols: torch.Tensor) -> torch.Tensor:
        """``[B, channel_uses] complex64`` → ``[B, C, H, W] float32`` in [0, 1]."""
        from semlink.phy import complex_to_real

        n = self.layout.channel_uses
        if not isinstance(symbols, torch.Tensor) or not symbols.is_complex() or symbols.dim() != 2 \
                or symbols.shape[1] != n:
            got = f"{symbols.dtype} {tuple(symbols.shape)}" if isinstance(symbols, torch.Tensor) else type(symbols).__name__
            raise SemlinkError(f"received symbols are {got}; this decoder takes complex [B, {n}]")
        return self.forward_reals(complex_to_real(symbols))


def images_to_uint8(images: torch.Tensor) -> torch.Tensor:
    """``[B, C, H, W]`` float in [0, 1] → ``[B, H, W] uint8`` (C = 1) or ``[B, H, W, C] uint8`` (rounded)."""
    if not isinstance(images, torch.Tensor) or not images.is_floating_point() or images.dim() != 4:
        got = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise SemlinkError(f"images are {got}; expected float [B, C, H, W] in [0, 1]")
    pixels = images.detach().clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)
    return pixels[:, 0] if pixels.shape[1] == 1 else pixels.permute(0, 2, 3, 1).contiguous()
