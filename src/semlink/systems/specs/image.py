"""Image schemes' entries: ``bpg+ldpc`` (separation), ``bpg+capacity`` (its bound), ``deep-jscc``.

Codec and modulation names are checked against their registries (:data:`semlink.tx.codecs.base.CODECS`,
:data:`semlink.phy.config.MODULATIONS`), so a new codec needs no change here.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from semlink.config import DbList, Strict
from semlink.systems.specs import BudgetSpec

__all__ = ["CapacitySpec", "DEFAULT_ENVELOPE", "JsccSpec", "JsccTrainSpec", "SeparationSpec"]


def check_modulation(value: str) -> str:
    """A modulation name of :data:`semlink.phy.config.MODULATIONS` (lower-cased), else ``ValueError``."""
    from semlink.phy.config import MODULATIONS

    if not isinstance(value, str) or value.lower() not in MODULATIONS:
        raise ValueError(f"unknown modulation {value!r}; accepted: {', '.join(MODULATIONS)}")
    return value.lower()


DEFAULT_ENVELOPE: tuple[tuple[str, float], ...] = (
    ("qpsk", 1 / 3), ("qpsk", 1 / 2), ("qpsk", 3 / 4), ("16qam", 1 / 2), ("16qam", 3 / 4), ("64qam", 3 / 4),
)
"""(modulation, LDPC rate) pairs an ``mcs = "envelope"`` separation baseline runs by default."""


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


class SeparationSpec(CodecSpec):
    """Image codec → payload bits → 5G LDPC + QAM on the digital link → decoder (the classic scheme).

    ``mcs``: ``"envelope"`` runs every (modulation, LDPC rate) pair of ``mcs_table`` (default
    :data:`DEFAULT_ENVELOPE`) and adds, per SNR, the best on ``envelope_metric`` as variant
    ``envelope``; a list of pairs runs those; None runs the run's ``[link]`` modulation and the code
    rate of its ``[link]`` code. ``on_failure``: ``"fallback"`` (default: any failed code block → the
    training set's mean image), or ``"decode"`` (decode the damaged stream anyway; what cannot be
    decoded falls back).
    """

    type: Literal["bpg+ldpc"]
    mcs: Literal["envelope"] | list[tuple[str, float]] | None = "envelope"
    mcs_table: list[tuple[str, float]] | None = None
    envelope_metric: Literal["top1_accuracy", "psnr_db", "ssim"] = "top1_accuracy"
    on_failure: Literal["fallback", "decode"] = "fallback"

    implementation = "semlink.systems.separation:SeparationLdpc"

    @field_validator("mcs", "mcs_table")
    @classmethod
    def _pairs(cls, value):
        if isinstance(value, list):
            if not value:
                raise ValueError("is empty; give (modulation, code rate) pairs such as [[\"qpsk\", 0.5]]")
            for modulation, rate in value:
                check_modulation(modulation)
                if not 0.2 <= rate <= 0.95:
                    raise ValueError(f"LDPC code rate {rate} outside 5G's [1/5, 0.95]")
        return value

    def mcs_pairs(self, link) -> list[tuple[str, float]]:
        """The (modulation, code rate) pairs this entry runs; ``mcs = None`` takes the run's ``link``."""
        from semlink.errors import SemlinkError

        if self.mcs == "envelope":
            return [(m.lower(), float(r)) for m, r in (self.mcs_table or DEFAULT_ENVELOPE)]
        if self.mcs is None:
            if link.code == "uncoded":
                raise SemlinkError(f"system {self.display_name!r}: mcs = None takes the run's [link] code, which is "
                                   "'uncoded'; give mcs pairs such as [[\"qpsk\", 0.5]] or a coded [link] code")
            return [(link.modulation.lower(), link.code_k / link.code_n)]
        return [(m.lower(), float(r)) for m, r in self.mcs]

    def check(self, link, channels, run_budgets) -> None:
        from semlink.phy.budget import CodeLayout
        from semlink.phy.config import MODULATIONS

        for budget in self.budgets(run_budgets):
            for modulation, rate in self.mcs_pairs(link):
                CodeLayout.filling(budget, MODULATIONS[modulation], rate)


class CapacitySpec(CodecSpec):
    """Image codec at the channel's instantaneous capacity, delivered without errors (the ideal bound)."""

    type: Literal["bpg+capacity"]

    implementation = "semlink.systems.separation:SeparationCapacity"


class JsccTrainSpec(Strict):
    """How a deep-JSCC codec is trained (:class:`semlink.systems.jscc_training.JsccTrainSettings`)."""

    epochs: int = Field(10, gt=0)
    patience: int = Field(3, gt=0)
    batch_size: int = Field(32, gt=1)
    lr: float = Field(3e-3, gt=0)
    snr_db: DbList | None = None  # None: the run's [train] snr_db

    def settings(self, run_snr_db: tuple[float, ...], filters: int):
        from semlink.systems.jscc_training import JsccTrainSettings

        snrs = tuple(self.snr_db if self.snr_db is not None else run_snr_db)
        return JsccTrainSettings(epochs=self.epochs, patience=self.patience, batch_size=self.batch_size,
                                 lr=self.lr, filters=filters, snr_db=snrs)


_MOVED_TO_TRAIN = ("epochs", "patience", "batch_size", "lr")


class JsccSpec(BudgetSpec):
    """Deep JSCC (Bourtsoulatze et al. 2019): conv encoder → ``channel_uses`` symbols on the analog
    link → transposed-conv decoder; trained with MSE through the link (``train``)."""

    type: Literal["deep-jscc"]
    filters: int = Field(16, ge=2)
    train: JsccTrainSpec = JsccTrainSpec()

    implementation = "semlink.systems.jscc:DeepJscc"

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data):
        moved = [key for key in _MOVED_TO_TRAIN if isinstance(data, dict) and key in data]
        if moved:
            shown = ", ".join(f"{key} = {json.dumps(data[key])}" for key in moved)
            raise ValueError(f"{', '.join(moved)} moved into the entry's train table: write train = {{ {shown} }}")
        return data
