"""Separation baselines: an image codec (BPG by default) + 5G LDPC + QAM through the same PHY, and
the same codec at the channel's capacity.

==================  =============================================================================
type                what crosses the channel
==================  =============================================================================
``bpg+ldpc``        the codec's payload bits → 5G LDPC code blocks → QAM on :class:`DigitalLink`
``bpg+capacity``    the codec's payload, as many bits as the realised channel's capacity carries
==================  =============================================================================

**Rate matching.** A budget of B channel uses, a modulation and an LDPC rate give the code
(:func:`semlink.phy.code_for_budget`: as few equal code blocks as 5G allows, filling B) and the
largest payload (whole code blocks); the codec takes per image the highest quality whose payload
fits (:func:`semlink.tx.codecs.fit_to_budget`). Nothing fits → nothing is sent and the receiver
shows the defined fallback, the training set's mean image (scored, never skipped). Only the code
blocks a payload needs are sent (``channel_uses_sent``); the receiver learns their number from the
payload's own header in the first block (a real receiver would), so no side information is
assumed beyond the codec's declared one (BPG's parameter sets, reported as ``side_info_bytes``).

**Receiver.** The LDPC syndrome check tells it which code blocks failed, as 5G's CRC would. By
default (``on_failure = "fallback"``, the BPG-LDPC reference's rule) any failed block means the
fallback image; ``"decode"`` decodes the damaged stream anyway and falls back only where nothing
decodes. Whatever the bits, nothing raises.

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

from semlink.phy import MODULATIONS, code_for_budget, payload_bits_for_budget
from semlink.systems.base import Received, SystemBase, is_noiseless

__all__ = ["SeparationCapacity", "SeparationLdpc", "envelope_rows"]


def _rate_label(rate: float) -> str:
    fraction = Fraction(rate).limit_denominator(12)
    return f"{fraction.numerator}/{fraction.denominator}" if abs(float(fraction) - rate) < 1e-6 else f"{rate:.3g}"


class _CodecSystem(SystemBase):
    """What both baselines share: the codec, rate matching through the run's encode cache, fallback."""

    def __init__(self, spec, budget: int) -> None:
        super().__init__(spec, budget)
        self._codec = None
        self._decoded: dict[bytes, np.ndarray | None] = {}

    @property
    def codec(self):
        if self._codec is None:
            from semlink.tx.codecs import create_codec

            self._codec = create_codec(self.spec.codec, **self.spec.codec_options)
        return self._codec

    def _fit(self, ctx, budgets) -> list:
        from semlink.tx.codecs import fit_to_budget

        return fit_to_budget(self.codec, ctx.query_images, budgets, cache=ctx.encode_cache())

    def _intact(self, ctx, payloads: list[bytes]) -> list[np.ndarray | None]:
        """Decode payloads that arrived whole (memoised: the same payload decodes the same at every SNR)."""
        todo = sorted({p for p in payloads if p not in self._decoded})
        if todo:
            for payload, image in zip(todo, self.codec.decode(todo, expected_shape=ctx.source_shape)):
                self._decoded[payload] = image
        return [self._decoded[p] for p in payloads]

    def _images(self, ctx, decoded: list[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray]:
        """Stack the receiver's images, the fallback where nothing decoded; and the fallback mask."""
        fallback = ctx.fallback_image
        used = np.array([image is None for image in decoded])
        return np.stack([fallback if image is None else image for image in decoded]), used

    def _codec_columns(self, fitted) -> dict[str, Any]:
        fits = [f for f in fitted if f.fits]
        return {
            "codec": self.spec.codec,
            "fit_rate": len(fits) / len(fitted) if fitted else 0.0,
            "mean_quality": float(np.mean([f.quality for f in fits])) if fits else None,
            "mean_payload_bits": float(np.mean([f.payload_bits for f in fitted])) if fitted else 0.0,
            "side_info_bytes": float(np.mean([f.encoded.side_info_bytes for f in fits])) if fits else 0.0,
        }


class SeparationLdpc(_CodecSystem):
    """Codec → LDPC + QAM → DigitalLink → syndrome check → codec decoder (see the module docstring)."""

    def __init__(self, spec, budget: int, modulation: str, rate: float, variant: str = "") -> None:
        super().__init__(spec, budget)
        self.modulation = modulation
        self.rate = float(rate)
        self.variant = variant
        self.bits_per_symbol = MODULATIONS[modulation]
        self.code = code_for_budget(self.budget, self.bits_per_symbol, self.rate)
        self.max_payload_bits = payload_bits_for_budget(self.budget, self.bits_per_symbol, *self.code)
        self.fitted: list | None = None

    @staticmethod
    def derived_rows(frame, spec) -> list[dict[str, Any]]:
        """The envelope rows of ``spec`` (:func:`envelope_rows`), added to the results after the points."""
        return envelope_rows(frame, [spec])

    @classmethod
    def expand(cls, spec, budget: int) -> list[SeparationLdpc]:
        from semlink.sim.config import LinkSpec

        link = LinkSpec()  # placeholder only for the defaults; the run's link is read in prepare
        pairs = spec.mcs_pairs(link.modulation, 0.5)
        named = spec.mcs is not None and (spec.mcs == "envelope" or len(pairs) > 1)
        return [cls(spec, budget, m, r, f"{m} r={_rate_label(r)}" if named else "") for m, r in pairs]

    def _link(self, ctx, channel):
        return ctx.digital_link(channel, self.modulation, self.code)

    def channel_uses_with_padding(self, ctx, channel) -> int:
        return self._link(ctx, channel).channel_uses(self.max_payload_bits)

    def prepare(self, ctx, channel) -> None:
        if self.fitted is None:
            self.fitted = self._fit(ctx, self.max_payload_bits)

    def describe(self, ctx, channel) -> dict[str, Any]:
        link = ctx.link.describe(channel, digital=True, modulation=self.modulation, code=self.code)
        return {**link, "ebno_offset_db": self._link(ctx, channel).ebno_to_snr_db(0.0),
                "on_failure": self.spec.on_failure}

    @torch.no_grad()
    def transmit(self, ctx, channel, snr_db: float) -> Received:
        self.prepare(ctx, channel)
        payloads = [f.encoded.payload if f.fits else b"" for f in self.fitted]
        count = len(payloads)
        if is_noiseless(snr_db):
            received, intact = list(payloads), np.ones(count, dtype=bool)
            uses = np.array([self._link(ctx, channel).payload_channel_uses(8 * len(p)) for p in payloads])
            failed_blocks = 0
        else:
            sent = self._link(ctx, channel).transmit_payloads(
                [np.unpackbits(np.frombuffer(p, dtype=np.uint8)) for p in payloads], snr_db, ctx.eval_batch_size)
            received = [np.packbits(b).tobytes() for b in sent.bits_hat]
            intact = np.array([bool(ok.all()) for ok in sent.block_ok])
            failed_blocks = int(sum((~ok).sum() for ok in sent.block_ok))
            uses = sent.channel_uses
        decoded: list[np.ndarray | None] = [None] * count
        whole = [i for i in range(count) if payloads[i] and intact[i]]
        for i, image in zip(whole, self._intact(ctx, [payloads[i] for i in whole])):
            decoded[i] = image
        damaged = [i for i in range(count) if payloads[i] and not intact[i]]
        if damaged and self.spec.on_failure == "decode":
            for i, image in zip(damaged, self.codec.decode([received[i] for i in damaged],
                                                           expected_shape=ctx.source_shape)):
                decoded[i] = image
        images, fell_back = self._images(ctx, decoded)
        k, n = self.code
        sent_blocks = int(sum(math.ceil(8 * len(p) / k) for p in payloads))
        return Received(
            images=images,
            channel_uses_sent=uses,
            extras={
                **self._codec_columns(self.fitted),
                "code_block_failure_rate": failed_blocks / sent_blocks if sent_blocks else 0.0,
                "image_failure_rate": float(np.mean([not intact[i] for i in range(count) if payloads[i]]))
                if any(payloads) else 0.0,
                "fallback_rate": float(fell_back.mean()),
            },
        )


class SeparationCapacity(_CodecSystem):
    """The codec at the realised channel's capacity over the budget, delivered error-free (an upper bound)."""

    def channel_uses_with_padding(self, ctx, channel) -> int:
        return ctx.analog_link(channel).channel_uses(self.budget)

    def describe(self, ctx, channel) -> dict[str, Any]:
        return {**ctx.link.describe(channel), "link": "capacity"}


    @torch.no_grad()
    def transmit(self, ctx, channel, snr_db: float) -> Received:
        count = len(ctx.query_images)
        if is_noiseless(snr_db):
            budgets = np.full(count, np.iinfo(np.int64).max // 2, dtype=np.int64)
        else:
            gains = torch.cat([ctx.analog_link(channel).channel_gains(s.stop - s.start, self.budget)
                               for s in ctx.batches()]).double()
            snr = 10.0 ** (snr_db / 10.0)
            capacity = torch.log2(1.0 + snr * gains).sum(dim=1).cpu().numpy()
            budgets = np.floor(capacity).astype(np.int64)
        fitted = self._fit(ctx, budgets)
        decoded = [None] * count
        whole = [i for i, f in enumerate(fitted) if f.fits]
        for i, image in zip(whole, self._intact(ctx, [fitted[i].encoded.payload for i in whole])):
            decoded[i] = image
        images, fell_back = self._images(ctx, decoded)
        finite = budgets if not is_noiseless(snr_db) else np.array([np.nan])
        return Received(
            images=images,
            extras={
                **self._codec_columns(fitted),
                "mean_capacity_bits": float(np.mean(finite)),
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
        mine = frame[(frame["system"] == spec.display_name) & (frame["variant"] != "envelope")]
        if mine.empty or metric not in mine.columns:
            continue
        for _, group in mine.groupby(["budget", "channel", "snr_db"], sort=False):
            best = group.loc[group[metric].astype(float).fillna(-math.inf).idxmax()].to_dict()
            best["envelope_choice"] = best["variant"]
            best["variant"] = "envelope"
            rows.append(best)
    return rows
