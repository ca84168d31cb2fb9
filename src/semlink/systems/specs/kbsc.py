"""``kbsc`` and ``kbsc-digital`` entries: the learned feature codec, analog or through the digital link.

Each entry trains its own codecs (``train``: the recipe and its settings, see
:class:`semlink.systems.kbsc_recipes.TrainSettings`); the training SNRs and seeds come from the
run's ``[train]`` unless ``train.snr_db`` overrides them.

>>> spec = KbscSpec(type="kbsc", train={"epochs": 5})
>>> spec.train.settings((0.0, 10.0)).epochs, spec.train.settings((0.0, 10.0)).snr_db
(5, (0.0, 10.0))
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from semlink.config import DbList, Strict
from semlink.systems.specs import BudgetSpec

__all__ = ["KbscDigitalSpec", "KbscSpec", "KbscTrainSpec"]


class KbscTrainSpec(Strict):
    """How a KBSC codec is trained. Keys left out (None) take the recipe's value
    (:data:`semlink.systems.kbsc_recipes.RECIPE_DEFAULTS`); see
    :class:`semlink.systems.kbsc_recipes.TrainSettings` for each."""

    recipe: Literal["robust", "reference"] = "robust"
    epochs: int = Field(100, gt=0)
    patience: int = Field(20, gt=0)
    batch_size: int = Field(128, gt=1)
    lr: float | None = Field(None, gt=0)
    snr_db: DbList | None = None  # None: the run's [train] snr_db
    hidden_dim: int = Field(384, gt=0)
    class_weight: float | None = Field(None, ge=0)
    noise_input: Literal["none", "mmse", "mmse-film"] | None = None
    schedule: Literal["constant", "cosine"] | None = None
    warmup_epochs: float | None = Field(None, ge=0)
    weight_decay: float | None = Field(None, ge=0)
    ema_decay: float | None = Field(None, ge=0, lt=1)
    selection: Literal["best", "smoothed"] | None = None
    smoothing_window: int = Field(3, ge=1)
    validation: Literal["split", "every-snr"] | None = None
    val_size: int | None = Field(None, ge=1)
    snr_draw: Literal["batch", "example"] | None = None

    @model_validator(mode="after")
    def _check_settings(self):
        if self.warmup_epochs is not None and self.warmup_epochs >= self.epochs:
            raise ValueError(f"warmup_epochs = {self.warmup_epochs} must be shorter than epochs = {self.epochs}")
        return self

    def settings(self, run_snr_db: tuple[float, ...]):
        """The :class:`~semlink.systems.kbsc_recipes.TrainSettings` (training SNRs: ours, else the run's)."""
        from semlink.systems.kbsc_recipes import TrainSettings

        values = self.model_dump()
        values["snr_db"] = tuple(self.snr_db if self.snr_db is not None else run_snr_db)
        return TrainSettings(**values)


class KbscSpec(BudgetSpec):
    """Learned feature compressor → ``channel_uses`` complex symbols on the analog link."""

    type: Literal["kbsc"]
    train: KbscTrainSpec = KbscTrainSpec()

    implementation = "semlink.systems.kbsc:KbscAnalog"


class KbscDigitalSpec(BudgetSpec):
    """Compressed feature → quantiser → 5G LDPC + QAM on the digital link, within the budget.

    The code is ``code`` (k, n), or — with ``code_rate`` — the 5G code that fills each budget
    (:meth:`semlink.phy.budget.CodeLayout.filling`), else the run's ``[link]`` code.
    """

    type: Literal["kbsc-digital"]
    bits_per_value: int = Field(1, ge=1, le=16)
    modulation: str | None = None  # default: the run's [link] modulation
    code: tuple[int, int] | Literal["uncoded"] | None = None  # default: the run's [link] code
    code_rate: float | None = Field(None, ge=0.2, le=0.95)
    train: KbscTrainSpec = KbscTrainSpec()

    implementation = "semlink.systems.kbsc:KbscDigital"

    @model_validator(mode="after")
    def _one_code(self):
        if self.code is not None and self.code_rate is not None:
            raise ValueError("give code (k, n) or code_rate, not both")
        return self

    def resolved_modulation(self, link) -> str:
        return (self.modulation or link.modulation).lower()

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
        from semlink.errors import SemlinkError, choice_error
        from semlink.phy.budget import CodeLayout
        from semlink.phy.config import MODULATIONS

        if modulation not in MODULATIONS:
            raise choice_error("modulation", modulation, MODULATIONS)
        bps, q = MODULATIONS[modulation], self.bits_per_value
        coding = CodeLayout(bps, None if code == "uncoded" else tuple(code))
        latent = coding.max_bits(budget) // q // 2 * 2
        if latent < 2:
            raise SemlinkError(
                f"system {self.display_name!r}: a budget of {budget} channel uses cannot carry one code block of "
                f"{modulation} with code {code} ({coding.symbols(2 * q)} uses at least); raise channel_uses, use a "
                "shorter code or give code_rate to fit the code to each budget"
            )
        return latent, latent * q, coding.symbols(latent * q)

    def check(self, link, channels, run_budgets) -> None:
        modulation = self.resolved_modulation(link)
        for channel in channels:
            for budget in self.budgets(run_budgets):
                code = self.resolved_code(budget, modulation, link.code)
                k, n = (None, None) if code == "uncoded" else code
                link.digital(channel=channel.build(), modulation=modulation, code_k=k, code_n=n)
                self.layout(budget, modulation, code)
