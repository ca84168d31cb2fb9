"""The machinery every trained codec shares: one codec per channel, loaded or trained once.

:class:`TrainedCodecs` is what a trained system (KBSC, deep JSCC) and a trained part of one
(Multi-SC's deep-JSCC crop path) hold: per channel, the codec — found in the run's checkpoints,
else in the shared cache (:mod:`semlink.systems.checkpoints`), else trained and saved there — under a
checkpoint name made from the owner's name, budget, channel and training seed, with a provenance
(everything the training reads) that decides whether a saved codec may be reused. A subclass says
what is particular to its codec: how to train, load and save it, what its provenance adds, and
which training facts go into the results rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from semlink.systems.base import RunSetting, training_seed

if TYPE_CHECKING:  # pragma: no cover
    from semlink.phy.spec import ChannelSpec
    from semlink.systems.context import SystemContext

__all__ = ["TrainedCodecs"]


class TrainedCodecs:
    """The codecs of one trained owner, per channel (see the module docstring).

    :param name: the owner's name (the results' system name; the checkpoint folder starts with it).
    :param budget: the channel uses the codec sends.
    :param setting: the run setting (run seed, link, training SNRs).
    :param train_index: which training seed (0: the run seed; see :func:`~semlink.systems.base.training_seed`).
    :param codec_class: the provenance's ``codec_class`` (what kind of codec a checkpoint holds).
    :param member: which member of a family of variants (e.g. ``"MCS 9"``); part of the checkpoint's name.
    """

    #: Whether a second thread barely speeds this codec's training up, so that the run trains codecs like it
    #: side by side, each in its own process (:mod:`semlink.sim.training_pool`); the others train in the run's
    #: process at its thread count.
    side_by_side: ClassVar[bool] = False

    def __init__(self, name: str, budget: int, setting: RunSetting, train_index: int = 0,
                 codec_class: str = "", member: str = "") -> None:
        self.name = name
        self.budget = int(budget)
        self.setting = setting
        self.train_index = int(train_index)
        self.codec_class = codec_class or type(self).__name__
        self.member = member
        self.codecs: dict[Any, Any] = {}
        self.histories: dict[Any, dict[str, Any]] = {}

    # -- what a subclass provides -------------------------------------------------------------------
    def train(self, ctx: SystemContext, channel: ChannelSpec) -> tuple[Any, dict[str, Any]]:
        """Train a codec for ``channel``: ``(codec, history dict)``."""
        raise NotImplementedError

    def load(self, ctx: SystemContext, directory) -> tuple[Any, dict[str, Any]]:
        """A saved codec and its ``config.json``."""
        raise NotImplementedError

    def save(self, codec, directory, history: dict[str, Any], provenance: dict[str, Any]) -> None:
        raise NotImplementedError

    def provenance_extra(self, ctx: SystemContext, channel: ChannelSpec) -> dict[str, Any]:
        """What this codec's training reads besides the common provenance keys (settings, data shape...)."""
        return {}

    def columns(self, codec, history: dict[str, Any]) -> dict[str, Any]:
        """Results-row columns about ``codec`` (training facts from its ``history``)."""
        return {"train_seed": self.seed}

    def training_work(self, ctx: SystemContext) -> float:
        """How much training a codec takes, at most (training examples x epochs; 0: unknown): codecs
        trained side by side start with the largest, so the longest trainings overlap."""
        return 0.0

    # -- shared ----------------------------------------------------------------------------------------
    @property
    def seed(self) -> int:
        return training_seed(self.setting.seed, self.train_index)

    @property
    def what(self) -> str:
        """How log lines name these codecs."""
        return (f"{self.name}{f' [{self.member}]' if self.member else ''} @ {self.budget}"
                + (f" seed {self.train_index}" if self.train_index else ""))

    def checkpoint_name(self, channel: ChannelSpec) -> str:
        member = f"__{self.member.replace(' ', '').replace('/', '_')}" if self.member else ""
        suffix = f"__seed{self.train_index}" if self.train_index else ""
        return f"{self.name}{member}__{self.budget}cu__{channel.key}{suffix}"

    def provenance(self, ctx: SystemContext, channel: ChannelSpec) -> dict[str, Any]:
        """Everything a checkpoint must have been trained with to be reused for ``channel``."""
        return {
            "system": self.name,
            "budget": self.budget,
            "channel": channel.model_dump(mode="json"),
            "link": ctx.links.spec.model_dump(mode="json", exclude={"channel"}),
            **self.provenance_extra(ctx, channel),
            "data": ctx.artifacts.data_fingerprint,
            "seed": self.seed,
            "codec_class": self.codec_class,
        }

    def needs_training(self, ctx: SystemContext, channel: ChannelSpec) -> bool:
        """Whether :meth:`get` would train: the codec for ``channel`` is neither in memory nor saved (in the
        run's checkpoints or the shared cache, whence it is copied into the run's)."""
        if channel in self.codecs:
            return False
        return ctx.artifacts.checkpoints.locate(self.checkpoint_name(channel), self.provenance(ctx, channel),
                                                log=ctx.artifacts.log) is None

    def get(self, ctx: SystemContext, channel: ChannelSpec):
        """The codec for ``channel``: in memory, else loaded from the run or the cache, else trained (and saved)."""
        if channel not in self.codecs:
            from semlink.systems.checkpoints import load_or_train

            provenance = self.provenance(ctx, channel)
            codec, history = load_or_train(
                ctx.artifacts, self.checkpoint_name(channel), provenance,
                load=lambda directory: self.load(ctx, directory),
                train=lambda: self.train(ctx, channel),
                save=lambda codec, directory, history: self.save(codec, directory, history, provenance),
                what=f"{self.what} [{channel.key}]",
            )
            self.codecs[channel] = codec.to(ctx.device).eval()
            self.histories[channel] = history
        return self.codecs[channel]

    def row_columns(self, channel: ChannelSpec) -> dict[str, Any]:
        """:meth:`columns` of the codec for ``channel`` (empty before :meth:`get`)."""
        if channel not in self.codecs:
            return {}
        return self.columns(self.codecs[channel], self.histories[channel])
