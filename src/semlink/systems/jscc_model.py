"""The deep-JSCC codec (Bourtsoulatze, Kurka & Gündüz, 2019): both halves, transmission, checkpoints.

:class:`JsccCodec` pairs :class:`semlink.tx.jscc.JsccEncoder` (image → ``channel_uses`` unit-energy
complex symbols) with :class:`semlink.rx.jscc.JsccDecoder` (received symbols → image). It is
trained end to end (:mod:`semlink.systems.jscc_training`) with MSE on [0, 1] pixels through a differentiable channel — normally
:class:`semlink.phy.AnalogLink` wrapped by :func:`symbol_channel` — at a training SNR drawn per
batch, so one codec serves every SNR (the paper trains one per SNR; a single codec across SNRs is
the graceful-degradation setting its later work uses, and what a comparison across SNRs needs).

The bandwidth ratio is ``channel_uses / (H·W·C)``: complex channel uses per source value. The
encoder normalises every image to unit average energy per complex symbol, so
:class:`~semlink.phy.AnalogLink`'s own per-example normalisation is the identity on its symbols:
whether the link returns the equalised symbols in the input's scale or in the normalised scale,
the decoder sees the same values (and the same gradients: the energy of a normalised vector is 1
whatever the encoder does, so the link's scale carries no gradient).

Checkpoints are a folder with ``model.safetensors`` and ``config.json`` (kind ``"deep-jscc"``,
architecture, image shape, channel uses, training history, provenance) — no pickle.

>>> import torch
>>> codec = JsccCodec((28, 28), channel_uses=64, filters=8).eval()
>>> symbols = codec.encode(torch.rand(3, 1, 28, 28))
>>> symbols.shape, codec.decode(symbols).shape
(torch.Size([3, 64]), torch.Size([3, 1, 28, 28]))
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError, require
from semlink.metrics import psnr_db
from semlink.rx.jscc import JsccDecoder, images_to_uint8
from semlink.tx.jscc import KERNEL_SIZE, JsccEncoder, JsccLayout, images_to_tensor

KIND = "deep-jscc"
CHECKPOINT_FORMAT = 1
#: Images per forward pass when validating or evaluating (bounds memory for large images).
EVAL_BATCH_SIZE = 256

SymbolChannel = Callable[[torch.Tensor, float], torch.Tensor]
"""A differentiable channel on symbols: ``(symbols [B, N] complex64, snr_db) → received [B, N] complex64``."""


def symbol_channel(link) -> SymbolChannel:
    """Wrap :class:`semlink.phy.AnalogLink` as a symbols-to-equalised-symbols channel (``+inf`` dB: none)."""

    def channel(symbols: torch.Tensor, snr_db: float) -> torch.Tensor:
        return link(symbols, snr_db).symbols_hat

    return channel


class JsccCodec(nn.Module):
    """Deep-JSCC encoder + decoder for one image shape and channel-use budget.

    :param image_shape: ``(H, W)`` or ``(H, W, C)``.
    :param channel_uses: complex symbols per image (see :class:`~semlink.tx.jscc.JsccLayout`).
    :param filters: feature maps of the inner layers (the paper's 32).

    ``encode``: ``[B, C, H, W] float32`` in [0, 1] → ``[B, channel_uses] complex64`` (unit energy
    per image); ``decode``: ``[B, channel_uses] complex64`` → ``[B, C, H, W] float32`` in [0, 1].
    """

    def __init__(self, image_shape: Sequence[int], channel_uses: int, filters: int = 32) -> None:
        super().__init__()
        self.layout = JsccLayout.for_image(image_shape, channel_uses)
        self.encoder = JsccEncoder(self.layout, filters)
        self.decoder = JsccDecoder(self.layout, filters)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.layout.image_shape

    @property
    def channel_uses(self) -> int:
        return self.layout.channel_uses

    @property
    def filters(self) -> int:
        return self.encoder.filters

    @property
    def bandwidth_ratio(self) -> float:
        """Complex channel uses per source value (H·W·C)."""
        return self.layout.bandwidth_ratio

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images)

    def decode(self, symbols: torch.Tensor) -> torch.Tensor:
        return self.decoder(symbols)

    def forward(self, images: torch.Tensor, channel: SymbolChannel, snr_db: float) -> torch.Tensor:
        """``images → encode → channel(·, snr_db) → decode``: ``[B, C, H, W]`` in and out."""
        return self.decode(channel(self.encode(images), snr_db))

    def architecture(self) -> dict[str, Any]:
        lay = self.layout
        return {
            "architecture": "bourtsoulatze2019",
            "image_shape": list(lay.image_shape),
            "channel_uses": lay.channel_uses,
            "filters": self.filters,
            "kernel_size": KERNEL_SIZE,
            "latent_shape": [lay.latent_channels, lay.latent_height, lay.latent_width],
            "sent_reals": lay.sent_reals,
            "bandwidth_ratio": lay.bandwidth_ratio,
        }


def uint8_images(images: np.ndarray | torch.Tensor, what: str) -> torch.Tensor:
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
    codec: JsccCodec,
    images: np.ndarray | torch.Tensor,
    channel: SymbolChannel,
    snr_db: float,
    batch_size: int = EVAL_BATCH_SIZE,
) -> Reconstruction:
    """Send ``[N, H, W(, C)] uint8`` images through ``channel`` at ``snr_db``; reconstructions and PSNRs.

    PSNR is computed on the decoder's float output in [0, 1] (before rounding to uint8).
    """
    x = uint8_images(images, "images")
    device = next(codec.parameters()).device
    was_training = codec.training
    codec.eval()
    out, psnrs = [], []
    for start in range(0, len(x), batch_size):
        batch = images_to_tensor(x[start : start + batch_size], device=device)
        decoded = codec(batch, channel, snr_db)
        out.append(images_to_uint8(decoded))
        psnrs.append(psnr_db(batch, decoded, max_value=1.0))
    codec.train(was_training)
    return Reconstruction(torch.cat(out), torch.cat(psnrs))


def save_jscc(
    codec: JsccCodec,
    directory: str | os.PathLike[str],
    history: Any = None,
    **provenance: Any,
) -> None:
    """Write ``model.safetensors`` and ``config.json`` into ``directory`` (each atomically).

    ``config.json`` holds ``kind = "deep-jscc"``, the architecture, the training ``history`` and
    whatever ``provenance`` is given (dataset, channel, training settings, seed, ...: JSON values).
    """
    from semlink.systems.checkpoints import write_checkpoint

    if is_dataclass(history):
        history = asdict(history)
    if history is not None:
        provenance = {**provenance, "history": history}
    write_checkpoint(directory, codec, kind=KIND, format=CHECKPOINT_FORMAT, architecture=codec.architecture(),
                     provenance=provenance)


def load_jscc(
    directory: str | os.PathLike[str],
    map_location: str | torch.device = "cpu",
    expect_image_shape: Sequence[int] | None = None,
    expect_channel_uses: int | None = None,
) -> tuple[JsccCodec, dict[str, Any]]:
    """Load a codec saved by :func:`save_jscc` (in eval mode) and its ``config.json``.

    Raises :class:`MissingResourceError` for a missing file, :class:`CorruptFileError` for a config
    or weights file that is not this format or does not fit the architecture it names, and
    :class:`SemlinkError` when ``expect_image_shape`` (``(H, W)`` or ``(H, W, C)``) or
    ``expect_channel_uses`` disagree with the checkpoint.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from semlink.systems.checkpoints import verify_checkpoint

    directory = Path(directory)
    config_path, weights_path = directory / "config.json", directory / "model.safetensors"
    for path in (config_path, weights_path):
        if not path.is_file():
            raise MissingResourceError(
                f"checkpoint file {str(path)!r} is missing; a deep-JSCC checkpoint folder holds config.json "
                "and model.safetensors (written by save_jscc / semlink run)"
            )
    verify_checkpoint(directory)  # the weights' sha256 recorded in config.json, before any weight is read
    try:
        meta = json.loads(config_path.read_text())
        kind = meta.get("kind")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as err:
        raise CorruptFileError(f"{str(config_path)!r} is not a deep-JSCC checkpoint config ({err})") from None
    if kind != KIND:
        raise CorruptFileError(f"{str(config_path)!r} has kind {kind!r}; expected {KIND!r}")
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise CorruptFileError(
            f"{str(config_path)!r} has checkpoint format {meta.get('format')!r}; this version reads {CHECKPOINT_FORMAT}"
        )
    try:
        codec = JsccCodec(tuple(meta["image_shape"]), meta["channel_uses"], meta["filters"])
    except (KeyError, TypeError, SemlinkError) as err:
        raise CorruptFileError(f"{str(config_path)!r} does not describe a deep-JSCC codec ({err})") from None
    if meta.get("latent_shape") != codec.architecture()["latent_shape"]:
        raise CorruptFileError(
            f"{str(config_path)!r} names latent shape {meta.get('latent_shape')} but its image shape and "
            f"budget give {codec.architecture()['latent_shape']}"
        )
    if expect_image_shape is not None:
        want = JsccLayout.for_image(expect_image_shape, 1).image_shape
        require(want == codec.image_shape,
                f"checkpoint {str(directory)!r} is for images {codec.image_shape}, not {want}")
    if expect_channel_uses is not None:
        require(expect_channel_uses == codec.channel_uses,
                f"checkpoint {str(directory)!r} sends {codec.channel_uses} channel uses, not {expect_channel_uses}")
    try:
        state = load_file(str(weights_path), device=str(map_location))
        codec.load_state_dict(state)
    except (SafetensorError, RuntimeError, OSError) as err:
        raise CorruptFileError(f"{str(weights_path)!r} does not hold this codec's weights: {err}") from None
    return codec.to(map_location).eval(), meta


__all__ = [
    "KIND",
    "JsccCodec",
    "Reconstruction",
    "SymbolChannel",
    "load_jscc",
    "save_jscc",
    "symbol_channel",
    "uint8_images",
    "transmit_images",
]
