"""KBSC systems: the learned feature codec over the analog link, and its digital variant.

==================  =============================================================================
type                what crosses the channel
==================  =============================================================================
``kbsc``            the learned compressor's 2·B reals as B complex symbols on :class:`AnalogLink`
``kbsc+labels``     the same, the codec trained with the training split's class labels as well
``kbsc-digital``    the quantised feature in a 5G NR transport block at an MCS on :class:`DigitalLink`
==================  =============================================================================

The receiver decodes a feature and the run retrieves the nearest item of its knowledge base;
success = the retrieved item has the sent image's class. The references ``raw`` and
``noiseless`` live in :mod:`semlink.systems.reference`. Each system trains one codec per channel
(and training seed, ``[train] seeds``) with its entry's ``train`` settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch

from semlink.errors import SemlinkError
from semlink.systems.base import Received, SystemBase
from semlink.systems.kbsc_model import Channel, analog_channel, load_codec, save_codec
from semlink.systems.specs.image import mcs_variant
from semlink.systems.trained import TrainedCodecs
from semlink.tx.quantize import UniformQuantizer

__all__ = ["KbscAnalog", "KbscCodecs", "KbscDigital"]


class KbscCodecs(TrainedCodecs):
    """KBSC codecs (:class:`~semlink.systems.kbsc_model.KbscCodec`) of one system, per channel.

    ``settings``: the :class:`~semlink.systems.kbsc_recipes.TrainSettings`; ``codec_uses``: complex
    symbols of the latent; ``train_channel(ctx, channel)``: the differentiable channel training sends through.
    """

    def __init__(self, system: SystemBase, settings, codec_uses: int,
                 train_channel: Callable[[Any, Any], Channel]) -> None:
        super().__init__(system.name, system.budget, system.setting, system.train_index,
                         codec_class=type(system).__name__)
        self.settings = settings
        self.codec_uses = int(codec_uses)
        self.train_channel = train_channel

    def provenance_extra(self, ctx, channel) -> dict[str, Any]:
        # Resolved, so a checkpoint records what it was trained with and a changed recipe default retrains.
        settings = self.settings.resolved()
        settings["snr_db"] = list(settings["snr_db"])
        return {"train": settings, "encoder": ctx.artifacts.encoder, "codec_channel_uses": self.codec_uses}

    def train(self, ctx, channel):
        from semlink.systems.kbsc_training import history_dict, train_codec

        data = ctx.require_training(f"{self.what} [{channel.key}]")
        codec, trained = train_codec(
            data.features, data.val_sender, data.val_receiver, self.train_channel(ctx, channel), self.codec_uses,
            self.settings, seed=self.seed, train_labels=data.labels,
        )
        ctx.log(f"{self.what} [{channel.key}]: kept epoch {trained.best_epoch + 1} (val top-1 "
                f"{trained.best_val_accuracy:.3f}; full validation {trained.full_val_accuracy:.3f}); "
                f"collapsed={trained.collapsed}")
        return codec, history_dict(trained)

    def load(self, ctx, directory):
        codec, meta = load_codec(directory)
        if meta.get("feature_dim") != ctx.source.feature_dim:
            raise SemlinkError(
                f"checkpoint {str(directory)!r} decodes {meta.get('feature_dim')}-d features, the run has "
                f"{ctx.source.feature_dim}-d ones; remove it or use a new --out folder"
            )
        return codec, meta

    def save(self, codec, directory, history, provenance) -> None:
        save_codec(codec, directory, **provenance, history=history)

    def columns(self, codec, history) -> dict[str, Any]:
        return {
            "train_recipe": self.settings.recipe,
            "train_seed": self.seed,
            "best_epoch": history.get("best_epoch"),
            "best_val_accuracy": history.get("best_val_accuracy"),
            "full_val_accuracy": history.get("full_val_accuracy"),
            "collapsed": history.get("collapsed"),
            "decoder_noise_input": codec.noise_input,
            "train_class_weight": self.settings.resolved()["class_weight"],
        }


class KbscAnalog(SystemBase):
    """Learned compressor → ``budget`` complex symbols on the analog link → decompressor."""

    trained = True  # expanded per training seed by create_systems

    def __init__(self, spec, setting, budget: int, train_index: int = 0) -> None:
        super().__init__(spec, setting, budget, train_index)
        self.codecs = KbscCodecs(self, spec.train.settings(setting.train_snr_db), self.budget,
                                 lambda ctx, channel: analog_channel(ctx.links.analog(channel, packed=True)))

    def prepare(self, ctx, channel) -> None:
        self.codecs.get(ctx, channel)

    def describe(self, links, channel) -> dict[str, Any]:
        return {**links.describe(channel), **self.codecs.row_columns(channel)}

    @torch.no_grad()
    def transmit(self, ctx, channel, snr_db: float) -> Received:
        codec = self.codecs.get(ctx, channel)
        send = analog_channel(ctx.links.analog(channel))
        queries = ctx.queries
        # The decoder gets what the receiver has: per-symbol LMMSE estimates and their error variances.
        parts = [codec.decode(send(codec.encode(queries.features[s]), snr_db)) for s in queries.batches()]
        return Received(features=torch.cat(parts))


class KbscDigital(SystemBase):
    """Compressor → b-bit quantiser → 5G NR transport block at an MCS → dequantiser → decompressor.

    The latent size follows from the budget's transport block at the MCS (:meth:`KbscDigitalSpec.layout`),
    so the digital variant spends at most the analog variant's channel uses per image. The codec is
    trained through the quantiser (straight-through gradient); channel errors are not trained for. The
    receiver gets hard bits (and the CRC's verdict), so there is no per-symbol noise variance to read: a
    blind decoder. A family of MCS (one codec per member) is chosen per SNR on validation.
    """

    trained = True

    def __init__(self, spec, setting, budget: int, train_index: int = 0, mcs=None, family: bool = False) -> None:
        super().__init__(spec, setting, budget, train_index)
        self.quantizer = UniformQuantizer(spec.bits_per_value)
        self.mcs = mcs if mcs is not None else spec.family(setting.link)[0]
        self.latent_values, self.tb_bits = spec.layout(self.budget, self.mcs)
        from semlink.phy.budget import TransportLayout

        self.allocation = TransportLayout(self.mcs).allocation(self.budget)
        self.selection_metric = spec.selection_metric if family else None
        settings = replace(spec.train.settings(setting.train_snr_db), noise_input="none")
        self.codecs = KbscCodecs(self, settings, self.latent_values // 2, lambda ctx, channel: self._through_quantizer)
        self.codecs.member = mcs_variant(self.mcs) if family else ""

    @classmethod
    def expand(cls, spec, setting, budget: int) -> list[KbscDigital]:
        members = [m for m in spec.family(setting.link) if spec.layout(budget, m)[0] >= 2]
        family = len(members) > 1
        systems = []
        for mcs in members:
            system = cls(spec, setting, budget, mcs=mcs, family=family)
            system.variant = mcs_variant(mcs) if family else ""
            systems.append(system)
        return systems

    @property
    def channel_uses(self) -> int:
        return self.allocation

    def _link(self, links, channel):
        return links.transport(channel, self.mcs)

    def channel_uses_with_padding(self, links, channel) -> int:
        return self._link(links, channel).channel_uses_with_padding(self.tb_bits)

    def ebno_offset_db(self, links, channel) -> float:
        return self._link(links, channel).ebno_to_snr_db(0.0, self.allocation)

    def describe(self, links, channel) -> dict[str, Any]:
        return {**links.describe(channel, digital=True, mcs=self.mcs, channel_uses=self.allocation),
                "latent_values": self.latent_values, **self.codecs.row_columns(channel)}

    def prepare(self, ctx, channel) -> None:
        self.codecs.get(ctx, channel)

    def _through_quantizer(self, latent: torch.Tensor, snr_db: float) -> torch.Tensor:
        # Straight-through: the forward pass is quantised, the gradient passes unchanged.
        quantised = self.quantizer.dequantize(self.quantizer.quantize(latent))
        return latent + (quantised - latent).detach()

    @torch.no_grad()
    def transmit(self, ctx, channel, snr_db: float) -> Received:
        codec = self.codecs.get(ctx, channel)
        link = self._link(ctx.links, channel)
        payload = self.latent_values * self.spec.bits_per_value
        parts, blocks, failed_blocks, failed = [], 0, 0, 0
        for s in ctx.queries.batches():
            bits = self.quantizer.quantize(codec.encode(ctx.queries.features[s]))
            frame = torch.nn.functional.pad(bits, (0, self.tb_bits - payload))  # zero padding to the TBS
            sent = link.transmit_transport_blocks(frame, snr_db, self.allocation)
            blocks += sent.cb_ok.numel()
            failed_blocks += int((~sent.cb_ok).sum())
            failed += int((~sent.tb_ok).sum())
            # What the receiver decoded, whatever the CRC says: the decoder makes the best of it.
            parts.append(codec.decode(self.quantizer.dequantize(sent.bits_hat[:, :payload])))
        extras = {"code_block_failure_rate": failed_blocks / blocks if blocks else 0.0,
                  "image_failure_rate": failed / len(ctx.queries)}
        return Received(features=torch.cat(parts), extras=extras)
