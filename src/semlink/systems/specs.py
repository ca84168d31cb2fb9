"""What a ``[[systems]]`` entry of a run config may say, per system type (pydantic, no torch).

Each type has its own spec class, so a key that belongs to another type is refused by name.
:data:`SYSTEM_SPECS` maps the config ``type`` to its spec class; :data:`SYSTEM_CLASSES` maps it to
the implementing class as ``"module:Class"``, imported only when a run builds the system (so
validating a config stays fast). A new scheme adds one spec class and one entry in each table (or
calls :func:`semlink.systems.register_system`).

A spec that takes a channel-use *budget* (``channel_uses``: one value or a list) is expanded into
one system per budget; without ``channel_uses`` it takes the run's ``budgets``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from semlink.sim.config import Strict

__all__ = ["SYSTEM_CLASSES", "SYSTEM_SPECS", "SystemSpec", "BudgetSpec", "parse_system_spec"]


class SystemSpec(Strict):
    """Fields every system entry has."""

    type: str
    name: str | None = None  # the results' `system` column; default: the type

    takes_budget: ClassVar[bool] = False

    @property
    def display_name(self) -> str:
        return self.name or self.type

    def budgets(self, run_budgets: list[int] | None) -> list[int | None]:
        """The channel-use budgets this entry is evaluated at (``[None]`` for schemes without one)."""
        return [None]


class BudgetSpec(SystemSpec):
    """A scheme held to a channel-use budget: complex channel symbols per image."""

    channel_uses: int | list[int] | None = None

    takes_budget: ClassVar[bool] = True

    @field_validator("channel_uses")
    @classmethod
    def _positive(cls, value):
        values = value if isinstance(value, list) else [value] if value is not None else []
        if isinstance(value, list) and not value:
            raise ValueError("is an empty list; give at least one budget in channel uses")
        bad = [v for v in values if v <= 0]
        if bad:
            raise ValueError(f"budgets must be positive numbers of channel uses, got {bad}")
        if len(set(values)) != len(values):
            raise ValueError(f"repeats a budget: {values}")
        return value

    def budgets(self, run_budgets: list[int] | None) -> list[int | None]:
        if self.channel_uses is not None:
            return list(self.channel_uses) if isinstance(self.channel_uses, list) else [self.channel_uses]
        if run_budgets:
            return list(run_budgets)
        raise ValueError(
            f"system {self.display_name!r} (type {self.type!r}) needs a channel-use budget: give channel_uses "
            "in its [[systems]] entry or a run-level budgets list"
        )


class KbscSpec(BudgetSpec):
    """Learned feature compressor → ``channel_uses`` complex symbols on the analog link."""

    type: Literal["kbsc"]


class KbscDigitalSpec(BudgetSpec):
    """Compressed feature → quantiser → 5G LDPC + QAM on the digital link, within the budget.

    The code is ``code`` (k, n), or — with ``code_rate`` — the 5G code that fills each budget
    (:func:`semlink.phy.code_for_budget`), else the run's ``[link]`` code.
    """

    type: Literal["kbsc-digital"]
    bits_per_value: int = Field(1, ge=1, le=16)
    modulation: str | None = None  # default: the run's [link] modulation
    code: tuple[int, int] | Literal["uncoded"] | None = None  # default: the run's [link] code
    code_rate: float | None = Field(None, ge=0.2, le=0.95)

    @model_validator(mode="after")
    def _one_code(self):
        if self.code is not None and self.code_rate is not None:
            raise ValueError("give code (k, n) or code_rate, not both")
        return self

    def resolved_code(self, budget: int, modulation: str, link_code) -> tuple[int, int] | str:
        """The code this entry uses at ``budget`` channel uses."""
        from semlink.phy.budget import code_for_budget
        from semlink.phy.config import MODULATIONS

        if self.code is not None:
            return self.code
        if self.code_rate is not None:
            return code_for_budget(budget, MODULATIONS[modulation], self.code_rate)
        return link_code

    def layout(self, budget: int, modulation: str, code) -> tuple[int, int, int]:
        """``(latent values, payload bits, channel uses)`` per image: the largest even latent whose code
        blocks (padding included) fit the budget; raises ``SemlinkError`` when not even 2 values fit."""
        import math

        from semlink.errors import SemlinkError, choice_error
        from semlink.phy.config import MODULATIONS

        if modulation not in MODULATIONS:
            raise choice_error("modulation", modulation, MODULATIONS)
        bps, q = MODULATIONS[modulation], self.bits_per_value

        def uses(latent: int) -> int:
            bits = latent * q
            coded = bits if code == "uncoded" else math.ceil(bits / code[0]) * code[1]
            return math.ceil(coded / bps)

        k, n = (1, 1) if code == "uncoded" else code
        latent = int(budget * bps * k / n / q) // 2 * 2
        while latent >= 2 and uses(latent) > budget:
            latent -= 2
        if latent < 2:
            raise SemlinkError(
                f"system {self.display_name!r}: a budget of {budget} channel uses cannot carry one code block of "
                f"{modulation} with code {code} ({uses(2)} uses at least); raise channel_uses, use a shorter code "
                "or give code_rate to fit the code to each budget"
            )
        return latent, latent * q, uses(latent)


class RawSpec(SystemSpec):
    """The uncompressed feature as D/2 complex symbols on the analog link."""

    type: Literal["raw"]


class NoiselessSpec(SystemSpec):
    """No channel: the receiver gets the sent feature (raw-feature kNN-1; it bounds codecs that rebuild
    the feature, not a class-aware one)."""

    type: Literal["noiseless"]


DEFAULT_ENVELOPE: tuple[tuple[str, float], ...] = (
    ("qpsk", 1 / 3), ("qpsk", 1 / 2), ("qpsk", 3 / 4), ("16qam", 1 / 2), ("16qam", 3 / 4), ("64qam", 3 / 4),
)
"""(modulation, LDPC rate) pairs an ``mcs = "envelope"`` separation baseline runs by default."""


class _CodecSpec(BudgetSpec):
    """An image codec by name (:func:`semlink.tx.codecs.create_codec`) and its options."""

    codec: str = "bpg"
    codec_options: dict[str, Any] = {}

    @property
    def display_name(self) -> str:
        return self.name or self.type.replace("bpg", self.codec, 1)

    @field_validator("codec")
    @classmethod
    def _known_codec(cls, value: str) -> str:
        known = ("bpg", "jpeg", "webp", "avif", "jpeg2000")
        if value not in known:
            raise ValueError(f"unknown codec {value!r}; accepted: {', '.join(known)}")
        return value


class SeparationSpec(_CodecSpec):
    """Image codec → payload bits → 5G LDPC + QAM on the digital link → decoder (the classic scheme).

    ``mcs``: ``"envelope"`` runs every (modulation, LDPC rate) pair of ``mcs_table`` (default
    :data:`DEFAULT_ENVELOPE`) and adds, per SNR, the best on ``envelope_metric`` as variant
    ``envelope``; a list of pairs runs those; None runs the run's ``[link]`` modulation and code rate.
    ``on_failure``: ``"fallback"`` (default: any failed code block → the training set's mean image),
    or ``"decode"`` (decode the damaged stream anyway; what cannot be decoded falls back).
    """

    type: Literal["bpg+ldpc"]
    mcs: Literal["envelope"] | list[tuple[str, float]] | None = "envelope"
    mcs_table: list[tuple[str, float]] | None = None
    envelope_metric: Literal["top1_accuracy", "psnr_db", "ssim"] = "top1_accuracy"
    on_failure: Literal["fallback", "decode"] = "fallback"

    @field_validator("mcs", "mcs_table")
    @classmethod
    def _pairs(cls, value):
        if isinstance(value, list):
            if not value:
                raise ValueError("is empty; give (modulation, code rate) pairs such as [[\"qpsk\", 0.5]]")
            for modulation, rate in value:
                if modulation.lower() not in ("qpsk", "16qam", "64qam", "256qam"):
                    raise ValueError(f"unknown modulation {modulation!r}; accepted: qpsk, 16qam, 64qam, 256qam")
                if not 0.2 <= rate <= 0.95:
                    raise ValueError(f"LDPC code rate {rate} outside 5G's [1/5, 0.95]")
        return value

    def mcs_pairs(self, link_modulation: str, link_rate: float) -> list[tuple[str, float]]:
        if self.mcs == "envelope":
            return [(m.lower(), float(r)) for m, r in (self.mcs_table or DEFAULT_ENVELOPE)]
        if self.mcs is None:
            return [(link_modulation.lower(), float(link_rate))]
        return [(m.lower(), float(r)) for m, r in self.mcs]


class CapacitySpec(_CodecSpec):
    """Image codec at the channel's instantaneous capacity, delivered without errors (the ideal bound)."""

    type: Literal["bpg+capacity"]


class JsccSpec(BudgetSpec):
    """Deep JSCC (Bourtsoulatze et al. 2019): conv encoder → ``channel_uses`` symbols on the analog
    link → transposed-conv decoder; trained with MSE through the link at the run's training SNRs."""

    type: Literal["deep-jscc"]
    epochs: int = Field(10, gt=0)
    patience: int = Field(3, gt=0)
    batch_size: int = Field(32, gt=1)
    lr: float = Field(3e-3, gt=0)
    filters: int = Field(16, ge=2)


class MultiScSpec(BudgetSpec):
    """Multi-text semantic transmission (Huang & Li 2025) and its single-text ablations.

    ``multi-sc``: the main object's crop (an image path) + one caption per block of a ``grid × grid``
    cut; ``single-text-sc``: one caption of the whole image + the crop; ``vlm-csc``: one caption, no
    crop. The budget is the total channel uses per image: the crop gets ``crop_fraction`` of it, the
    box 64 bits on the text link, each caption an equal share of the rest (``vlm-csc``: all of it).
    Stages are registry specs (:mod:`semlink.tx.segment`, :mod:`semlink.tx.caption`,
    :mod:`semlink.rx.correct`, :mod:`semlink.rx.reconstruct`); ``corrector = "none"`` turns
    correction off, ``ip_scale`` is the image-prompt weight λ of ``ip-adapter`` (0: text only).
    """

    type: Literal["multi-sc", "single-text-sc", "vlm-csc"]
    grid: int | None = Field(None, ge=1, le=8)  # default 2 for multi-sc, 1 for the others
    segmenter: str = "u2netp"
    captioner: str = "imagenet-labels"
    corrector: str = "symspell"
    reconstructor: str = "kb-compose"
    reconstructor_options: dict[str, Any] = {}
    ip_scale: float = Field(0.5, ge=0)
    crop_fraction: float = Field(0.5, gt=0, lt=1)
    crop_size: int = Field(64, ge=16, le=1024)  # the crop is resized to crop_size² before its image path
    crop_scheme: Literal["bpg+ldpc", "deep-jscc"] = "bpg+ldpc"
    crop_modulation: str = "qpsk"
    crop_rate: float = Field(0.5, ge=0.2, le=0.95)
    crop_epochs: int = Field(10, gt=0)  # deep-jscc crop path: training epochs
    text_modulation: str = "qpsk"
    text_rate: float | None = Field(None, ge=0.2, le=0.95)  # None: uncoded (bit errors the corrector can fix)

    def preflight(self) -> None:
        """Before any data or model is loaded: every model a stage names must be on disk.

        Raises :class:`semlink.errors.MissingResourceError` naming the stage, its spec and the path
        (the stage's own loader checks the folder's contents when it loads).
        """
        from pathlib import Path

        from semlink.errors import MissingResourceError

        stages = [("captioner", self.captioner), ("corrector", self.corrector), ("reconstructor", self.reconstructor)]
        if self.sends_crop:
            stages.insert(0, ("segmenter", self.segmenter))
        for stage, spec in stages:
            backend, _, argument = spec.partition(":")
            if argument and not Path(argument).expanduser().exists():
                raise MissingResourceError(
                    f"system {self.display_name!r}: {stage} {spec!r} names {argument!r}, which does not exist; "
                    f"put the {backend} model there (saved with save_pretrained, or the weights file) - nothing is "
                    "downloaded at run time - or use the offline default"
                )

    @property
    def blocks(self) -> int:
        grid = self.grid if self.grid is not None else (2 if self.type == "multi-sc" else 1)
        return grid * grid

    @property
    def sends_crop(self) -> bool:
        return self.type != "vlm-csc"

    @field_validator("grid")
    @classmethod
    def _grid(cls, value, info):
        if value is not None and value != 1 and info.data.get("type") in ("single-text-sc", "vlm-csc"):
            raise ValueError(f"grid = {value}: single-text-sc and vlm-csc send one caption (grid 1)")
        return value

    @field_validator("crop_modulation", "text_modulation")
    @classmethod
    def _modulation(cls, value: str) -> str:
        if value.lower() not in ("qpsk", "16qam", "64qam", "256qam"):
            raise ValueError(f"unknown modulation {value!r}; accepted: qpsk, 16qam, 64qam, 256qam")
        return value.lower()


SYSTEM_SPECS: dict[str, type[SystemSpec]] = {
    "kbsc": KbscSpec,
    "kbsc-digital": KbscDigitalSpec,
    "raw": RawSpec,
    "noiseless": NoiselessSpec,
    "bpg+ldpc": SeparationSpec,
    "bpg+capacity": CapacitySpec,
    "deep-jscc": JsccSpec,
    "multi-sc": MultiScSpec,
    "single-text-sc": MultiScSpec,
    "vlm-csc": MultiScSpec,
}

SYSTEM_CLASSES: dict[str, str] = {
    "kbsc": "semlink.systems.kbsc:KbscAnalog",
    "kbsc-digital": "semlink.systems.kbsc:KbscDigital",
    "raw": "semlink.systems.reference:RawFeatures",
    "noiseless": "semlink.systems.reference:Noiseless",
    "bpg+ldpc": "semlink.systems.separation:SeparationLdpc",
    "bpg+capacity": "semlink.systems.separation:SeparationCapacity",
    "deep-jscc": "semlink.systems.jscc:DeepJscc",
    "multi-sc": "semlink.systems.multisc:MultiSc",
    "single-text-sc": "semlink.systems.multisc:MultiSc",
    "vlm-csc": "semlink.systems.multisc:MultiSc",
}


def parse_system_spec(data: Any, where: str = "[[systems]] entry") -> SystemSpec:
    """Validate one ``[[systems]]`` entry against its type's spec class.

    Raises ``ValueError`` with one line naming the entry, the bad key or value and what is accepted.
    """
    from pydantic import ValidationError

    from semlink.sim.config import format_validation_error

    if isinstance(data, SystemSpec):
        return data
    if not isinstance(data, dict) or "type" not in data:
        raise ValueError(f"{where} needs a type; accepted: {', '.join(sorted(SYSTEM_SPECS))}")
    kind = data["type"]
    if kind not in SYSTEM_SPECS:
        raise ValueError(f"{where}: unknown system type {kind!r}; accepted: {', '.join(sorted(SYSTEM_SPECS))}")
    try:
        return SYSTEM_SPECS[kind].model_validate(data)
    except ValidationError as err:
        raise ValueError(format_validation_error(err, f"{where} (type {kind!r})")) from None
