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
    SNR_CONTEXT_RANGE_DB,
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


class _Concat(nn.Module):
    """``(a, b) → cat([a, b], dim=1)``: where the residual decoder joins its maps and the base image."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.cat([a, b], dim=1)


class JsccDecoder(nn.Module):
    """``(estimate [B, N] complex64, error_var [B, N] float32)`` → image ``[B, C, H, W] float32`` in [0, 1].

    :param layout: image shape and (largest) budget, the transmitter's (:class:`~semlink.tx.jscc.JsccLayout`).
    :param filters: feature maps of the inner layers (the paper's 32); the stride-2 layer has half.
    :param snr_adaptive: read the error variances and condition on the receiver's SNR (ADJSCC).
    :param gdn: inverse GDN before each hidden activation.
    :param residual: the output is a correction in pixel units to a base image (the linear skip of
        :class:`~semlink.systems.jscc_model.JsccCodec`: its LMMSE image), which the decoder also reads:
        the last transposed convolution gives ``filters // 2`` maps at full resolution, concatenated
        with the base image and refined by two 3×3 convolutions (PReLU between; the last starts at
        zero), so the correction can denoise in the image domain. No sigmoid.

    ``N`` is any budget up to the layout's ``channel_uses``.
    """

    def __init__(self, layout: JsccLayout, filters: int = 32, snr_adaptive: bool = False, gdn: bool = False,
                 residual: bool = False) -> None:
        super().__init__()
        filters = positive_int(filters, "filters", minimum=2)
        self.layout = layout
        self.filters = filters
        self.snr_adaptive = flag(snr_adaptive, "snr_adaptive")
        self.gdn = flag(gdn, "gdn")
        self.residual = flag(residual, "residual")
        self.snr_limits_db = SNR_CONTEXT_RANGE_DB  # the SNRs the AF modules read; a trained codec's: its training SNRs
        half, c = filters // 2, layout.latent_channels
        inputs = 2 * c if snr_adaptive else c
        hidden = [(inputs, filters, 1), (filters, filters, 1), (filters, filters, 1), (filters, half, 2)]
        last = half if residual else layout.image_channels
        self.convs = nn.ModuleList([_tconv(i, o, s) for i, o, s in hidden] + [_tconv(half, last, 2)])
        self.norms = nn.ModuleList([GDN(o, inverse=True) if gdn else nn.Identity() for _, o, _ in hidden])
        self.acts = nn.ModuleList([nn.PReLU(o) for _, o, _ in hidden])
        self.attention = nn.ModuleList([AttentionFeature(o) for _, o, _ in hidden]) if snr_adaptive else None
        self.refine = None
        if residual:
            colours = layout.image_channels
            self.refine = nn.Sequential(
                nn.PReLU(half), _Concat(), nn.Conv2d(half + colours, half, 3, padding=1), nn.PReLU(half),
                nn.Conv2d(half, colours, 3, padding=1),
            )
            he_init(self.refine[2], "fan_in")
            nn.init.zeros_(self.refine[4].weight)
            nn.init.zeros_(self.refine[4].bias)

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

    def forward_reals(self, reals: torch.Tensor, error_var: torch.Tensor,
                      base: torch.Tensor | None = None) -> torch.Tensor:
        """Estimates as interleaved reals ``[B, 2N] float32`` and ``error_var [B, N]`` → ``[B, C, H, W]``;
        a residual decoder also reads the ``base [B, C, H, W]`` image it corrects."""
        lay = self.layout
        if not torch.jit.is_tracing():
            self._check(reals, error_var)
            if self.residual and (base is None or tuple(base.shape[1:]) != (lay.image_channels, lay.height, lay.width)):
                raise SemlinkError(f"this residual decoder corrects a base image [B, {lay.image_channels}, "
                                   f"{lay.height}, {lay.width}]; got {None if base is None else tuple(base.shape)}")
        grid = (-1, lay.latent_channels, lay.latent_height, lay.latent_width)
        missing = lay.latent_reals - reals.shape[1]
        x = nn.functional.pad(reals, (0, missing)).reshape(grid)
        context = None
        if self.attention is not None:
            from semlink.phy.analog import receiver_snr_db

            per_real = error_var.clamp(0.0, 1.0).repeat_interleave(2, dim=1)
            x = torch.cat([x, nn.functional.pad(per_real, (0, missing), value=1.0).reshape(grid)], dim=1)
            context = snr_context(receiver_snr_db(error_var), x.shape[0], x, self.snr_limits_db)
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i < len(self.acts):
                x = self.acts[i](self.norms[i](x))
                if context is not None:
                    x = self.attention[i](x, context)
        if self.refine is not None:
            padded = nn.functional.pad(base, (0, lay.padded_width - lay.width, 0, lay.padded_height - lay.height))
            x = self.refine[2:](self.refine[1](self.refine[0](x), padded))
        x = x[:, :, : lay.height, : lay.width]
        return x if self.residual else torch.sigmoid(x)

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
