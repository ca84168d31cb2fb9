"""The linear analog code (KLT + Lee–Petersen power allocation + LMMSE): both ends, fit, checkpoints.

:class:`LinearAnalogCodec` pairs :class:`semlink.tx.linear_analog.LinearAnalogEncoder` with
:class:`semlink.rx.linear_analog.LinearAnalogDecoder` over one fitted
:class:`~semlink.tx.linear_analog.KltBasis`; the derivation is in :mod:`semlink.tx.linear_analog`.
It is closed form: :func:`fit_linear_analog` computes the KLT of the training images, nothing is
trained. One fitted codec serves every budget up to its ``channel_uses`` and every SNR (the
transmitter's allocation follows the fed-back SNR, the receiver's the SNR its front end reports).

Checkpoints are a folder with ``model.safetensors`` (the KLT: mean, basis, variances, tail
variance) and ``config.json`` (kind ``"linear-analog"``, image shape, channel uses, provenance) —
no pickle.

>>> import torch
>>> images = (torch.rand(50, 6, 6) * 255).to(torch.uint8)
>>> codec = fit_linear_analog(images, channel_uses=8)
>>> symbols = codec.encode(torch.rand(2, 1, 6, 6), snr_db=10.0)
>>> symbols.shape, codec.decode(symbols, torch.full((2, 8), 0.09)).shape
(torch.Size([2, 8]), torch.Size([2, 1, 6, 6]))
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError, require
from semlink.rx.linear_analog import LinearAnalogDecoder
from semlink.systems.analog_codec import SymbolChannel, uint8_images
from semlink.tx.jscc import positive_int
from semlink.tx.linear_analog import KltBasis, LinearAnalogEncoder, fit_klt, klt_components

__all__ = ["KIND", "LinearAnalogCodec", "fit_linear_analog", "load_linear_analog", "save_linear_analog"]

KIND = "linear-analog"
CHECKPOINT_FORMAT = 1


class LinearAnalogCodec(nn.Module):
    """KLT encoder with Lee–Petersen allocation + LMMSE decoder for budgets up to ``channel_uses``.

    ``encode``: ``[B, C, H, W] float32`` in [0, 1] and the fed-back ``snr_db`` → ``[B, N] complex64``
    (unit energy per image; ``N = channel_uses`` unless a smaller budget is given); ``decode``: the
    link's ``(estimate [B, N] complex64, error_var [B, N] float32)`` → ``[B, C, H, W] float32``.
    """

    def __init__(self, klt: KltBasis, channel_uses: int) -> None:
        super().__init__()
        self.klt = klt
        self._channel_uses = positive_int(channel_uses, "channel_uses")

    @property
    def channel_uses(self) -> int:
        return self._channel_uses

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.klt.image_shape

    def _budget(self, channel_uses: int | None) -> int:
        if channel_uses is None:
            return self._channel_uses
        uses = positive_int(channel_uses, "channel_uses")
        require(uses <= self._channel_uses, f"channel_uses = {uses}; this code sends at most {self._channel_uses}")
        return uses

    def encode(self, images: torch.Tensor, snr_db: float | torch.Tensor, channel_uses: int | None = None) -> torch.Tensor:
        return LinearAnalogEncoder(self.klt, self._budget(channel_uses))(images, snr_db)

    def decode(self, estimate: torch.Tensor, error_var: torch.Tensor) -> torch.Tensor:
        uses = estimate.shape[-1] if isinstance(estimate, torch.Tensor) and estimate.dim() == 2 else self._channel_uses
        return LinearAnalogDecoder(self.klt, self._budget(int(uses)))(estimate, error_var)

    def forward(self, images: torch.Tensor, channel: SymbolChannel, snr_db: float | torch.Tensor,
                channel_uses: int | None = None) -> torch.Tensor:
        received = channel(self.encode(images, snr_db, channel_uses), snr_db)
        return self.decode(received.estimate, received.error_var)

    def architecture(self) -> dict[str, Any]:
        height, width, channels = self.image_shape
        return {
            "architecture": "klt-lee-petersen-lmmse",
            "image_shape": [height, width, channels],
            "channel_uses": self._channel_uses,
            "num_components": self.klt.num_components,
        }


def fit_linear_analog(train_images: np.ndarray | torch.Tensor, channel_uses: int | Sequence[int],
                      seed: int = 0) -> LinearAnalogCodec:
    """Fit the KLT of ``train_images`` (``[N, H, W] | [N, H, W, C] uint8``) for budgets up to
    ``channel_uses`` (an int, or several: the largest counts); see :func:`semlink.tx.linear_analog.fit_klt`."""
    from semlink.tx.jscc import images_to_tensor

    uses = max(channel_uses) if isinstance(channel_uses, Sequence) and not isinstance(channel_uses, str) \
        else channel_uses
    uses = positive_int(uses, "channel_uses")
    x = images_to_tensor(uint8_images(train_images, "train_images"))
    return LinearAnalogCodec(fit_klt(x, klt_components(x, 2 * uses), seed=seed), uses)


def save_linear_analog(codec: LinearAnalogCodec, directory: str | os.PathLike[str], **provenance: Any) -> None:
    """Write ``model.safetensors`` (the KLT) and ``config.json`` into ``directory`` (each atomically)."""
    from semlink.systems.checkpoints import write_checkpoint

    write_checkpoint(directory, codec.klt, kind=KIND, format=CHECKPOINT_FORMAT, architecture=codec.architecture(),
                     provenance=provenance)


def load_linear_analog(directory: str | os.PathLike[str], map_location: str | torch.device = "cpu",
                       expect_image_shape: Sequence[int] | None = None,
                       expect_channel_uses: int | None = None) -> tuple[LinearAnalogCodec, dict[str, Any]]:
    """Load a codec saved by :func:`save_linear_analog` and its ``config.json``; refuse missing,
    malformed or mismatched files (as :func:`semlink.systems.jscc_model.load_jscc`)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from semlink.systems.checkpoints import verify_checkpoint
    from semlink.tx.jscc import JsccLayout

    directory = Path(directory)
    config_path, weights_path = directory / "config.json", directory / "model.safetensors"
    for path in (config_path, weights_path):
        if not path.is_file():
            raise MissingResourceError(
                f"checkpoint file {str(path)!r} is missing; a linear-analog checkpoint folder holds config.json "
                "and model.safetensors (written by save_linear_analog)"
            )
    verify_checkpoint(directory)  # the weights' sha256 recorded in config.json, before any weight is read
    try:
        meta = json.loads(config_path.read_text())
        kind = meta.get("kind")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as err:
        raise CorruptFileError(f"{str(config_path)!r} is not a linear-analog checkpoint config ({err})") from None
    if kind != KIND or meta.get("format") != CHECKPOINT_FORMAT:
        raise CorruptFileError(f"{str(config_path)!r} has kind {kind!r} format {meta.get('format')!r}; "
                               f"expected {KIND!r} format {CHECKPOINT_FORMAT}")
    try:
        state = load_file(str(weights_path), device=str(map_location))
        klt = KltBasis(tuple(meta["image_shape"]), state["mean"], state["basis"], state["variances"],
                       state["tail_variance"])
        codec = LinearAnalogCodec(klt, meta["channel_uses"])
    except (SafetensorError, OSError, KeyError, TypeError, SemlinkError) as err:
        raise CorruptFileError(f"{str(directory)!r} does not hold a linear-analog code: {err}") from None
    if expect_image_shape is not None:
        want = JsccLayout.for_image(expect_image_shape, 1).image_shape
        require(want == codec.image_shape, f"checkpoint {str(directory)!r} is for images {codec.image_shape}, not {want}")
    if expect_channel_uses is not None:
        require(expect_channel_uses <= codec.channel_uses,
                f"checkpoint {str(directory)!r} sends at most {codec.channel_uses} channel uses, not {expect_channel_uses}")
    return codec.to(map_location).eval(), meta
