"""The deep-JSCC codec (Bourtsoulatze et al. 2019; ADJSCC, Xu et al. 2021): both halves, checkpoints.

:class:`JsccCodec` pairs :class:`semlink.tx.jscc.JsccEncoder` (image → unit-energy complex symbols)
with :class:`semlink.rx.jscc.JsccDecoder` (the link's front end → image). It is trained end to end
(:mod:`semlink.systems.jscc_training`) with MSE on [0, 1] pixels through a differentiable
:data:`~semlink.systems.analog_codec.SymbolChannel` — normally :class:`semlink.phy.AnalogLink`
wrapped by :func:`~semlink.systems.analog_codec.symbol_channel`.

- ``snr_adaptive = True`` (the default; ADJSCC): one codec for every SNR; the encoder is told the
  fed-back SNR (``snr_at_transmitter``), the decoder conditions on the SNR its front end reports.
- ``snr_adaptive = False`` (Bourtsoulatze et al. 2019 exactly): blind encoder and decoder; trained
  over a range of SNRs it is one model for all, trained at one SNR it is the paper's per-SNR codec.

One codec may serve every budget up to its ``channel_uses`` (``encode(..., channel_uses=b)`` sends
the first ``2b`` latent reals; the decoder zero-fills what it did not receive).

The bandwidth ratio is ``channel_uses / (H·W·C)``: complex channel uses per source value. The
encoder normalises every image to unit average energy per complex symbol, so
:class:`~semlink.phy.AnalogLink`'s own per-example normalisation is the identity on its symbols.

Checkpoints are a folder with ``model.safetensors`` and ``config.json`` (kind ``"deep-jscc"``,
architecture, image shape, channel uses, training history, provenance) — no pickle.

>>> import torch
>>> codec = JsccCodec((28, 28), channel_uses=64, filters=8).eval()
>>> symbols = codec.encode(torch.rand(3, 1, 28, 28), snr_db=10.0)
>>> symbols.shape, codec.decode(symbols, torch.full((3, 64), 0.09)).shape
(torch.Size([3, 64]), torch.Size([3, 1, 28, 28]))
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError, require
from semlink.rx.jscc import JsccDecoder
from semlink.systems.analog_codec import (
    EVAL_BATCH_SIZE,
    Reconstruction,
    SymbolChannel,
    symbol_channel,
    transmit_images,
    uint8_images,
)
from semlink.tx.jscc import KERNEL_SIZE, JsccEncoder, JsccLayout

KIND = "deep-jscc"
#: 2: the decoder reads the link's (estimate, error_var); SNR-adaptive (AF) and GDN options.
CHECKPOINT_FORMAT = 2


class JsccCodec(nn.Module):
    """Deep-JSCC encoder + decoder for one image shape and (largest) channel-use budget.

    :param image_shape: ``(H, W)`` or ``(H, W, C)``.
    :param channel_uses: complex symbols per image, the largest budget the codec serves
        (see :class:`~semlink.tx.jscc.JsccLayout`).
    :param filters: feature maps of the inner layers (the paper's 32).
    :param snr_adaptive: ADJSCC's attention-feature modules in both halves (module docstring).
    :param gdn: GDN / inverse GDN before the hidden activations.

    ``encode``: ``[B, C, H, W] float32`` in [0, 1] (and the fed-back ``snr_db``) →
    ``[B, channel_uses] complex64`` (unit energy per image); ``decode``: the link's
    ``(estimate [B, N] complex64, error_var [B, N] float32)`` → ``[B, C, H, W] float32`` in [0, 1].
    """

    def __init__(self, image_shape: Sequence[int], channel_uses: int, filters: int = 32,
                 snr_adaptive: bool = True, gdn: bool = False) -> None:
        super().__init__()
        self.layout = JsccLayout.for_image(image_shape, channel_uses)
        self.encoder = JsccEncoder(self.layout, filters, snr_adaptive=snr_adaptive, gdn=gdn)
        self.decoder = JsccDecoder(self.layout, filters, snr_adaptive=snr_adaptive, gdn=gdn)

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
    def snr_adaptive(self) -> bool:
        return self.encoder.snr_adaptive

    @property
    def gdn(self) -> bool:
        return self.encoder.gdn

    @property
    def bandwidth_ratio(self) -> float:
        """Complex channel uses per source value (H·W·C) at the largest budget."""
        return self.layout.bandwidth_ratio

    def encode(self, images: torch.Tensor, snr_db: float | torch.Tensor | None = None,
               channel_uses: int | None = None) -> torch.Tensor:
        return self.encoder(images, snr_db, channel_uses)

    def decode(self, estimate: torch.Tensor, error_var: torch.Tensor) -> torch.Tensor:
        return self.decoder(estimate, error_var)

    def forward(self, images: torch.Tensor, channel: SymbolChannel, snr_db: float | torch.Tensor,
                channel_uses: int | None = None) -> torch.Tensor:
        """``images → encode → channel(·, snr_db) → decode``: ``[B, C, H, W]`` in and out."""
        received = channel(self.encode(images, snr_db, channel_uses), snr_db)
        return self.decode(received.estimate, received.error_var)

    def architecture(self) -> dict[str, Any]:
        lay = self.layout
        return {
            "architecture": "adjscc" if self.snr_adaptive else "bourtsoulatze2019",
            "image_shape": list(lay.image_shape),
            "channel_uses": lay.channel_uses,
            "filters": self.filters,
            "snr_adaptive": self.snr_adaptive,
            "gdn": self.gdn,
            "kernel_size": KERNEL_SIZE,
            "latent_shape": [lay.latent_channels, lay.latent_height, lay.latent_width],
            "sent_reals": lay.sent_reals,
            "bandwidth_ratio": lay.bandwidth_ratio,
        }


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

    directory = Path(directory)
    config_path, weights_path = directory / "config.json", directory / "model.safetensors"
    for path in (config_path, weights_path):
        if not path.is_file():
            raise MissingResourceError(
                f"checkpoint file {str(path)!r} is missing; a deep-JSCC checkpoint folder holds config.json "
                "and model.safetensors (written by save_jscc / semlink run)"
            )
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
        codec = JsccCodec(tuple(meta["image_shape"]), meta["channel_uses"], meta["filters"],
                          snr_adaptive=meta["snr_adaptive"], gdn=meta["gdn"])
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
    "EVAL_BATCH_SIZE",
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
