"""What every analog image codec shares: the symbol channel, sending images through it, PSNR.

An analog image codec (deep JSCC, the linear analog code) has

- ``encode(images [B, C, H, W] float32, snr_db, channel_uses=None) → [B, N] complex64``, unit average
  energy per image (``snr_db``: the SNR fed back to the transmitter, float or ``[B]``; a blind
  encoder ignores it);
- ``decode(estimate [B, N] complex64, error_var [B, N] float32) → [B, C, H, W] float32`` in [0, 1]:
  the receiver reads the link's front end (:class:`semlink.phy.AnalogOutput`) and nothing else.

:func:`symbol_channel` turns :class:`semlink.phy.AnalogLink` into the :data:`SymbolChannel` both
halves are joined by; :func:`transmit_images` sends uint8 images through it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, Protocol

import numpy as np
import torch

from semlink.errors import require
from semlink.metrics import psnr_db

if TYPE_CHECKING:  # pragma: no cover
    from semlink.phy.analog import AnalogOutput

__all__ = [
    "AnalogImageCodec",
    "EVAL_BATCH_SIZE",
    "Reconstruction",
    "SymbolChannel",
    "symbol_channel",
    "transmit_images",
    "uint8_images",
]

#: Images per forward pass when validating or evaluating (bounds memory for large images).
EVAL_BATCH_SIZE = 256

SymbolChannel = Callable[[torch.Tensor, "float | torch.Tensor"], "AnalogOutput"]
"""A differentiable channel: ``(symbols [B, N] complex64, snr_db float or [B]) →``
:class:`semlink.phy.AnalogOutput` ``(estimate [B, N] complex64, error_var [B, N] float32)``."""


class AnalogImageCodec(Protocol):
    """The two halves of an analog image codec (see the module docstring)."""

    def encode(self, images: torch.Tensor, snr_db: float | torch.Tensor,
               channel_uses: int | None = None) -> torch.Tensor: ...

    def decode(self, estimate: torch.Tensor, error_var: torch.Tensor) -> torch.Tensor: ...


def symbol_channel(link) -> SymbolChannel:
    """:class:`semlink.phy.AnalogLink` as a :data:`SymbolChannel` (``snr_db = +inf``: the link's own no-channel
    case, the on-air symbols exactly with error variance 0)."""

    def channel(symbols: torch.Tensor, snr_db: float | torch.Tensor) -> AnalogOutput:
        return link(symbols, snr_db)

    return channel


def uint8_images(images: np.ndarray | torch.Tensor, what: str) -> torch.Tensor:
    """``images`` as a uint8 tensor ``[N, H, W]`` or ``[N, H, W, 1|3]``; a SemlinkError naming ``what`` otherwise."""
    x = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
    ok = x.dtype == torch.uint8 and (x.dim() == 3 or (x.dim() == 4 and x.shape[-1] in (1, 3)))
    require(ok, f"{what} are {x.dtype} of shape {tuple(x.shape)}; expected uint8 [N, H, W] or [N, H, W, 1|3]")
    require(len(x) > 0, f"{what} are empty; give at least one image")
    return x


class Reconstruction(NamedTuple):
    """``images``: ``[N, H, W(, C)] uint8`` as received; ``psnr_db``: ``[N] float64`` against the sent image."""

    images: torch.Tensor
    psnr_db: torch.Tensor


@torch.no_grad()
def transmit_images(
    codec: AnalogImageCodec,
    images: np.ndarray | torch.Tensor,
    channel: SymbolChannel,
    snr_db: float,
    batch_size: int = EVAL_BATCH_SIZE,
    channel_uses: int | None = None,
) -> Reconstruction:
    """Send ``[N, H, W(, C)] uint8`` images through ``channel`` at ``snr_db``; reconstructions and PSNRs.

    The encoder is given ``snr_db`` as the fed-back SNR; the decoder only the channel's output.
    ``channel_uses``: the budget (default the codec's own). PSNR is computed on the decoder's float
    output in [0, 1] (before rounding to uint8).
    """
    from semlink.rx.jscc import images_to_uint8
    from semlink.tx.jscc import images_to_tensor

    x = uint8_images(images, "images")
    device = next(iter(codec.state_dict().values())).device
    was_training = getattr(codec, "training", False)
    if hasattr(codec, "eval"):
        codec.eval()
    out, psnrs = [], []
    for start in range(0, len(x), batch_size):
        batch = images_to_tensor(x[start : start + batch_size], device=device)
        received = channel(codec.encode(batch, snr_db, channel_uses), snr_db)
        decoded = codec.decode(received.estimate, received.error_var)
        out.append(images_to_uint8(decoded))
        psnrs.append(psnr_db(batch, decoded, max_value=1.0))
    if hasattr(codec, "train"):
        codec.train(was_training)
    return Reconstruction(torch.cat(out), torch.cat(psnrs))
