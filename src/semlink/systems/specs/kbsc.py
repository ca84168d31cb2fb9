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
from semlink.systems.specs.image import McsFamily

__all__ = ["KbscDigitalSpec", "KbscLabelsSpec", "KbscSpec", "KbscTrainSpec"]


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
    val_snrs: int | None = Field(None, ge=1)
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
    """Learned feature compressor → ``channel_uses`` complex symbols on the analog link → decompressor,
    trained without labels (the published objective); ``kbsc+labels`` is the class-aware variant."""

    type: Literal["kbsc"]
    train: KbscTrainSpec = KbscTrainSpec()

    implementation = "semlink.systems.kbsc:KbscAnalog"

    @model_validator(mode="after")
    def _label_free(self):
        if self.train.class_weight:
            raise ValueError(f"train.class_weight = {self.train.class_weight}: a codec trained with the class labels "
                             "is its own system; write type = \"kbsc+labels\" (its rows are named so)")
        return self


class KbscLabelsTrainSpec(KbscTrainSpec):
    """:class:`KbscTrainSpec` whose class-aware term is on unless set (``class_weight = 1``)."""

    class_weight: float | None = Field(1.0, gt=0)


class KbscLabelsSpec(BudgetSpec):
    """KBSC trained with the training split's class labels (the robust recipe's supervised-contrastive term,
    ``train.class_weight``, default 1): not the published, label-free objective, hence its own name."""

    type: Literal["kbsc+labels"]
    train: KbscLabelsTrainSpec = KbscLabelsTrainSpec()

    implementation = "semlink.systems.kbsc:KbscAnalog"

    @model_validator(mode="after")
    def _with_labels(self):
        if self.train.recipe != "robust":
            raise ValueError("kbsc+labels needs the robust recipe (its loss holds the class-aware term)")
        return self


class KbscDigitalSpec(McsFamily, BudgetSpec):
    """Compressed feature → quantiser → 5G NR transport block at an MCS on the digital link, within the
    budget: as many latent values as the budget's transport block carries (``bits_per_value`` bits each).

    The MCS (:class:`~semlink.systems.specs.image.McsFamily`): by default one, 38.214-1 MCS 12 (16-QAM
    434/1024); several (``mcs = [...]`` or ``"select"``) make a family chosen per SNR on validation, one
    codec per member (the latent size follows the member's transport block).
    """

    type: Literal["kbsc-digital"]
    bits_per_value: int = Field(1, ge=1, le=16)
    mcs: Literal["select", "envelope"] | list[int] | list[tuple[str, float]] | None = [12]
    train: KbscTrainSpec = KbscTrainSpec()

    implementation = "semlink.systems.kbsc:KbscDigital"

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data):
        moved = [key for key in ("modulation", "code", "code_rate") if isinstance(data, dict) and key in data]
        if moved:
            raise ValueError(f"{', '.join(moved)}: kbsc-digital sends 5G NR transport blocks at an MCS now; give "
                             "mcs = [index] of mcs_table (default 38.214-1), e.g. mcs = [12] for 16-QAM 434/1024, "
                             "or mcs = [[\"16qam\", 0.5]]")
        return data

    def layout(self, budget: int, mcs) -> tuple[int, int]:
        """``(latent values, transport block bits)`` per image at ``mcs``: the largest even latent of
        ``bits_per_value``-bit values that the budget's transport block carries (0 latent values: none fits)."""
        from semlink.phy.budget import TransportLayout

        tbs = TransportLayout(mcs).max_bits(budget)
        return tbs // self.bits_per_value // 2 * 2, tbs

    def check(self, link, channels, run_budgets) -> None:
        from semlink.errors import SemlinkError

        for budget in self.budgets(run_budgets):
            if not any(self.layout(budget, m)[0] >= 2 for m in self.family(link)):
                raise SemlinkError(
                    f"system {self.display_name!r}: a budget of {budget} channel uses carries no transport block of "
                    f"at least 2 latent values at any of its MCS; raise channel_uses or choose a lower MCS"
                )
