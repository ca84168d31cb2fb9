"""Multi-SC entries: ``multi-sc`` (Huang & Li 2025) and its single-text ablations ``single-text-sc``, ``vlm-csc``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from semlink.systems.specs import BudgetSpec
from semlink.systems.specs.image import McsFamily

__all__ = ["MultiScSpec"]


class MultiScSpec(McsFamily, BudgetSpec):
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
    crop_epochs: int = Field(10, gt=0)  # deep-jscc crop path: training epochs

    implementation = "semlink.systems.multisc:MultiSc"

    def preflight(self) -> None:
        """Every model a stage names must be on disk.

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

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data):
        moved = [k for k in ("crop_modulation", "crop_rate", "text_modulation", "text_rate")
                 if isinstance(data, dict) and k in data]
        if moved:
            raise ValueError(f"{', '.join(moved)}: the crop and the texts are sent as 5G NR transport blocks at the "
                             "entry's MCS now (the same table and selection rule as bpg+ldpc): give mcs_table, mcs "
                             "(indices or \"select\") and mcs_indices instead")
        return data
