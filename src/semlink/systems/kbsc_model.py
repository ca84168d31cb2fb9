"""The KBSC feature codec: compressor (TX) + decompressor (RX), the latent channel, checkpoints.

The codec maps a feature to ``k`` reals (``k/2`` complex channel symbols) and back. What the
decoder reads is what every analog receiver has (:class:`ReceivedLatent`, the front end of
:class:`semlink.phy.AnalogLink`): the per-symbol LMMSE estimates of the on-air symbols and, for a
noise-aware decoder, their error variances.
Training (recipes, schedule, checkpoint choice) is in :mod:`semlink.systems.kbsc_training`.

Checkpoints are a folder with ``model.safetensors`` (weights and target statistics) and
``config.json`` (architecture, recipe, training history) — no pickle.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError, choice_error
from semlink.rx.decompressor import NOISE_INPUTS, FeatureDecompressor
from semlink.tx.compressor import FeatureCompressor

RECIPES = ("robust", "reference")
#: 2: the decoder reads the link's one front end (estimate, error_var). Format-1 checkpoints recorded
#: the equaliser convention their decoder was trained on; :func:`load_codec` accepts those whose
#: decoder input is unchanged by the front end (every noise-aware one: it converted to the MMSE form
#: itself; blind ones trained on the biased equaliser) and refuses blind decoders trained on the
#: unbiased one, which would now read other values.
CHECKPOINT_FORMAT = 2


class KbscCodec(nn.Module):
    """Compressor + decompressor with the target statistics the recipe trains against.

    ``encode``: feature ``[B, D] float32`` → latent ``[B, 2·channel_uses] float32``;
    ``decode``: received latent ``[B, 2·channel_uses] float32`` (and, for a noise-aware decoder, its
    per-symbol error variance ``[B, channel_uses] float32``) → feature ``[B, D] float32`` in the
    original feature space (L2-normalise it before a nearest-neighbour search).

    :param noise_input: what the decoder reads besides the latent (:data:`NOISE_INPUTS`).
    """

    def __init__(
        self,
        feature_dim: int,
        channel_uses: int,
        hidden_dim: int = 384,
        recipe: str = "robust",
        noise_input: str = "none",
    ) -> None:
        super().__init__()
        if recipe not in RECIPES:
            raise choice_error("training recipe", recipe, RECIPES)
        self.recipe = recipe
        self.compressor = FeatureCompressor(feature_dim, channel_uses, hidden_dim)
        self.decompressor = FeatureDecompressor(
            2 * channel_uses, feature_dim, hidden_dim, output_norm=True, noise_input=noise_input
        )
        self.register_buffer("target_mean", torch.zeros(feature_dim))
        self.register_buffer("target_std", torch.ones(feature_dim))

    @property
    def feature_dim(self) -> int:
        return self.compressor.feature_dim

    @property
    def channel_uses(self) -> int:
        return self.compressor.channel_uses

    @property
    def hidden_dim(self) -> int:
        return self.compressor.hidden_dim

    def fit_target_statistics(self, features: torch.Tensor) -> None:
        if self.recipe == "robust":
            self.target_mean.copy_(features.mean(0))
            self.target_std.copy_(features.std(0).clamp_min(1e-6))

    def to_target(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.target_mean) / self.target_std

    def from_target(self, target: torch.Tensor) -> torch.Tensor:
        return target * self.target_std + self.target_mean

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        return self.compressor(features)

    @property
    def noise_input(self) -> str:
        return self.decompressor.noise_input

    def decode_target(self, latent: torch.Tensor, error_var: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's raw output (the recipe's training target space) ``[B, D]``."""
        return self.decompressor(latent, error_var)

    def decode(self, latent: torch.Tensor | ReceivedLatent, error_var: torch.Tensor | None = None) -> torch.Tensor:
        """Feature ``[B, D]`` from a received latent (a tensor, or a :class:`ReceivedLatent`)."""
        if isinstance(latent, ReceivedLatent):
            latent, error_var = latent
        return self.from_target(self.decompressor(latent, error_var))

    def architecture(self) -> dict[str, Any]:
        return {
            "feature_dim": self.feature_dim,
            "channel_uses": self.channel_uses,
            "hidden_dim": self.hidden_dim,
            "recipe": self.recipe,
            "noise_input": self.noise_input,
        }


class ReceivedLatent(NamedTuple):
    """What the receiver has for a sent latent (the latent channel's output).

    ``latent``: ``[B, 2N] float32`` the per-symbol LMMSE estimates of the on-air (unit-energy)
    symbols as interleaved re/im; ``error_var``: ``[B, N] float32`` their error variances in [0, 1]
    (:class:`semlink.phy.AnalogOutput`; zeros without noise), or None where the channel knows none
    (e.g. a quantiser).
    """

    latent: torch.Tensor
    error_var: torch.Tensor | None = None


Channel = Callable[[torch.Tensor, "float | torch.Tensor"], "ReceivedLatent | torch.Tensor"]
"""A differentiable channel on latents: ``(latent [B,k] float32, snr_db) → ReceivedLatent`` (or a bare
received latent ``[B,k]`` when the channel reports no error variance); ``snr_db`` is one value in dB
or a ``[B] float32`` tensor of finite per-example values."""


def receive(channel: Channel, latent: torch.Tensor, snr_db: float) -> ReceivedLatent:
    """``channel(latent, snr_db)`` as a :class:`ReceivedLatent` (a bare tensor gets ``error_var=None``)."""
    out = channel(latent, snr_db)
    return out if isinstance(out, ReceivedLatent) else ReceivedLatent(out, None)


class AnalogChannel:
    """:class:`semlink.phy.AnalogLink` as a latent channel (k reals = k/2 symbols); see :func:`analog_channel`."""

    def __init__(self, link) -> None:
        self.link = link

    def __call__(self, latent: torch.Tensor, snr_db: float | torch.Tensor) -> ReceivedLatent:
        from semlink.phy import complex_to_real, real_to_complex

        out = self.link(real_to_complex(latent), snr_db)
        return ReceivedLatent(complex_to_real(out.estimate), out.error_var)


def analog_channel(link) -> AnalogChannel:
    """Wrap :class:`semlink.phy.AnalogLink` as a latent-to-latent channel (k reals = k/2 symbols).

    The output is what the receiver has, the link's front end (:class:`ReceivedLatent`): the
    per-symbol LMMSE estimates in the on-air scale (each latent normalised to unit average symbol
    energy; the per-image scale is not sent) and their error variances. A noiseless channel
    delivers the on-air latent with zero error variance.
    """
    return AnalogChannel(link)


def save_codec(codec: KbscCodec, directory: str | os.PathLike[str], **metadata: Any) -> None:
    """Write ``model.safetensors`` + ``config.json`` into ``directory`` (each atomically)."""
    from semlink.systems.checkpoints import write_checkpoint

    write_checkpoint(directory, codec, kind="kbsc-codec", format=CHECKPOINT_FORMAT,
                     architecture=codec.architecture(), provenance=metadata)


def load_codec(directory: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> tuple[KbscCodec, dict]:
    """Load a codec saved by :func:`save_codec`; refuse missing or malformed files clearly."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from semlink.systems.checkpoints import verify_checkpoint

    directory = Path(directory)
    config_path, weights_path = directory / "config.json", directory / "model.safetensors"
    for path in (config_path, weights_path):
        if not path.is_file():
            raise MissingResourceError(
                f"checkpoint file {str(path)!r} is missing; a KBSC checkpoint folder holds config.json and model.safetensors"
            )
    verify_checkpoint(directory)  # the weights' sha256 recorded in config.json, before any weight is read
    try:
        meta = json.loads(config_path.read_text())
        codec = KbscCodec(
            meta["feature_dim"], meta["channel_uses"], meta["hidden_dim"], meta["recipe"],
            noise_input=meta.get("noise_input", "none"),
        )
    except (json.JSONDecodeError, KeyError, TypeError, SemlinkError) as err:
        raise CorruptFileError(f"{str(config_path)!r} is not a KBSC checkpoint config ({err})") from None
    if meta.get("kind") != "kbsc-codec":
        raise CorruptFileError(f"{str(config_path)!r} has kind {meta.get('kind')!r}; expected 'kbsc-codec'")
    if meta.get("format", 1) < CHECKPOINT_FORMAT and codec.noise_input == "none" \
            and meta.get("equalizer", "lmmse") != "lmmse-biased":
        raise CorruptFileError(
            f"{str(config_path)!r} is a blind decoder trained on the unbiased equaliser's symbols (checkpoint "
            f"format {meta.get('format', 1)}); the link now delivers per-symbol MMSE estimates, which it was "
            "not trained on: remove the checkpoint and retrain"
        )
    try:
        state = load_file(str(weights_path), device=str(map_location))
        codec.load_state_dict(state)
    except (SafetensorError, RuntimeError, OSError) as err:
        raise CorruptFileError(f"{str(weights_path)!r} does not hold this codec's weights: {err}") from None
    return codec.eval(), meta


__all__ = [
    "NOISE_INPUTS",
    "RECIPES",
    "AnalogChannel",
    "Channel",
    "KbscCodec",
    "ReceivedLatent",
    "analog_channel",
    "load_codec",
    "receive",
    "save_codec",
]
