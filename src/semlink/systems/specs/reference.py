"""Reference entries: ``raw`` (the uncompressed feature over the analog link) and ``noiseless`` (no channel)."""

from __future__ import annotations

from typing import Literal

from semlink.systems.specs import SystemSpec

__all__ = ["NoiselessSpec", "RawSpec"]


class RawSpec(SystemSpec):
    """The uncompressed feature as D/2 complex symbols on the analog link."""

    type: Literal["raw"]

    implementation = "semlink.systems.reference:RawFeatures"
    needs_feature_dim = True


class NoiselessSpec(SystemSpec):
    """No channel: the receiver gets the sent feature (raw-feature kNN-1; it bounds codecs that rebuild
    the feature, not a class-aware one)."""

    type: Literal["noiseless"]

    implementation = "semlink.systems.reference:Noiseless"
