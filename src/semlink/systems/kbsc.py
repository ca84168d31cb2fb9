"""KBSC systems: analog and digital semantic transmission, raw features, and the noiseless bound.

==================  =============================================================================
type                what crosses the channel
==================  =============================================================================
``kbsc``            the learned compressor's 2·B reals as B complex symbols on :class:`AnalogLink`
``kbsc-digital``    the compressed feature quantised to bits → 5G LDPC + QAM on :class:`DigitalLink`
``raw``             the uncompressed D-dim feature as D/2 complex symbols on :class:`AnalogLink`
``noiseless``       nothing: the receiver gets the sent feature (the retrieval upper bound)
==================  =============================================================================
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from semlink.errors import SemlinkError, choice_error, require
from semlink.phy import MODULATIONS
from semlink.systems.base import ExperimentContext, is_noiseless, register_system
from semlink.systems.kbsc_model import (
    KbscCodec,
    analog_channel,
    history_dict,
    load_codec,
    save_codec,
    train_codec,
)
from semlink.tx.quantize import UniformQuantizer


def _batches(ctx: ExperimentContext):
    n = len(ctx.queries)
    for start in range(0, n, ctx.eval_batch_size):
        yield slice(start, min(start + ctx.eval_batch_size, n))


class _CodecSystem:
    """Shared by the systems that train a codec per channel and cache it as a checkpoint."""

    def __init__(self, spec) -> None:
        self.spec = spec
        self.codecs: dict[Any, KbscCodec] = {}

    def _checkpoint_name(self, channel) -> str:
        return f"{self.name}__{channel.name}"

    def _train_channel(self, ctx: ExperimentContext, channel):
        raise NotImplementedError

    def _codec_uses(self, ctx: ExperimentContext) -> int:
        raise NotImplementedError

    def _provenance(self, ctx: ExperimentContext, channel) -> dict[str, Any]:
        """What a checkpoint must have been trained with to be reused for ``channel``."""
        return {
            "system": self.name,
            "channel": channel.model_dump(mode="json"),
            "link": ctx.link.model_dump(mode="json", exclude={"channel"}),
            "train": _settings_dict(ctx),
            "encoder": ctx.encoder,
            "seed": ctx.seed,
            "codec_channel_uses": self._codec_uses(ctx),
        }

    def prepare(self, ctx: ExperimentContext, channel) -> None:
        if channel in self.codecs:
            return
        directory = ctx.checkpoint_dir / self._checkpoint_name(channel)
        provenance = self._provenance(ctx, channel)
        if (directory / "config.json").is_file():
            codec, meta = load_codec(directory)
            stale = sorted(k for k, v in provenance.items() if meta.get(k) != v)
            if stale or meta.get("feature_dim") != ctx.feature_dim:
                raise SemlinkError(
                    f"checkpoint {str(directory)!r} was trained with other settings ({', '.join(stale) or 'feature_dim'}"
                    "); remove it or use a new --out folder"
                )
            ctx.log(f"{self.name} [{channel.name}]: loaded checkpoint {directory}")
        else:
            ctx.log(f"{self.name} [{channel.name}]: training ({ctx.train.recipe} recipe)")
            codec, history = train_codec(
                ctx.train_features,
                ctx.val_sender,
                ctx.val_receiver,
                self._train_channel(ctx, channel),
                self._codec_uses(ctx),
                ctx.train,
                seed=ctx.seed,
            )
            ctx.log(
                f"{self.name} [{channel.name}]: best val top-1 {history.best_val_accuracy:.3f} "
                f"at epoch {history.best_epoch}; collapsed={history.collapsed}"
            )
            save_codec(codec, directory, **provenance, history=history_dict(history))
        self.codecs[channel] = codec.to(ctx.queries.device)


def _settings_dict(ctx: ExperimentContext) -> dict[str, Any]:
    from dataclasses import asdict

    settings = asdict(ctx.train)
    settings["snr_db"] = list(settings["snr_db"])
    return settings


@register_system("kbsc")
class KbscAnalog(_CodecSystem):
    """Learned compressor → ``channel_uses`` complex symbols on the analog link → decompressor."""

    def __init__(self, spec) -> None:
        super().__init__(spec)
        require(spec.channel_uses is not None and spec.channel_uses > 0,
                f"system 'kbsc' needs channel_uses > 0 (got {spec.channel_uses}); the reference uses 128 and 64")
        self.name = spec.name or f"kbsc-analog-{spec.channel_uses}"

    def channel_uses(self, ctx: ExperimentContext) -> int:
        return int(self.spec.channel_uses)

    def _codec_uses(self, ctx: ExperimentContext) -> int:
        return int(self.spec.channel_uses)

    def channel_uses_with_padding(self, ctx: ExperimentContext, channel) -> int:
        return ctx.analog_link(channel).channel_uses(self.channel_uses(ctx))

    def _train_channel(self, ctx: ExperimentContext, channel):
        return analog_channel(ctx.analog_link(channel, packed=True))

    @torch.no_grad()
    def decode_queries(self, ctx: ExperimentContext, channel, snr_db: float) -> tuple[torch.Tensor, dict]:
        codec = self.codecs[channel]
        send = analog_channel(ctx.analog_link(channel))
        parts = [codec.decode(send(codec.encode(ctx.queries[s]), snr_db)) for s in _batches(ctx)]
        return torch.cat(parts), {}


@register_system("kbsc-digital")
class KbscDigital(_CodecSystem):
    """Compressor → b-bit quantiser → LDPC + QAM on the digital link → dequantiser → decompressor.

    The latent size follows from the channel-use budget B:
    ``latent = B · bits_per_symbol · code_rate / bits_per_value`` (rounded down to even), so the
    digital variant spends at most the analog variant's channel uses per image. The codec is
    trained through the quantiser (straight-through gradient); channel errors are not trained for.
    """

    def __init__(self, spec) -> None:
        super().__init__(spec)
        require(spec.channel_uses is not None and spec.channel_uses > 0,
                f"system 'kbsc-digital' needs channel_uses > 0 (got {spec.channel_uses})")
        self.quantizer = UniformQuantizer(spec.bits_per_value)
        self.name = spec.name or f"kbsc-digital-{spec.channel_uses}"

    def _modulation(self, ctx: ExperimentContext) -> str:
        return (self.spec.modulation or ctx.link.modulation).lower()

    def _code(self, ctx: ExperimentContext):
        return self.spec.code if self.spec.code is not None else ctx.link.code

    def _layout(self, ctx: ExperimentContext) -> tuple[int, int, int]:
        """(latent values, payload bits, channel uses) per image: the largest even latent whose
        code blocks (padding included) fit in the budget of ``channel_uses`` symbols."""
        modulation = self._modulation(ctx)
        if modulation not in MODULATIONS:
            raise choice_error("modulation", modulation, MODULATIONS)
        bps = MODULATIONS[modulation]
        code = self._code(ctx)
        q = self.quantizer.bits_per_value
        budget = int(self.spec.channel_uses)

        def uses(latent: int) -> int:
            bits = latent * q
            coded = bits if code == "uncoded" else math.ceil(bits / code[0]) * code[1]
            return math.ceil(coded / bps)

        k, n = (1, 1) if code == "uncoded" else code
        latent = int(budget * bps * k / n / q) // 2 * 2
        while latent >= 2 and uses(latent) > budget:
            latent -= 2
        if latent < 2:
            raise SemlinkError(
                f"system {self.name!r}: a budget of {budget} channel uses cannot carry one code block of "
                f"{modulation} with code {code} ({uses(2)} uses at least); raise channel_uses or use a shorter code"
            )
        return latent, latent * q, uses(latent)

    def channel_uses(self, ctx: ExperimentContext) -> int:
        return self._layout(ctx)[2]

    def _codec_uses(self, ctx: ExperimentContext) -> int:
        return self._layout(ctx)[0] // 2

    def channel_uses_with_padding(self, ctx: ExperimentContext, channel) -> int:
        link = ctx.digital_link(channel, self._modulation(ctx), self._code(ctx))
        return link.channel_uses(self._layout(ctx)[1])

    def _train_channel(self, ctx: ExperimentContext, channel):
        quantizer = self.quantizer

        def through_quantizer(latent: torch.Tensor, snr_db: float) -> torch.Tensor:
            # Straight-through: the forward pass is quantised, the gradient passes unchanged.
            quantised = quantizer.dequantize(quantizer.quantize(latent))
            return latent + (quantised - latent).detach()

        return through_quantizer

    @torch.no_grad()
    def decode_queries(self, ctx: ExperimentContext, channel, snr_db: float) -> tuple[torch.Tensor, dict]:
        codec = self.codecs[channel]
        link = None if is_noiseless(snr_db) else ctx.digital_link(channel, self._modulation(ctx), self._code(ctx))
        parts, blocks, failed = [], 0, 0
        for s in _batches(ctx):
            bits = self.quantizer.quantize(codec.encode(ctx.queries[s]))
            if link is not None:
                sent = link.transmit(bits, snr_db)
                bits = sent.bits_hat
                blocks += sent.block_ok.numel()
                failed += int((~sent.block_ok).sum())
            parts.append(codec.decode(self.quantizer.dequantize(bits)))
        extras = {"code_block_failure_rate": failed / blocks if blocks else 0.0}
        return torch.cat(parts), extras


@register_system("raw")
class RawFeatures:
    """The uncompressed feature as D/2 complex symbols on the analog link (the reference's baseline)."""

    def __init__(self, spec) -> None:
        self.spec = spec
        self.name = spec.name or "raw"

    def channel_uses(self, ctx: ExperimentContext) -> int:
        return math.ceil(ctx.feature_dim / 2)

    def channel_uses_with_padding(self, ctx: ExperimentContext, channel) -> int:
        return ctx.analog_link(channel).channel_uses(self.channel_uses(ctx))

    def prepare(self, ctx: ExperimentContext, channel) -> None:
        return None

    @torch.no_grad()
    def decode_queries(self, ctx: ExperimentContext, channel, snr_db: float) -> tuple[torch.Tensor, dict]:
        if is_noiseless(snr_db):
            return ctx.queries.clone(), {}
        from semlink.phy import complex_to_real, real_to_complex

        link = ctx.analog_link(channel)
        # The link returns symbols in the on-air (unit-energy) scale. Features are L2-normalised (a
        # property of the encoder, known to both ends), so every feature goes on air scaled by the same
        # sqrt(num_symbols): dividing by that constant is no side information about the image.
        on_air_gain = math.sqrt(self.channel_uses(ctx))
        parts = []
        for s in _batches(ctx):
            x = ctx.queries[s]
            if x.shape[1] % 2:
                x = F.pad(x, (0, 1))
            received = complex_to_real(link(real_to_complex(x), snr_db).symbols_hat)
            parts.append(received[:, : ctx.feature_dim] / on_air_gain)
        return torch.cat(parts), {}


@register_system("noiseless")
class Noiseless:
    """The receiver gets the sender's feature unchanged: the upper bound on retrieval accuracy."""

    def __init__(self, spec) -> None:
        self.spec = spec
        self.name = spec.name or "noiseless"

    def channel_uses(self, ctx: ExperimentContext) -> int:
        return 0

    def channel_uses_with_padding(self, ctx: ExperimentContext, channel) -> int:
        return 0

    def prepare(self, ctx: ExperimentContext, channel) -> None:
        return None

    def decode_queries(self, ctx: ExperimentContext, channel, snr_db: float) -> tuple[torch.Tensor, dict]:
        return ctx.queries.clone(), {}
