"""KBSC systems: the learned feature codec over the analog link, and its digital variant.

==================  =============================================================================
type                what crosses the channel
==================  =============================================================================
``kbsc``            the learned compressor's 2·B reals as B complex symbols on :class:`AnalogLink`
``kbsc-digital``    the compressed feature quantised to bits → 5G LDPC + QAM on :class:`DigitalLink`
==================  =============================================================================

The receiver decodes a feature and the run retrieves the nearest item of its knowledge base;
success = the retrieved item has the sent image's class. The references ``raw`` and
``noiseless`` live in :mod:`semlink.systems.reference`.
"""

from __future__ import annotations

from typing import Any

import torch

from semlink.errors import SemlinkError
from semlink.systems.base import Received, SystemBase, is_noiseless, training_seed
from semlink.systems.kbsc_model import KbscCodec, analog_channel, load_codec, save_codec
from semlink.systems.kbsc_training import history_dict, train_codec
from semlink.tx.quantize import UniformQuantizer


class _CodecSystem(SystemBase):
    """Shared by the systems that train a codec per channel and cache it as a checkpoint.

    ``train_index`` i > 0 (``[train] seeds`` > 1) trains with its own seed derived from the run seed
    (:func:`semlink.systems.base.training_seed`); index 0 uses the run seed itself.
    """

    trained = True  # expanded per training seed by create_systems

    def __init__(self, spec, budget: int, train_index: int = 0) -> None:
        super().__init__(spec, budget, train_index)
        self.codecs: dict[Any, KbscCodec] = {}
        self.training: dict[Any, dict[str, Any]] = {}

    def _checkpoint_name(self, channel) -> str:
        suffix = f"__seed{self.train_index}" if self.train_index else ""
        return f"{self.name}__{self.budget}cu__{channel.name}{suffix}"

    def _train_channel(self, ctx, channel):
        raise NotImplementedError

    def _codec_uses(self, ctx) -> int:
        raise NotImplementedError

    def _settings(self, ctx):
        """The :class:`~semlink.systems.kbsc_recipes.TrainSettings` this system trains with."""
        return ctx.train

    def _provenance(self, ctx, channel) -> dict[str, Any]:
        """What a checkpoint must have been trained with to be reused for ``channel``."""
        return {
            "system": self.name,
            "budget": self.budget,
            "channel": channel.model_dump(mode="json"),
            "link": ctx.link.model_dump(mode="json", exclude={"channel"}),
            "train": _settings_dict(self._settings(ctx)),
            "encoder": ctx.encoder,
            "data": ctx.data_fingerprint,
            "seed": training_seed(ctx.seed, self.train_index),
            "codec_class": type(self).__name__,
            "codec_channel_uses": self._codec_uses(ctx),
        }

    def prepare(self, ctx, channel) -> None:
        if channel in self.codecs:
            return
        from semlink.systems.checkpoints import load_or_train

        provenance = self._provenance(ctx, channel)
        what = f"{self.name} @ {self.budget} [{channel.name}]{f' seed {self.train_index}' if self.train_index else ''}"

        def load(directory):
            codec, meta = load_codec(directory)
            if meta.get("feature_dim") != ctx.feature_dim:
                raise SemlinkError(
                    f"checkpoint {str(directory)!r} decodes {meta.get('feature_dim')}-d features, the run has "
                    f"{ctx.feature_dim}-d ones; remove it or use a new --out folder"
                )
            return codec, meta

        def train():
            labels = None if ctx.train_labels is None else torch.as_tensor(ctx.train_labels,
                                                                            device=ctx.train_features.device)
            codec, trained = train_codec(
                ctx.train_features, ctx.val_sender, ctx.val_receiver, self._train_channel(ctx, channel),
                self._codec_uses(ctx), self._settings(ctx), seed=training_seed(ctx.seed, self.train_index),
                train_labels=labels,
            )
            ctx.log(f"{what}: best val top-1 {trained.best_val_accuracy:.3f} at epoch {trained.best_epoch}; "
                    f"collapsed={trained.collapsed}")
            return codec, history_dict(trained)

        def save(codec, directory, history):
            save_codec(codec, directory, **provenance, history=history)

        codec, history = load_or_train(ctx, self._checkpoint_name(channel), provenance, load=load, train=train,
                                       save=save, what=what)
        self.codecs[channel] = codec.to(ctx.queries.device)
        self.training[channel] = {
            "train_recipe": ctx.train.recipe,
            "train_seed": training_seed(ctx.seed, self.train_index),
            "best_epoch": history.get("best_epoch"),
            "best_val_accuracy": history.get("best_val_accuracy"),
            "collapsed": history.get("collapsed"),
            "decoder_noise_input": codec.noise_input,
            "train_class_weight": self._settings(ctx).resolved()["class_weight"],
        }


def _settings_dict(train) -> dict[str, Any]:
    # Resolved, so a checkpoint records what it was trained with and a changed recipe default retrains.
    settings = train.resolved()
    settings["snr_db"] = list(settings["snr_db"])
    return settings


class KbscAnalog(_CodecSystem):
    """Learned compressor → ``budget`` complex symbols on the analog link → decompressor."""

    def _codec_uses(self, ctx) -> int:
        return self.budget

    def channel_uses_with_padding(self, ctx, channel) -> int:
        return ctx.analog_link(channel).channel_uses(self.channel_uses(ctx))

    def _train_channel(self, ctx, channel):
        return analog_channel(ctx.analog_link(channel, packed=True))

    def describe(self, ctx, channel) -> dict[str, Any]:
        return {**ctx.link.describe(channel), **self.training.get(channel, {})}

    @torch.no_grad()
    def transmit(self, ctx, channel, snr_db: float) -> Received:
        codec = self.codecs[channel]
        send = analog_channel(ctx.analog_link(channel))
        # The decoder gets what the receiver has: the equalised symbols and their noise variance.
        parts = [codec.decode(send(codec.encode(ctx.queries[s]), snr_db)) for s in ctx.batches()]
        return Received(features=torch.cat(parts))


class KbscDigital(_CodecSystem):
    """Compressor → b-bit quantiser → LDPC + QAM on the digital link → dequantiser → decompressor.

    The latent size follows from the channel-use budget B:
    ``latent = B · bits_per_symbol · code_rate / bits_per_value`` (rounded down to even), so the
    digital variant spends at most the analog variant's channel uses per image. The codec is
    trained through the quantiser (straight-through gradient); channel errors are not trained for.
    """

    def __init__(self, spec, budget: int, train_index: int = 0) -> None:
        super().__init__(spec, budget, train_index)
        self.quantizer = UniformQuantizer(spec.bits_per_value)

    def _modulation(self, ctx) -> str:
        return (self.spec.modulation or ctx.link.modulation).lower()

    def _code(self, ctx):
        return self.spec.resolved_code(self.budget, self._modulation(ctx), ctx.link.code)

    def _layout(self, ctx) -> tuple[int, int, int]:
        """(latent values, payload bits, channel uses) per image (see ``KbscDigitalSpec.layout``)."""
        return self.spec.layout(self.budget, self._modulation(ctx), self._code(ctx))

    def channel_uses(self, ctx) -> int:
        return self._layout(ctx)[2]

    def _codec_uses(self, ctx) -> int:
        return self._layout(ctx)[0] // 2

    def _link(self, ctx, channel):
        return ctx.digital_link(channel, self._modulation(ctx), self._code(ctx))

    def channel_uses_with_padding(self, ctx, channel) -> int:
        return self._link(ctx, channel).channel_uses(self._layout(ctx)[1])

    def describe(self, ctx, channel) -> dict[str, Any]:
        link = ctx.link.describe(channel, digital=True, modulation=self._modulation(ctx), code=self._code(ctx))
        return {**link, "ebno_offset_db": self._link(ctx, channel).ebno_to_snr_db(0.0),
                **self.training.get(channel, {})}

    def _settings(self, ctx):
        # The receiver gets hard bits, so there is no per-symbol noise variance to read: blind decoder.
        from dataclasses import replace

        return replace(ctx.train, noise_input="none")

    def _train_channel(self, ctx, channel):
        quantizer = self.quantizer

        def through_quantizer(latent: torch.Tensor, snr_db: float) -> torch.Tensor:
            # Straight-through: the forward pass is quantised, the gradient passes unchanged.
            quantised = quantizer.dequantize(quantizer.quantize(latent))
            return latent + (quantised - latent).detach()

        return through_quantizer

    @torch.no_grad()
    def transmit(self, ctx, channel, snr_db: float) -> Received:
        codec = self.codecs[channel]
        link = None if is_noiseless(snr_db) else self._link(ctx, channel)
        parts, blocks, failed = [], 0, 0
        for s in ctx.batches():
            bits = self.quantizer.quantize(codec.encode(ctx.queries[s]))
            if link is not None:
                sent = link.transmit(bits, snr_db)
                bits = sent.bits_hat
                blocks += sent.block_ok.numel()
                failed += int((~sent.block_ok).sum())
            parts.append(codec.decode(self.quantizer.dequantize(bits)))
        extras = {"code_block_failure_rate": failed / blocks if blocks else 0.0}
        return Received(features=torch.cat(parts), extras=extras)
