"""``deep-jscc``: deep joint source-channel coding (Bourtsoulatze, Kurka & Gündüz 2019) over the analog link.

The encoder (:mod:`semlink.tx.jscc`) maps an image to exactly ``budget`` complex symbols at unit
average energy; :class:`semlink.phy.AnalogLink` carries them (the run's grid, channel, CSI and
equaliser); the decoder (:mod:`semlink.rx.jscc`) rebuilds the image. One codec per (budget,
channel), trained with MSE through the link at the run's training SNRs (packed slots) and
evaluated one image per slot; checkpoints as safetensors + JSON, reused from the shared cache like
KBSC's (:class:`~semlink.systems.image_path.JsccCodecs`). Bandwidth ratio = complex channel uses per
source value (H·W·C) = the run's ``cbr``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch

from semlink.systems.base import Received, SystemBase
from semlink.systems.image_path import JsccCodecs, send_jscc


class DeepJscc(SystemBase):
    """One deep-JSCC codec per channel at ``budget`` channel uses (see the module docstring)."""

    trained = True

    def __init__(self, spec, setting, budget: int, train_index: int = 0) -> None:
        super().__init__(spec, setting, budget, train_index)
        settings = spec.train.settings(setting.train_snr_db, spec.filters)
        recorded = asdict(settings)
        recorded["snr_db"] = list(recorded["snr_db"])
        self.codecs = JsccCodecs(
            self.name, self.budget, setting, settings, setting.source.image_shape, train_index,
            codec_class=type(self).__name__,
            # "source_shape", not "image_shape": the codec's own config key
            provenance={"train": recorded, "source_shape": list(setting.source.image_shape)},
        )

    def prepare(self, ctx, channel) -> None:
        self.codecs.get(ctx, channel)

    def describe(self, links, channel) -> dict[str, Any]:
        return {**links.describe(channel), **self.codecs.row_columns(channel)}

    @torch.no_grad()
    def transmit(self, ctx, channel, snr_db: float) -> Received:
        codec = self.codecs.get(ctx, channel)
        images = send_jscc(codec, ctx.queries.images, ctx.links, channel, snr_db, ctx.queries.batch_size)
        return Received(images=images)
