"""Analog image codes over the analog link: ``deep-jscc`` and the ``linear-analog`` reference.

==================  =============================================================================
type                what crosses the channel
==================  =============================================================================
``deep-jscc``       a learned conv encoder's symbols (ADJSCC by default: attention-feature modules
                    conditioned on the SNR; Bourtsoulatze et al. 2019 with ``snr_adaptive = false``)
``linear-analog``   the image's KLT coefficients with Lee-Petersen power allocation (closed form)
==================  =============================================================================

Both put ``channel_uses`` symbols per image straight onto resource elements at unit energy per image
(:class:`semlink.phy.AnalogLink`: the run's grid, channel and CSI); both receivers read the same front
end, the per-symbol MMSE estimate and its error variance (:class:`semlink.phy.AnalogOutput`), and
nothing else. Both transmitters use the SNR fed back to them (the linear code's power allocation,
ADJSCC's encoder): rows say ``snr_at_transmitter``. One codec per channel serves every budget of an
entry (the latent masked to each budget; ``codec_per_budget`` for one each); ``per_snr`` makes a family
of codecs each trained at one SNR, chosen per SNR on the validation split. Codecs are trained (or, for
the linear code, fitted) once per channel and reused from the shared cache like KBSC's
(:class:`~semlink.systems.image_path.JsccCodecs`). Bandwidth ratio = channel uses per source value.
"""

from __future__ import annotations

from typing import Any

import torch

from semlink.systems.base import Received, SystemBase
from semlink.systems.image_path import JsccCodecs, send_analog
from semlink.systems.trained import TrainedCodecs

__all__ = ["DeepJscc", "LinearAnalog", "LinearCodecs", "entry_budgets"]


def entry_budgets(spec, setting) -> list[int]:
    """Every budget of the ``[[systems]]`` entry ``spec`` (one codec serves them all)."""
    return sorted(int(b) for b in spec.budgets(list(setting.budgets) if setting.budgets else None))


class DeepJscc(SystemBase):
    """A deep-JSCC codec per channel at ``budget`` channel uses (see the module docstring)."""

    trained = True

    def __init__(self, spec, setting, budget: int, train_index: int = 0, snr_db: float | None = None) -> None:
        super().__init__(spec, setting, budget, train_index)
        self.snr_db = snr_db  # the one training SNR of a per-SNR member
        if snr_db is not None:
            self.variant = f"trained at {snr_db:g} dB"
            self.selection_metric = spec.selection_metric
        budgets = [budget] if spec.codec_per_budget else entry_budgets(spec, setting)
        key = ("deep-jscc", spec.display_name, train_index, snr_db, tuple(budgets))
        if key not in setting.shared:
            architecture = dict(filters=spec.filters, snr_adaptive=spec.snr_adaptive, gdn=spec.gdn,
                                linear_skip=spec.linear_skip)
            snrs = (snr_db,) if snr_db is not None else spec.training_snrs(setting.train_snr_db)
            settings = spec.train.model_copy(update={"snr_db": list(snrs)}).settings(setting.train_snr_db,
                                                                                   **architecture)
            recorded = {**spec.train.model_dump(mode="json"), "snr_db": list(snrs), **architecture}
            setting.shared[key] = JsccCodecs(
                self.name, budgets, setting, settings, setting.source.image_shape, train_index,
                codec_class=type(self).__name__, images=spec.train.images, member=self.variant,
                # "source_shape", not "image_shape": the codec's own config key
                provenance={"train": recorded, "source_shape": list(setting.source.image_shape)},
            )
        self.codecs: JsccCodecs = setting.shared[key]

    @classmethod
    def expand(cls, spec, setting, budget: int) -> list[DeepJscc]:
        if not spec.per_snr:
            return [cls(spec, setting, budget)]
        return [cls(spec, setting, budget, snr_db=snr) for snr in spec.training_snrs(setting.train_snr_db)]

    def prepare(self, ctx, channel) -> None:
        self.codecs.get(ctx, channel)

    def describe(self, links, channel) -> dict[str, Any]:
        return {**links.describe(channel), "architecture": self.spec.architecture,
                "codec_channel_uses": self.codecs.budget, **self.codecs.row_columns(channel)}

    @torch.no_grad()
    def transmit(self, ctx, channel, snr_db: float) -> Received:
        codec = self.codecs.get(ctx, channel)
        images = send_analog(codec, ctx.queries.images, ctx.links, channel, snr_db, ctx.queries.batch_size,
                             channel_uses=self.budget)
        return Received(images=images)


class LinearCodecs(TrainedCodecs):
    """The linear analog code of one entry, per channel: its KLT fitted on the training images (closed form;
    the same for every channel, saved like a trained codec so workers and resumed runs find it)."""

    def __init__(self, system: LinearAnalog, budgets: list[int]) -> None:
        super().__init__(system.name, max(budgets), system.setting, codec_class="LinearAnalog")
        self.budgets = budgets
        self.images = system.spec.images

    def provenance_extra(self, ctx, channel) -> dict[str, Any]:
        data = ctx.training
        pool = {"pool": data.pool_fingerprint} if self.images == "pool" and data is not None else {}
        return {"source_shape": list(self.setting.source.image_shape), "budgets": self.budgets, **pool}

    def train(self, ctx, channel):
        from semlink.systems.linear_analog_model import fit_linear_analog

        data = ctx.require_training(f"{self.what} [{channel.key}]")
        codec = fit_linear_analog(data.images_of(self.images), self.budget, seed=self.seed)
        return codec, {}

    def load(self, ctx, directory):
        from semlink.systems.linear_analog_model import load_linear_analog

        return load_linear_analog(directory, map_location=ctx.device, expect_image_shape=self.setting.source.image_shape,
                                  expect_channel_uses=self.budget)

    def save(self, codec, directory, history, provenance) -> None:
        from semlink.systems.linear_analog_model import save_linear_analog

        save_linear_analog(codec, directory, **provenance)

    def columns(self, codec, history) -> dict[str, Any]:
        return {"snr_at_transmitter": True}


class LinearAnalog(SystemBase):
    """The linear analog reference at ``budget`` channel uses (see the module docstring)."""

    def __init__(self, spec, setting, budget: int) -> None:
        super().__init__(spec, setting, budget)
        budgets = entry_budgets(spec, setting)
        key = ("linear-analog", spec.display_name, tuple(budgets))
        if key not in setting.shared:
            setting.shared[key] = LinearCodecs(self, budgets)
        self.codecs: LinearCodecs = setting.shared[key]

    def prepare(self, ctx, channel) -> None:
        self.codecs.get(ctx, channel)

    def describe(self, links, channel) -> dict[str, Any]:
        return {**links.describe(channel), "architecture": "klt+lee-petersen+lmmse",
                **self.codecs.row_columns(channel)}

    @torch.no_grad()
    def transmit(self, ctx, channel, snr_db: float) -> Received:
        codec = self.codecs.get(ctx, channel)
        images = send_analog(codec, ctx.queries.images, ctx.links, channel, snr_db, ctx.queries.batch_size,
                             channel_uses=self.budget)
        return Received(images=images)
