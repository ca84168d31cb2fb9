"""Image schemes' entries: ``bpg+ldpc`` (separation), ``bpg+capacity`` (its bound), ``deep-jscc``.

Codec and modulation names are checked against their registries (:data:`semlink.tx.codecs.base.CODECS`,
:data:`semlink.phy.config.MODULATIONS`), so a new codec needs no change here.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, StrictBool, field_validator, model_validator

from semlink.config import DbList, Strict
from semlink.systems.specs import BudgetSpec

__all__ = [
    "CapacitySpec", "JsccSpec", "JsccTrainSpec", "LinearAnalogSpec", "McsFamily", "SeparationSpec", "mcs_variant",
]


def check_modulation(value: str) -> str:
    """A modulation name of :data:`semlink.phy.config.MODULATIONS` (lower-cased), else ``ValueError``."""
    from semlink.phy.config import MODULATIONS

    if not isinstance(value, str) or value.lower() not in MODULATIONS:
        raise ValueError(f"unknown modulation {value!r}; accepted: {', '.join(MODULATIONS)}")
    return value.lower()



def _refuse_renamed(data: Any, old: str, new: str, why: str) -> Any:
    """A config entry as given, refused with what to write instead where it still names the key ``old``."""
    if isinstance(data, dict) and old in data:
        raise ValueError(f"{old} is now {new} ({why}): write {new} = {json.dumps(data[old])}")
    return data

class CodecSpec(BudgetSpec):
    """An image codec by name (:func:`semlink.tx.codecs.create_codec`) and its options."""

    codec: str = "bpg"
    codec_options: dict[str, Any] = {}

    @property
    def display_name(self) -> str:
        return self.name or self.type.replace("bpg", self.codec, 1)

    @field_validator("codec")
    @classmethod
    def _known_codec(cls, value: str) -> str:
        from semlink.tx.codecs.base import CODECS

        if value not in CODECS:
            raise ValueError(f"unknown codec {value!r}; accepted: {', '.join(CODECS.names())}")
        return value


class McsFamily(Strict):
    """A digital scheme's MCS: one, or a family chosen per (budget, channel, SNR) on the validation split.

    - ``mcs_table``: ``"38.214-1"`` (TS 38.214 Table 5.1.3.1-1, QPSK 120/1024 ... 64-QAM 948/1024; the
      default), ``"38.214-2"`` (the 256-QAM table), or hand-written ``[[modulation, rate], ...]`` pairs.
    - ``mcs``: ``"select"`` (default; ``"envelope"`` is the same): every entry of the table (or the
      ``mcs_indices`` subset), each a variant of its own in the results, plus per (budget, channel,
      SNR) the member best on ``selection_metric`` over the validation split, evaluated on the test
      queries (variant ``selected``), and the member best on the test queries themselves (``hindsight``:
      optimistic, as the JSCC literature's envelopes are); a list of MCS indices of the table, or of
      (modulation, rate) pairs, runs those (a family when there are several); None: the run's
      ``[link]`` modulation and the rate of its code, one MCS.
    """

    mcs_table: Literal["38.214-1", "38.214-2"] | list[tuple[str, float]] = "38.214-1"
    mcs: Literal["select", "envelope"] | list[int] | list[tuple[str, float]] | None = "select"
    mcs_indices: list[int] | None = None
    selection_metric: Literal["top1_accuracy", "psnr_db", "ssim", "feature_cosine"] = "top1_accuracy"

    @field_validator("mcs_table", "mcs")
    @classmethod
    def _pairs(cls, value):
        if isinstance(value, list):
            if not value:
                raise ValueError("is empty; give MCS indices such as [0, 4, 9] or (modulation, rate) pairs such as "
                                 "[[\"qpsk\", 0.5]]")
            for item in value:
                if isinstance(item, (list, tuple)):
                    check_modulation(item[0])
                    if not 0 < item[1] <= 948 / 1024:
                        raise ValueError(f"code rate {item[1]} outside 5G's (0, 948/1024]")
        return value

    def family(self, link) -> list:
        """The :class:`~semlink.phy.mcs.Mcs` members this entry runs, in order."""
        from semlink.errors import SemlinkError
        from semlink.phy.mcs import Mcs, mcs_from_table, mcs_table

        def from_pair(pair) -> Mcs:
            return Mcs(pair[0].lower(), float(pair[1]))

        table = self.mcs_table
        if self.mcs is None:
            if link.code == "uncoded":
                raise SemlinkError(f"system {self.display_name!r}: mcs = None takes the run's [link] code, which is "
                                   "'uncoded'; give an MCS table or pairs such as [[\"qpsk\", 0.5]]")
            return [Mcs(link.modulation.lower(), link.code_k / link.code_n)]
        if isinstance(self.mcs, list):
            if all(isinstance(m, int) for m in self.mcs):
                if not isinstance(table, str):
                    raise SemlinkError(f"system {self.display_name!r}: mcs indices {self.mcs} need a 38.214 "
                                       "mcs_table, not hand-written pairs")
                return [mcs_from_table(table, i) for i in self.mcs]
            return [from_pair(p) for p in self.mcs]
        if isinstance(table, str):
            members = mcs_table(table)
            return members if self.mcs_indices is None else [mcs_from_table(table, i) for i in self.mcs_indices]
        return [from_pair(p) for p in table]

    def selects(self, link) -> bool:
        """Whether this entry is a family chosen on validation (more than one MCS)."""
        return len(self.family(link)) > 1


def mcs_variant(mcs) -> str:
    """A member's variant label: ``MCS 9`` for a table entry, ``qpsk r=1/2`` for a hand-written pair."""
    if mcs.index is not None:
        return f"MCS {mcs.index}"
    from fractions import Fraction

    fraction = Fraction(mcs.target_rate).limit_denominator(12)
    rate = f"{fraction.numerator}/{fraction.denominator}" if abs(float(fraction) - mcs.target_rate) < 1e-6 \
        else f"{mcs.target_rate:.3g}"
    return f"{mcs.modulation} r={rate}"


class SeparationSpec(McsFamily, CodecSpec):
    """Image codec → payload bits → 5G NR transport blocks (CRC, LDPC, rate matching) → QAM on the digital
    link → decoder: the classic scheme, at the MCS of :class:`McsFamily`. ``on_failure``: ``"fallback"``
    (default: a failed transport block → the training set's mean image), or ``"decode"`` (decode what was
    received anyway; what cannot be decoded falls back)."""

    type: Literal["bpg+ldpc"]
    on_failure: Literal["fallback", "decode"] = "fallback"

    implementation = "semlink.systems.separation:SeparationLdpc"

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data):
        return _refuse_renamed(data, "envelope_metric", "selection_metric",
                               "the family's member is chosen on the validation split")

    def check(self, link, channels, run_budgets) -> None:
        from semlink.errors import SemlinkError
        from semlink.phy.budget import TransportLayout

        for budget in self.budgets(run_budgets):
            fitting = [m for m in self.family(link) if TransportLayout(m).max_bits(budget) > 0]
            if not fitting:
                raise SemlinkError(f"system {self.display_name!r}: a budget of {budget} channel uses carries no "
                                   "transport block at any of its MCS; raise channel_uses or add lower MCS")


class CapacitySpec(CodecSpec):
    """Image codec at the channel's capacity, delivered without errors: what bounds separation with this codec.

    ``csit = false`` (default): without channel knowledge at the transmitter, a fixed rate per SNR —
    ``rates`` (fractions of the AWGN capacity ``log2(1 + SNR)`` per channel use), chosen per (budget,
    channel, SNR) on the validation split — delivered where the slot's instantaneous capacity covers it,
    lost otherwise (outage: the fallback image). ``csit = true``: each image at its own slot's
    instantaneous capacity, which needs that capacity known at the transmitter (its rows are named so).
    """

    type: Literal["bpg+capacity"]
    csit: bool = False
    rates: list[float] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    selection_metric: Literal["top1_accuracy", "psnr_db", "ssim", "feature_cosine"] = "top1_accuracy"

    implementation = "semlink.systems.separation:SeparationCapacity"

    @property
    def display_name(self) -> str:
        return self.name or self.type.replace("bpg", self.codec, 1) + ("-csit" if self.csit else "")

    @field_validator("rates")
    @classmethod
    def _rates(cls, value: list[float]) -> list[float]:
        if not value or any(not 0 < r <= 1 for r in value) or len(set(value)) != len(value):
            raise ValueError(f"rates {value} must be distinct fractions in (0, 1] of the AWGN capacity")
        return value


class JsccTrainSpec(Strict):
    """How a deep-JSCC codec is trained (:class:`semlink.systems.jscc_training.JsccTrainSettings`).

    ``images``: ``"split"`` (the run's training split, as every trained scheme) or ``"pool"`` (every image
    of the dataset's training split outside the run's validation halves: image schemes learn from
    images, and a learned baseline is trained as well as its paper's).
    """

    max_epochs: int = Field(8, gt=0)
    patience: int = Field(3, gt=0)
    batch_size: int = Field(64, gt=1)
    lr: float = Field(2e-3, gt=0)
    warmup_epochs: float = Field(0.1, ge=0)
    final_lr_fraction: float = Field(0.02, gt=0, le=1)
    loss: Literal["mse", "psnr"] = "mse"
    snr_db: DbList | None = None  # None: the run's [train] snr_db
    images: Literal["split", "pool"] = "split"

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data):
        return _refuse_renamed(data, "epochs", "max_epochs",
                               "training stops earlier when the validation PSNR stops improving")

    def settings(self, run_snr_db: tuple[float, ...], **architecture: Any):
        from semlink.systems.jscc_training import JsccTrainSettings

        snrs = tuple(self.snr_db if self.snr_db is not None else run_snr_db)
        values = self.model_dump(exclude={"snr_db", "images"})
        return JsccTrainSettings(**values, snr_db=snrs, **architecture)


_MOVED_TO_TRAIN = ("epochs", "max_epochs", "patience", "batch_size", "lr")


class JsccSpec(BudgetSpec):
    """Deep JSCC: a conv encoder → ``channel_uses`` symbols on the analog link → a transposed-conv decoder,
    trained with MSE through the link (:mod:`semlink.systems.jscc_model`).

    - ``snr_adaptive`` (default): attention-feature modules conditioned on the SNR in encoder and decoder
      (ADJSCC, Xu et al. 2021); the encoder is told the fed-back SNR (rows: ``snr_at_transmitter``), the
      decoder only what its front end reports. ``false``: Bourtsoulatze et al. 2019, a blind decoder.
    - ``per_snr``: one codec trained at each training SNR (the 2019 paper's curves), a family chosen per
      SNR on the validation split (needs ``snr_adaptive = false``).
    - ``linear_skip`` (default): the networks learn corrections to the linear analog code (its KLT fitted
      on the training images; see :mod:`semlink.systems.jscc_model`): on a CPU budget of minutes the
      plain networks do not reach the linear code; ``false``: the plain networks.
    - ``filters``, ``gdn``: width and GDN/IGDN activations.
    - ``codec_per_budget``: one codec per budget instead of one serving every budget of the entry.
    """

    type: Literal["deep-jscc"]
    filters: int = Field(16, ge=2)
    snr_adaptive: StrictBool = True
    gdn: StrictBool = False
    linear_skip: StrictBool = True
    per_snr: StrictBool = False
    codec_per_budget: StrictBool = False
    selection_metric: Literal["psnr_db", "top1_accuracy", "ssim", "feature_cosine"] = "psnr_db"
    train: JsccTrainSpec = JsccTrainSpec()

    implementation = "semlink.systems.jscc:DeepJscc"

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data):
        moved = [key for key in _MOVED_TO_TRAIN if isinstance(data, dict) and key in data]
        if moved:
            shown = ", ".join(f"{'max_epochs' if key == 'epochs' else key} = {json.dumps(data[key])}" for key in moved)
            raise ValueError(f"{', '.join(moved)} moved into the entry's train table: write train = {{ {shown} }}")
        return data

    @model_validator(mode="after")
    def _per_snr(self):
        if self.per_snr and self.snr_adaptive:
            raise ValueError("per_snr = true trains one codec per SNR, which needs no SNR input: set "
                             "snr_adaptive = false (Bourtsoulatze et al. 2019's per-SNR codecs)")
        return self

    @property
    def architecture(self) -> str:
        """What the rows call the codec: ``adjscc`` | ``bourtsoulatze2019``, ``+linear-skip``, ``+gdn``."""
        name = "adjscc" if self.snr_adaptive else "bourtsoulatze2019"
        return name + ("+linear-skip" if self.linear_skip else "") + ("+gdn" if self.gdn else "")

    def training_snrs(self, run_snr_db) -> tuple[float, ...]:
        return tuple(float(s) for s in (self.train.snr_db if self.train.snr_db is not None else run_snr_db))


class LinearAnalogSpec(BudgetSpec):
    """The classic uncoded analog code: the KLT of the training images, Lee-Petersen power allocation over
    as many coefficients as the budget's reals, LMMSE estimation at the receiver
    (:mod:`semlink.tx.linear_analog`). Closed form, nothing trained: the floor every learned analog code
    must clear. ``images``: fitted on the run's training split or the pool (:class:`JsccTrainSpec`)."""

    type: Literal["linear-analog"]
    images: Literal["split", "pool"] = "split"

    implementation = "semlink.systems.jscc:LinearAnalog"
