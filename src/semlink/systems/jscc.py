"""``deep-jscc``: deep joint source-channel coding (Bourtsoulatze, Kurka & Gündüz 2019) over the analog link.

The encoder (:mod:`semlink.tx.jscc`) maps an image to exactly ``budget`` complex symbols at unit
average energy; :class:`semlink.phy.AnalogLink` carries them (the run's grid, channel, CSI and
equaliser); the decoder (:mod:`semlink.rx.jscc`) rebuilds the image. One codec per (budget,
channel), trained with MSE through the link at the run's training SNRs (packed slots) and
evaluated one image per slot; checkpoints as safetensors + JSON, reused from the shared cache like
KBSC's. Bandwidth ratio = complex channel uses per source value (H·W·C) = the run's ``cbr``.
"""

from __future__ import annotations

from typing import Any

import torch

from semlink.systems.base import Received, SystemBase, training_seed


class DeepJscc(SystemBase):
    """One deep-JSCC codec per channel at ``budget`` channel uses (see the module docstring)."""

    trained = True

    def __init__(self, spec, budget: int, train_index: int = 0) -> None:
        super().__init__(spec, budget, train_index)
        self.codecs: dict[Any, Any] = {}
        self.training: dict[Any, dict[str, Any]] = {}

    def channel_uses_with_padding(self, ctx, channel) -> int:
        return ctx.analog_link(channel).channel_uses(self.budget)

    def _settings(self, ctx):
        from semlink.systems.jscc_model import JsccTrainSettings

        spec = self.spec
        return JsccTrainSettings(epochs=spec.epochs, patience=spec.patience, batch_size=spec.batch_size,
                                 lr=spec.lr, filters=spec.filters, snr_db=tuple(ctx.train.snr_db))

    def _provenance(self, ctx, channel) -> dict[str, Any]:
        from dataclasses import asdict

        settings = asdict(self._settings(ctx))
        settings["snr_db"] = list(settings["snr_db"])
        return {
            "system": self.name,
            "budget": self.budget,
            "channel": channel.model_dump(mode="json"),
            "link": ctx.link.model_dump(mode="json", exclude={"channel"}),
            "train": settings,
            "image_shape": list(ctx.source_shape),
            "data": ctx.data_fingerprint,
            "seed": training_seed(ctx.seed, self.train_index),
            "codec_class": type(self).__name__,
        }

    def prepare(self, ctx, channel) -> None:
        if channel in self.codecs:
            return
        from semlink.systems.checkpoints import load_or_train
        from semlink.systems.jscc_model import load_jscc, save_jscc, symbol_channel, train_jscc

        seed = training_seed(ctx.seed, self.train_index)
        suffix = f"__seed{self.train_index}" if self.train_index else ""
        what = f"{self.name} @ {self.budget} [{channel.name}]{f' seed {self.train_index}' if self.train_index else ''}"
        provenance = self._provenance(ctx, channel)

        def train():
            codec, history = train_jscc(
                ctx.train_images, ctx.val_images, symbol_channel(ctx.analog_link(channel, packed=True)),
                self.budget, self._settings(ctx), seed=seed, device=ctx.queries.device,
            )
            ctx.log(f"{what}: best validation PSNR {history.best_val_psnr:.2f} dB at epoch {history.best_epoch}")
            from semlink.systems.jscc_model import history_dict

            return codec, history_dict(history)

        codec, history = load_or_train(
            ctx, f"{self.name}__{self.budget}cu__{channel.name}{suffix}", provenance,
            load=lambda d: load_jscc(d, map_location=ctx.queries.device, expect_image_shape=ctx.source_shape,
                                     expect_channel_uses=self.budget),
            train=train,
            save=lambda c, d, h: save_jscc(c, d, history=h, **provenance),
            what=what,
        )
        self.codecs[channel] = codec.to(ctx.queries.device).eval()
        self.training[channel] = {
            "train_seed": seed,
            "best_epoch": history.get("best_epoch"),
            "best_val_psnr": history.get("best_val_psnr"),
        }

    def describe(self, ctx, channel) -> dict[str, Any]:
        return {**ctx.link.describe(channel), **self.training.get(channel, {})}

    @torch.no_grad()
    def transmit(self, ctx, channel, snr_db: float) -> Received:
        from semlink.systems.jscc_model import symbol_channel, transmit_images

        codec = self.codecs[channel]
        out = transmit_images(codec, ctx.query_images, symbol_channel(ctx.analog_link(channel)), snr_db,
                              batch_size=ctx.eval_batch_size)
        images = out.images.cpu().numpy()
        return Received(images=images.reshape(ctx.query_images.shape))
