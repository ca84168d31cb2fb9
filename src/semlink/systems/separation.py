"""Separation baselines: an image codec (BPG by default) + 5G LDPC + QAM through the same PHY, and
the same codec at the channel's capacity.

==================  =============================================================================
type                what crosses the channel
==================  =============================================================================
``bpg+ldpc``        the codec's payload bits → 5G LDPC code blocks → QAM on :class:`DigitalLink`
``bpg+capacity``    the codec's payload, as many bits as the realised channel's capacity carries
==================  =============================================================================

**Rate matching.** A budget of B channel uses, a modulation and an LDPC rate give the code
(:meth:`semlink.phy.budget.CodeLayout.filling`: as few equal code blocks as 5G allows, filling B)
and the largest payload (whole code blocks); the codec takes per image the highest quality whose
payload fits (:func:`semlink.tx.codecs.fit_to_budget`). Nothing fits → nothing is sent and the
receiver shows the defined fallback, the training set's mean image (scored, never skipped). Only
the code blocks a payload needs are sent (``channel_uses_sent``); the receiver learns their number
from the payload's own header in the first block (a real receiver would), so no side information
is assumed beyond the codec's declared one (BPG's parameter sets, reported as ``side_info_bytes``).

**Receiver.** The LDPC syndrome check tells it which code blocks failed, as 5G's CRC would. By
default (``on_failure = "fallback"``, the BPG-LDPC reference's rule) any failed block means the
fallback image; ``"decode"`` decodes the damaged stream anyway and falls back only where nothing
decodes. Whatever the bits, nothing raises. (:class:`~semlink.systems.image_path.DigitalImagePath`)

**Envelope.** ``mcs = "envelope"`` runs a table of (QAM order, LDPC rate) pairs, each a variant of
its own in the results, and adds per (budget, channel, SNR) the best one on ``envelope_metric`` as
variant ``envelope`` (with ``envelope_choice``): the hindsight-best adaptive modulation and coding,
as the deep-JSCC literature plots it.

**Capacity bound.** ``bpg+capacity`` gives each image ``floor(Σ log2(1 + SNR·|h|²))`` bits over its
B channel uses with the realised channel (AWGN: B·log2(1 + SNR); block fading and OFDM: the
instantaneous capacity of the image's slot, so outages show) and delivers the payload without
errors: an upper bound no separation scheme at that budget exceeds.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from semlink.phy.budget import CodeLayout
from semlink.phy.config import MODULATIONS
from semlink.systems.base import ENVELOPE_VARIANT, Received, SystemBase, variant_role
from semlink.systems.image_path import CodecPath, DigitalImagePath

__all__ = ["SeparationCapacity", "SeparationLdpc", "envelope_rows"]


def _rate_label(rate: float) -> str:
    fraction = Fraction(rate).limit_denominator(12)
    return f"{fraction.numerator}/{fraction.denominator}" if abs(float(fraction) - rate) < 1e-6 else f"{rate:.3g}"


def _images(library, decoded: list[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray]:
    """Stack the receiver's images, the fallback where nothing decoded; and the fallback mask."""
    fallback = library.fallback_image
    used = np.array([image is None for image in decoded])
    return np.stack([fallback if image is None else image for image in decoded]), used


def _codec_columns(codec: str, fitted) -> dict[str, Any]:
    fits = [f for f in fitted if f.fits]
    return {
        "codec": codec,
        "fit_rate": len(fits) / len(fitted) if fitted else 0.0,
        "mean_quality": float(np.mean([f.quality for f in fits])) if fits else None,
        "mean_payload_bits": float(np.mean([f.payload_bits for f in fitted])) if fitted else 0.0,
        "side_info_bytes": float(np.mean([f.encoded.side_info_bytes for f in fits])) if fits else 0.0,
    }


class SeparationLdpc(SystemBase):
    """Codec → LDPC + QAM → DigitalLink → syndrome check → codec decoder (see the module docstring)."""

    def __init__(self, spec, setting, budget: int, modulation: str, rate: float, variant: str = "") -> None:
        super().__init__(spec, setting, budget)
        self.variant = variant
        layout = CodeLayout.filling(self.budget, MODULATIONS[modulation], float(rate))
        self.path = DigitalImagePath(spec.codec, spec.codec_options, modulation, layout.code,
                                     layout.max_bits(self.budget), setting.source.image_shape,
                                     decode_damaged=spec.on_failure == "decode")
        self.fitted: list | None = None

    @classmethod
    def expand(cls, spec, setting, budget: int) -> list[SeparationLdpc]:
        pairs = spec.mcs_pairs(setting.link)
        named = spec.mcs is not None and (spec.mcs == "envelope" or len(pairs) > 1)
        return [cls(spec, setting, budget, m, r, f"{m} r={_rate_label(r)}" if named else "") for m, r in pairs]

    @classmethod
    def derived_rows(cls, frame, spec) -> list[dict[str, Any]]:
        """The envelope rows of ``spec`` (:func:`envelope_rows`), added to the results after the points."""
        return envelope_rows(frame, [spec])

    def channel_uses_with_padding(self, links, channel) -> int:
        return self.path.link(links, channel).channel_uses_with_padding(self.path.max_bits)

    def ebno_offset_db(self, links, channel) -> float:
        return self.path.link(links, channel).ebno_to_snr_db(0.0)

    def prepare(self, ctx, channel) -> None:
        if self.fitted is None:
            self.fitted = self.path.fit(ctx.encode_cache(), ctx.queries.images)

    def describe(self, links, channel) -> dict[str, Any]:
        link = links.describe(channel, digital=True, modulation=self.path.modulation, code=self.path.code)
        return {**link, "on_failure": self.spec.on_failure}

    @torch.no_grad()
    def transmit(self, ctx, channel, snr_db: float) -> Received:
        self.prepare(ctx, channel)
        payloads = [f.encoded.payload if f.fits else b"" for f in self.fitted]
        out = self.path.send(ctx.links, channel, snr_db, payloads, ctx.queries.batch_size)
        images, fell_back = _images(ctx.library, out.decoded)
        sent = [i for i, p in enumerate(payloads) if p]
        return Received(
            images=images,
            channel_uses_sent=out.channel_uses,
            extras={
                **_codec_columns(self.spec.codec, self.fitted),
                "code_block_failure_rate": out.failed_blocks / out.sent_blocks if out.sent_blocks else 0.0,
                "image_failure_rate": float(np.mean([not out.intact[i] for i in sent])) if sent else 0.0,
                "fallback_rate": float(fell_back.mean()),
            },
        )


class SeparationCapacity(SystemBase):
    """The codec at the realised channel's capacity over the budget, delivered error-free (an upper bound)."""

    def __init__(self, spec, setting, budget: int) -> None:
        super().__init__(spec, setting, budget)
        self.path = CodecPath(spec.codec, spec.codec_options, setting.source.image_shape)

    def describe(self, links, channel) -> dict[str, Any]:
        return {**links.describe(channel), "link": "capacity"}

    @torch.no_grad()
    def transmit(self, ctx, channel, snr_db: float) -> Received:
        from semlink.phy.capacity import capacity_bits

        link = ctx.links.analog(channel)
        gains = [link.channel_gains(s.stop - s.start, self.budget) for s in ctx.queries.batches()]
        capacity = capacity_bits(gains, snr_db)
        budgets = np.where(np.isfinite(capacity), np.floor(np.nan_to_num(capacity, posinf=0.0)),
                           np.iinfo(np.int64).max // 2).astype(np.int64)
        fitted = self.path.fit(ctx.encode_cache(), ctx.queries.images, budgets)
        decoded: list[np.ndarray | None] = [None] * len(fitted)
        whole = [i for i, f in enumerate(fitted) if f.fits]
        for i, image in zip(whole, self.path.decode([fitted[i].encoded.payload for i in whole])):
            decoded[i] = image
        images, fell_back = _images(ctx.library, decoded)
        return Received(
            images=images,
            extras={
                **_codec_columns(self.spec.codec, fitted),
                "mean_capacity_bits": float(np.mean(budgets)) if np.isfinite(capacity).all() else math.nan,
                "outage_rate": float(fell_back.mean()),
                "fallback_rate": float(fell_back.mean()),
            },
        )


def envelope_rows(frame, specs) -> list[dict[str, Any]]:
    """Per (system, budget, channel, SNR) of an envelope baseline, the best MCS variant's row as
    variant ``envelope`` (ties: the earlier pair of the table), with ``envelope_choice`` naming it."""
    rows: list[dict[str, Any]] = []
    if frame.empty or "variant" not in frame.columns:
        return rows
    for spec in specs:
        if getattr(spec, "mcs", None) != "envelope":
            continue
        metric = spec.envelope_metric
        mine = frame[(frame["system"] == spec.display_name) & (frame["variant"].map(variant_role) != "envelope")]
        if mine.empty or metric not in mine.columns:
            continue
        for _, group in mine.groupby(["budget", "channel", "snr_db"], sort=False):
            best = group.loc[group[metric].astype(float).fillna(-math.inf).idxmax()].to_dict()
            best["envelope_choice"] = best["variant"]
            best["variant"] = ENVELOPE_VARIANT
            rows.append(best)
    return rows
