"""Reference systems: the uncompressed feature over the analog link, and no channel at all.

==================  =============================================================================
type                what crosses the channel
==================  =============================================================================
``raw``             the uncompressed D-dim feature as D/2 complex symbols on :class:`AnalogLink`
``noiseless``       nothing: the receiver gets the sent feature (raw-feature kNN-1)
==================  =============================================================================

``noiseless`` bounds every codec that rebuilds the feature; a class-aware KBSC codec (the robust
recipe's default) lands near its class instead and can pass it.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from semlink.systems.base import Received, SystemBase


class RawFeatures(SystemBase):
    """The uncompressed feature as D/2 complex symbols on the analog link (the reference's baseline)."""

    def __init__(self, spec, setting, budget: int | None = None) -> None:
        super().__init__(spec, setting)  # no budget: its size is the feature's

    @property
    def channel_uses(self) -> int:
        return math.ceil(self.setting.source.feature_dim / 2)

    @torch.no_grad()
    def transmit(self, ctx, channel, snr_db: float) -> Received:
        from semlink.phy import complex_to_real, real_to_complex

        link = ctx.links.analog(channel)
        dim = ctx.source.feature_dim
        # The link returns symbols in the on-air (unit-energy) scale. Features are L2-normalised (a
        # property of the encoder, known to both ends), so every feature goes on air scaled by the same
        # sqrt(num_symbols): dividing by that constant is no side information about the image.
        on_air_gain = math.sqrt(self.channel_uses)
        parts = []
        for s in ctx.queries.batches():
            x = ctx.queries.features[s]
            if x.shape[1] % 2:
                x = F.pad(x, (0, 1))
            received = complex_to_real(link(real_to_complex(x), snr_db).estimate)
            parts.append(received[:, :dim] / on_air_gain)
        return Received(features=torch.cat(parts))


class Noiseless(SystemBase):
    """The receiver gets the sender's feature unchanged: the upper bound on retrieval accuracy."""

    channel_free = True  # evaluated once, without a channel or SNR

    def __init__(self, spec, setting, budget: int | None = None) -> None:
        super().__init__(spec, setting)

    @property
    def channel_uses(self) -> int:
        return 0

    def channel_uses_with_padding(self, links, channel) -> int:
        return 0

    def describe(self, links, channel) -> dict[str, Any]:
        return {"link": "none"}

    def transmit(self, ctx, channel, snr_db: float) -> Received:
        return Received(features=ctx.queries.features.clone())
