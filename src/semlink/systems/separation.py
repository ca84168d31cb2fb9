"""Separation baselines: an image codec (BPG by default) + 5G NR transport blocks + QAM through the same
PHY, and the bounds of the same codec at the channel's capacity.

==================  =============================================================================
type                what crosses the channel
==================  =============================================================================
``bpg+ldpc``        the codec's payload in a 5G NR transport block (TB CRC, code blocks with CRCs,
                    LDPC, rate matching) at an MCS of a 38.214 table → QAM on :class:`DigitalLink`
``bpg+capacity``    the codec's payload at a fixed rate per SNR, delivered where the slot's capacity
                    covers it (no CSI at the transmitter: outage), or — ``csit = true`` — at each
                    slot's own instantaneous capacity
==================  =============================================================================

**Rate matching.** A budget of B channel uses at an MCS carries one transport block (its TBS, CRCs
paid: :class:`~semlink.phy.budget.TransportLayout`); the codec takes per image the highest quality
whose payload fits it (:func:`semlink.tx.codecs.fit_to_budget`), zero-padded to the TBS. Nothing fits
→ nothing is sent and the receiver shows the defined fallback, the training set's mean image (scored,
never skipped). Every image uses the same allocation, so the receiver knows it from configuration; no
side information is assumed beyond the codec's declared one (BPG's parameter sets, reported as
``side_info_bytes``).

**Receiver** (:class:`~semlink.systems.image_path.DigitalImagePath`). The transport block's CRC tells it
whether the block failed; it decodes what it received. By default (``on_failure = "fallback"``) a
failed block means the fallback image; ``"decode"`` decodes the damaged stream anyway and falls back
only where nothing decodes. An error the CRC misses reaches the image decoder (``undetected_error_rate``
counts them, from the ground truth the receiver never sees); whatever the bits, nothing raises.

**MCS.** One entry runs every MCS of a 38.214 table (or a subset, or hand-written pairs), each a
variant of its own; the run adds per (budget, channel, SNR) the member chosen on the validation split
(``selected``) and the one best on the test queries (``hindsight``, optimistic): see
:class:`~semlink.systems.specs.image.McsFamily` and :func:`semlink.systems.base.selection_rows`.

**Capacity bounds.** ``bpg+capacity`` with ``csit = false`` gives each image ``floor(R·B)`` bits at a
rate ``R`` fixed per SNR (a fraction of ``log2(1 + SNR)``, chosen on validation) and delivers them
without errors where the image's slot has ``Σ log2(1 + SNR·|h|²) >= R·B`` (else outage: the fallback);
``csit = true`` gives each image ``floor(Σ log2(1 + SNR·|h|²))`` bits of its own slot (AWGN: B·log2(1 +
SNR)), which needs that capacity known at the transmitter. Both bound separated designs with this
codec only, not every separated design.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from semlink.phy.budget import TransportLayout
from semlink.systems.base import Received, SystemBase
from semlink.systems.image_path import CodecPath, DigitalImagePath
from semlink.systems.specs.image import mcs_variant

__all__ = ["SeparationCapacity", "SeparationLdpc"]


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
    """Codec → transport block at one MCS → DigitalLink → CRC → codec decoder (see the module docstring)."""

    def __init__(self, spec, setting, budget: int, mcs, variant: str = "", family: bool = False) -> None:
        super().__init__(spec, setting, budget)
        self.variant = variant
        self.mcs = mcs
        self.path = DigitalImagePath(spec.codec, spec.codec_options, mcs, self.budget, setting.source.image_shape,
                                     decode_damaged=spec.on_failure == "decode")
        self.selection_metric = spec.selection_metric if family else None
        self.fitted: dict[str, list] = {}

    @classmethod
    def expand(cls, spec, setting, budget: int) -> list[SeparationLdpc]:
        members = [m for m in spec.family(setting.link) if TransportLayout(m).max_bits(budget) > 0]
        family = len(members) > 1
        return [cls(spec, setting, budget, m, mcs_variant(m) if family or spec.mcs is not None else "", family)
                for m in members]

    def channel_uses_with_padding(self, links, channel) -> int:
        return self.path.link(links, channel).channel_uses_with_padding(self.path.max_bits)

    def ebno_offset_db(self, links, channel) -> float:
        return self.path.link(links, channel).ebno_to_snr_db(0.0, self.path.allocation)

    def _fitted(self, ctx) -> list:
        name = ctx.queries.name
        if name not in self.fitted:
            self.fitted[name] = self.path.fit(ctx.encode_cache(), ctx.queries.images)
        return self.fitted[name]

    def prepare(self, ctx, channel) -> None:
        self._fitted(ctx)

    def describe(self, links, channel) -> dict[str, Any]:
        link = links.describe(channel, digital=True, mcs=self.mcs, channel_uses=self.path.allocation)
        return {**link, "on_failure": self.spec.on_failure}

    @torch.no_grad()
    def transmit(self, ctx, channel, snr_db: float) -> Received:
        fitted = self._fitted(ctx)
        payloads = [f.encoded.payload if f.fits else b"" for f in fitted]
        out = self.path.send(ctx.links, channel, snr_db, payloads, ctx.queries.batch_size)
        images, fell_back = _images(ctx.library, out.decoded)
        sent = [i for i, p in enumerate(payloads) if p]
        return Received(
            images=images,
            channel_uses_sent=out.channel_uses,
            extras={
                **_codec_columns(self.spec.codec, fitted),
                "code_block_failure_rate": out.failed_blocks / out.sent_blocks if out.sent_blocks else 0.0,
                "image_failure_rate": float(np.mean([not out.intact[i] for i in sent])) if sent else 0.0,
                "undetected_error_rate": float(np.mean([out.undetected[i] for i in sent])) if sent else 0.0,
                "nothing_fits_rate": 1.0 - len(sent) / len(payloads) if payloads else 0.0,
                "fallback_rate": float(fell_back.mean()),
            },
        )


class SeparationCapacity(SystemBase):
    """The codec at the channel's capacity over the budget, delivered error-free (see the module docstring).

    Without CSIT one system per rate fraction (variant ``R = f·C_awgn``), a family chosen on validation.
    """

    def __init__(self, spec, setting, budget: int, fraction: float | None = None, family: bool = False) -> None:
        super().__init__(spec, setting, budget)
        self.fraction = fraction
        self.variant = "" if fraction is None else f"R={fraction:g} C_awgn"
        self.selection_metric = spec.selection_metric if family else None
        self.path = CodecPath(spec.codec, spec.codec_options, setting.source.image_shape)

    @classmethod
    def expand(cls, spec, setting, budget: int) -> list[SeparationCapacity]:
        if spec.csit:
            return [cls(spec, setting, budget)]
        return [cls(spec, setting, budget, f, family=len(spec.rates) > 1) for f in spec.rates]

    def describe(self, links, channel) -> dict[str, Any]:
        return {**links.describe(channel), "link": "capacity",
                "transmitter_csi": "instantaneous" if self.fraction is None else "none",
                "rate_fraction": self.fraction}

    @torch.no_grad()
    def transmit(self, ctx, channel, snr_db: float) -> Received:
        from semlink.phy.capacity import capacity_bits

        link = ctx.links.analog(channel)
        gains = [link.channel_gains(s.stop - s.start, self.budget) for s in ctx.queries.batches()]
        capacity = capacity_bits(gains, snr_db)
        unbounded = np.iinfo(np.int64).max // 2
        if self.fraction is None:  # CSIT: each image at its own slot's capacity
            budgets = np.where(np.isfinite(capacity), np.floor(np.nan_to_num(capacity, posinf=0.0)),
                               unbounded).astype(np.int64)
            outage = np.zeros(len(budgets), dtype=bool)
        else:  # no CSIT: one rate for every image; lost where the slot cannot carry it
            rate = self.fraction * self.budget * math.log2(1.0 + 10.0 ** (snr_db / 10.0)) \
                if math.isfinite(snr_db) else math.inf
            bits = unbounded if math.isinf(rate) else int(math.floor(rate))
            budgets = np.full(len(capacity), bits, dtype=np.int64)
            outage = capacity < bits
        fitted = self.path.fit(ctx.encode_cache(), ctx.queries.images, budgets)
        decoded: list[np.ndarray | None] = [None] * len(fitted)
        whole = [i for i, f in enumerate(fitted) if f.fits and not outage[i]]
        for i, image in zip(whole, self.path.decode([fitted[i].encoded.payload for i in whole])):
            decoded[i] = image
        images, fell_back = _images(ctx.library, decoded)
        finite = np.isfinite(capacity).all()
        return Received(
            images=images,
            extras={
                **_codec_columns(self.spec.codec, fitted),
                "mean_capacity_bits": float(np.mean(np.floor(capacity))) if finite else math.nan,
                "rate_bits": float(budgets[0]) if self.fraction is not None and finite else math.nan,
                "outage_rate": float(outage.mean()),
                "nothing_fits_rate": float(np.mean([not f.fits for f in fitted])),
                "fallback_rate": float(fell_back.mean()),
            },
        )
