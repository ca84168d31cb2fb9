"""The deep-JSCC receiver: the link's front end → image; Bourtsoulatze et al. 2019 and ADJSCC.

Mirrors :class:`semlink.tx.jscc.JsccEncoder`. The decoder reads what every analog receiver reads
from :class:`semlink.phy.AnalogLink` (its module docstring): per received symbol the LMMSE
``estimate`` of the on-air symbol and its ``error_var``. The estimates (interleaved reals) are
zero-filled to the full latent ``[c, H'/4, W'/4]`` (the reals the transmitter did not send, see
:class:`~semlink.tx.jscc.JsccLayout`: an unsent symbol's MMSE estimate is 0), then five 5×5
transposed convolutions with PReLU — three of stride 1 (``filters`` maps), one of stride 2
(``filters // 2``), one of stride 2 to the image's colour channels — and a sigmoid give the padded
image in [0, 1], cropped back to ``H × W``.

- ``snr_adaptive = False`` (Bourtsoulatze et al. 2019): a *blind* decoder; it reads the estimates
  only.
- ``snr_adaptive = True`` (ADJSCC, Xu et al. 2021): the decoder also reads the error variances, as
  ``c`` more input maps laid out like the latent (an unsent symbol has error variance 1), and an
  attention-feature module after each hidden layer is conditioned on the SNR the receiver sees,
  :func:`semlink.phy.analog.receiver_snr_db` of the error variances — never the true SNR.

A received budget smaller than the layout's (a codec serving several budgets) is zero-filled the
same way: the decoder knows how many symbols it received.

>>> import torch
>>> from semlink.tx.jscc import JsccLayout
>>> decoder = JsccDecoder(JsccLayout.for_image((30, 30, 3), channel_uses=100), filters=8, snr_adaptive=True)
>>> images = decoder(torch.randn(2, 100, dtype=torch.complex64), torch.full((2, 100), 0.1))
>>> images.shape, bool(((images >= 0) & (images <= 1)).all())
(torch.Size([2, 3, 30, 30]), True)
>>> images_to_uint8(images).shape
torch.Size([2, 30, 30, 3])
"""

from __future__ import annotations

import torch
from torch import nn

from semlink.errors import SemlinkError
from semlink.tx.jscc import (
    GDN,
    KERNEL_SIZE,
    AttentionFeature,
    JsccLayout,
    flag,
    he_init,
    positive_int,
    snr_context,
)

__all__ = ["JsccDecoder", "images_to_uint8"]


def _tconv(in_maps: int, out_maps: int, stride: int) -> nn.ConvTranspose2d:
    # padding k//2 and, at stride 2, output_padding 1: the output is exactly stride × the input.
    layer = nn.ConvTranspose2d(
        in_maps, out_maps, KERNEL_SIZE, stride=stride, padding=KERNEL_SIZE // 2, output_padding=stride - 1
    )
    he_init(layer, "fan_out")
    return layer


class JsccDecoder(nn.Module):
    """``(estimate [B, N] complex64, error_var [B, N] float32)`` → image ``[B, C, H, W] float32`` in [0, 1].

    :param layout: image shape and (largest) budget, the transmitter's (:class:`~semlink.tx.jscc.JsccLayout`).
    :param filters: feature maps of the inner layers (the paper's 32); the stride-2 layer has half.
    :param snr_adaptive: read the error variances and condition on the receiver's SNR (ADJSCC).
    :param gdn: inverse GDN before each hidden activation.

    ``N`` is any budget up to the layout's ``channel_uses``.
    """

    def __init__(self, layout: JsccLayout, filters: int = 32, snr_adaptive: bool = False, gdn: bool = False) -> None:
        super().__init__()
        filters = positive_int(filters, "filters", minimum=2)
        self.layout = layout
        self.filters = filters
        self.snr_adaptive = flag(snr_adaptive, "snr_adaptive")
        self.gdn = flag(gdn, "gdn")
        half, c = filters // 2, layout.latent_channels
        inputs = 2 * c if snr_adaptive else c
        hidden = [(inputs, filters, 1), (filters, filters, 1), (filters, filters, 1), (filters, half, 2)]
        self.convs = nn.ModuleList([_tconv(i, o, s) for i, o, s in hidden] + [_tconv(half, layout.image_channels, 2)])
        self.norms = nn.ModuleList([GDN(o, inverse=True) if gdn else nn.Identity() for _, o, _ in hidden])
        self.acts = nn.ModuleList([nn.PReLU(o) for _, o, _ in hidden])
        self.attention = nn.ModuleList([AttentionFeature(o) for _, o, _ in hidden]) if snr_adaptive else None

    def _check(self, reals: torch.Tensor, error_var: torch.Tensor) -> int:
        if not isinstance(reals, torch.Tensor) or not isinstance(error_var, torch.Tensor) or reals.dim() != 2 \
                or reals.shape[1] % 2 or tuple(error_var.shape) != (reals.shape[0], reals.shape[1] // 2) \
                or not 1 <= error_var.shape[1] <= self.layout.channel_uses:
            got = [f"{t.dtype} {tuple(t.shape)}" if isinstance(t, torch.Tensor) else type(t).__name__
                   for t in (reals, error_var)]
            raise SemlinkError(
                f"received {got[0]} with error variance {got[1]}; this decoder takes the link's estimate "
                f"[B, N] complex (or [B, 2N] reals) and error_var [B, N] float, 1 <= N <= {self.layout.channel_uses}"
            )
        return int(error_var.shape[1])

    def forward_reals(self, reals: torch.Tensor, error_var: torch.Tensor) -> torch.Tensor:
        """Estimates as interleaved reals ``[B, 2N] float32`` and ``error_var [B, N]`` → ``[B, C, H, W]``."""
        lay = self.layout
        if not torch.jit.is_tracing():
            self._check(reals, error_var)
        grid = (-1, lay.latent_channels, lay.latent_height, lay.latent_width)
        missing = lay.latent_reals - reals.shape[1]
        x = nn.functional.pad(reals, (0, missing)).reshape(grid)
        context = None
        if self.attention is not None:
            from semlink.phy.analog import receiver_snr_db

            per_real = error_var.clamp(0.0, 1.0).repeat_interleave(2, dim=1)
            x = torch.cat([x, nn.functional.pad(per_real, (0, missing), value=1.0).reshape(grid)], dim=1)
            context = snr_context(receiver_snr_db(error_var), x.shape[0], x)
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i < len(self.acts):
                x = self.acts[i](self.norms[i](x))
                if context is not None:
                    x = self.attention[i](x, context)
        return torch.sigmoid(x)[:, :, : lay.height, : lay.width]

    def forward(self, estimate: torch.Tensor, error_var: torch.Tensor) -> torch.Tensor:
        """``estimate [B, N] complex64``, ``error_var [B, N] float32`` → ``[B, C, H, W] float32`` in [0, 1]."""
        from semlink.phy import complex_to_real

        if not isinstance(estimate, torch.Tensor) or not estimate.is_complex():
            got = f"{estimate.dtype} {tuple(estimate.shape)}" if isinstance(estimate, torch.Tensor) \
                else type(estimate).__name__
            raise SemlinkError(f"received symbols are {got}; this decoder takes complex [B, N] (the link's estimate)")
        return self.forward_reals(complex_to_real(estimate), error_var)


def images_to_uint8(images: torch.Tensor) -> torch.Tensor:
    """``[B, C, H, W]`` float in [0, 1] → ``[B, H, W] uint8`` (C = 1) or ``[B, H, W, C] uint8`` (rounded)."""
    if not isinstance(images, torch.Tensor) or not images.is_floating_point() or images.dim() != 4:
        got = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise SemlinkError(f"images are {got}; expected float [B, C, H, W] in [0, 1]")
    pixels = images.detach().clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)
    return pixels[:, 0] if pixels.shape[1] == 1 else pixels.permute(0, 2, 3, 1).contiguous()
