"""The contract between systems and the run: :class:`System`, :class:`Received`, building systems.

A *system* bundles a transmitter, a link and a receiver and answers one question: given the
query items (their images and features) and an SNR, what does the receiver get, and what did it
cost in channel uses? It returns a :class:`Received` — decoded features, reconstructed images
and/or texts — and the run scores whatever is present with one set of metric functions
(:mod:`semlink.metrics.score`). The runner knows systems only through :class:`System`, builds them
from their config entry (:func:`create_systems`: the spec class names its implementation) and
reads what it needs from them: channel uses, the columns that describe them, the Eb/N0 offset of a
digital link, rows they derive from their points (:meth:`System.derived_rows`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from semlink.errors import SemlinkError
from semlink.systems.context import Source

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from semlink.phy.links import LinkFactory
    from semlink.phy.spec import ChannelSpec, LinkSpec
    from semlink.systems.context import SystemContext
    from semlink.systems.trained import TrainedCodecs

__all__ = [
    "HINDSIGHT_VARIANT", "SEED_VARIANT", "SELECTED_VARIANT", "Received", "RunSetting", "System", "SystemBase",
    "TextOutcome", "choices_on_validation", "create_systems", "selection_rows", "system_class", "training_seed",
    "variant_role",
]


@dataclass
class TextOutcome:
    """Texts across the channel, one entry per query: as sent, as received, and as corrected (or None)."""

    sent: list[str]
    received: list[str]
    corrected: list[str] | None = None


@dataclass
class Received:
    """What the receiver decoded for every query, and what it cost.

    - ``features``: ``[Q, D] float32`` decoded features (feature schemes), or None;
    - ``images``: ``[Q, H, W] / [Q, H, W, 3] uint8`` reconstructions (image schemes), or None;
    - ``texts``: :class:`TextOutcome` for schemes that send text, or None;
    - ``channel_uses_sent``: ``[Q]`` complex channel symbols actually sent per query (a scheme that
      sends less than its budget, e.g. fewer code blocks); None means the system's ``channel_uses``;
    - ``extras``: scheme-specific scalars for the results row (e.g. ``code_block_failure_rate``);
    - ``examples``: arrays worth showing for the first few queries (e.g. the crop a scheme sent, its
      texts), stored beside the results for the example figure (the run adds the images itself).
    """

    features: torch.Tensor | None = None
    images: np.ndarray | None = None
    texts: TextOutcome | None = None
    channel_uses_sent: np.ndarray | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    examples: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSetting:
    """What every system of a run is built against: the source item's shape, the run's link, the training
    SNRs and training seeds every trained scheme shares (``[train]``), and the run seed. ``shared`` holds
    what the systems one entry expands into build once for all of them (e.g. one codec serving every
    budget), keyed by the entry."""

    source: Source
    link: LinkSpec
    train_snr_db: tuple[float, ...] = (-7.0, -4.0, 0.0, 4.0, 7.0, 10.0)
    train_seeds: int = 1
    seed: int = 0
    budgets: tuple[int, ...] | None = None  # the run-level budgets (entries without their own channel_uses)
    shared: dict[Any, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)


class System(Protocol):
    """One scheme under test at one channel-use budget (see the module docstring).

    ``name`` is the results' ``system`` column, ``budget`` its channel-use budget (None for schemes
    without one), ``variant`` a short label that tells apart several systems one config entry
    expands into (e.g. the MCS of an envelope), "" otherwise; ``channel_uses`` the complex channel
    symbols allotted to one image (the CBR numerator). ``channel_free`` systems are evaluated once,
    without a channel. ``selection_metric``: None, or the metric (a results column, higher is better) by
    which the run chooses among the members of this system's family on the validation split (an MCS per
    SNR, say): the run then evaluates it on validation too and adds ``selected`` and ``hindsight`` rows.
    """

    name: str
    spec: Any
    budget: int | None
    variant: str
    channel_uses: int
    channel_free: bool
    selection_metric: str | None

    def channel_uses_with_padding(self, links: LinkFactory, channel: ChannelSpec) -> int:
        """Data REs one image occupies on the link as evaluated: whole OFDM slots, padding included."""

    def prepare(self, ctx: SystemContext, channel: ChannelSpec) -> None:
        """Train or load what the system needs for ``channel`` (idempotent)."""

    def trained_codecs(self) -> list[TrainedCodecs]:
        """Optional: what :meth:`prepare` trains; the run trains them before any point (see
        :class:`SystemBase`). A system without it trains in its ``prepare``."""

    def transmit(self, ctx: SystemContext, channel: ChannelSpec, snr_db: float) -> Received:
        """Send every query across ``channel`` at ``snr_db`` (``inf``: no channel); what the receiver decoded."""

    def describe(self, links: LinkFactory, channel: ChannelSpec) -> dict[str, Any]:
        """Row columns that say what this system is on ``channel`` (link, code, training)."""

    def ebno_offset_db(self, links: LinkFactory, channel: ChannelSpec) -> float | None:
        """``snr_db - ebno_db`` of a digital link (rate, bits per symbol, grid), None for analog schemes."""


SEED_VARIANT = "seed "
"""Variant prefix of the per-training-seed systems of a trained scheme (``"seed 0"``, ``"seed 1"``...)."""
SELECTED_VARIANT = "selected"
"""Variant of the rows of a family of variants (e.g. an MCS table) whose member was chosen per (budget,
channel, SNR) on the validation split and then evaluated on the test queries: the family's line."""
HINDSIGHT_VARIANT = "hindsight"
"""Variant of the rows of a family whose member was chosen on the test queries themselves: optimistic
(the choice has seen the data it is scored on), shown as such."""


def variant_role(variant: Any) -> str:
    """How a row's variant is drawn: ``"seed"`` (one training seed: summarised by the mean row and its band),
    ``"selected"`` (a family's member chosen on validation: the line), ``"hindsight"`` (chosen on the test
    queries: an optimistic line of its own), ``"option"`` (a family's member, or a plain named variant) or
    ``"main"`` (no variant). Runs written before selection on validation named their hindsight rows
    ``"envelope"``."""
    text = variant if isinstance(variant, str) else ""
    if text.startswith(SEED_VARIANT):
        return "seed"
    if text == SELECTED_VARIANT:
        return "selected"
    if text in (HINDSIGHT_VARIANT, "envelope"):
        return "hindsight"
    return "option" if text else "main"


class SystemBase:
    """The state every built-in system keeps: its spec, name, budget, variant and the run setting.

    ``channel_uses`` defaults to the budget, ``prepare`` to nothing, ``describe`` to the analog link's
    columns and ``ebno_offset_db`` to None; a trained scheme sets ``trained = True`` (one system per
    training seed, see :func:`create_systems`).
    """

    trained: ClassVar[bool] = False
    channel_free: ClassVar[bool] = False
    selection_metric: str | None = None  # set on the members of a family chosen on validation (see selection_rows)

    def __init__(self, spec, setting: RunSetting, budget: int | None = None, train_index: int = 0) -> None:
        self.spec = spec
        self.setting = setting
        self.name = spec.display_name
        self.budget = None if budget is None else int(budget)
        self.variant = ""
        self.train_index = int(train_index)

    @property
    def channel_uses(self) -> int:
        return self.budget

    def channel_uses_with_padding(self, links: LinkFactory, channel: ChannelSpec) -> int:
        return links.analog(channel).channel_uses_with_padding(self.channel_uses)

    def prepare(self, ctx: SystemContext, channel: ChannelSpec) -> None:
        return None

    def trained_codecs(self) -> list[TrainedCodecs]:
        """The :class:`~semlink.systems.trained.TrainedCodecs` whose codecs :meth:`prepare` trains (or
        loads): the run trains those of all its systems before any point — the ``side_by_side`` ones in
        worker processes (:mod:`semlink.sim.training_pool`) — then ``prepare`` loads them. By default the
        system's ``codecs`` attribute where it is one (how the built-in trained schemes hold theirs), else none."""
        from semlink.systems.trained import TrainedCodecs

        codecs = getattr(self, "codecs", None)
        return [codecs] if isinstance(codecs, TrainedCodecs) else []

    def describe(self, links: LinkFactory, channel: ChannelSpec) -> dict[str, Any]:
        return links.describe(channel)

    def ebno_offset_db(self, links: LinkFactory, channel: ChannelSpec) -> float | None:
        return None

    @classmethod
    def expand(cls, spec, setting: RunSetting, budget: int | None) -> list[SystemBase]:
        """The systems one (entry, budget) stands for: one, unless a scheme has variants (an MCS table)."""
        return [cls(spec, setting, budget)]

    @classmethod
    def derived_rows(cls, frame, spec) -> list[dict[str, Any]]:
        """Rows this scheme derives from its points once they are done: none by default (a family's
        selected and hindsight rows are the runner's, :func:`selection_rows`)."""
        return []


def system_class(spec) -> type:
    """The class that implements ``spec`` (its ``implementation``, ``"module:Class"``, imported now)."""
    from semlink.registry import load_target

    target = getattr(type(spec), "implementation", None)
    if not target:
        raise SemlinkError(f"system type {spec.type!r}: its spec class {type(spec).__name__} names no "
                           "implementation ('module:Class')")
    return load_target(target, f"system type {spec.type!r}") if isinstance(target, str) else target


def create_systems(spec, setting: RunSetting, run_budgets: list[int] | None = None) -> list[SystemBase]:
    """The systems one ``[[systems]]`` entry stands for: one per budget (and per variant, if any).

    A trained scheme (class attribute ``trained``) with ``setting.train_seeds`` > 1 is one system per
    training seed, variant ``"seed i"``; the run adds their mean and spread (:func:`seed_summary_rows`).
    """
    cls = system_class(spec)
    systems: list[SystemBase] = []
    for budget in spec.budgets(run_budgets):
        if cls.trained and setting.train_seeds > 1:
            if len(cls.expand(spec, setting, budget)) > 1:
                raise SemlinkError(
                    f"system {spec.display_name!r}: [train] seeds = {setting.train_seeds} and a family of variants "
                    "(several MCS or training SNRs) cannot be combined; run the family with seeds = 1, or one member"
                )
            for index in range(setting.train_seeds):
                system = cls(spec, setting, budget, index)
                system.variant = f"{SEED_VARIANT}{index}"
                systems.append(system)
            continue
        systems.extend(cls.expand(spec, setting, budget))
    return systems


SEED_SPREAD_METRICS = ("top1_accuracy", "top5_accuracy", "psnr_db", "ssim", "feature_cosine", "feature_mse")


def training_seed(run_seed: int, index: int) -> int:
    """The seed training seed ``index`` uses: the run seed for index 0, a derived one otherwise."""
    from semlink.seeding import point_seed

    return int(run_seed) if index == 0 else point_seed(run_seed, {"train_seed_index": int(index)})


def seed_summary_rows(frame) -> list[dict[str, Any]]:
    """Per (system, budget, channel, SNR) with per-seed rows: one row of variant ``""`` holding the
    mean over training seeds of every numeric column, ``n_train_seeds`` and, for the main metrics,
    ``<metric>_seed_std`` / ``_seed_min`` / ``_seed_max`` (the spread the plots draw). Its confidence
    interval columns are the means of the per-seed ones (the query-sampling uncertainty of one run).
    ``collapsed`` is true when any seed's kept checkpoint collapsed, ``n_collapsed`` counts them.
    """
    import pandas as pd

    if frame.empty or "variant" not in frame.columns:
        return []
    seeded = frame[frame["variant"].map(variant_role) == "seed"]
    rows: list[dict[str, Any]] = []
    for _, group in seeded.groupby(["system", "budget", "channel", "snr_db"], sort=False, dropna=False):
        row = group.iloc[0].to_dict()
        numeric = group.select_dtypes("number")
        for column in numeric.columns:
            row[column] = float(numeric[column].mean())
        for metric in SEED_SPREAD_METRICS:
            if metric in group.columns and group[metric].notna().any():
                values = pd.to_numeric(group[metric])
                row.update({f"{metric}_seed_std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                            f"{metric}_seed_min": float(values.min()), f"{metric}_seed_max": float(values.max())})
        if "collapsed" in group.columns:
            flags = group["collapsed"].map(lambda v: bool(v) if v is not None and v == v else False)
            row.update(collapsed=bool(flags.any()), n_collapsed=int(flags.sum()))
        row.update(variant="", n_train_seeds=len(group), seed=None, train_seed=None, best_epoch=None)
        rows.append(row)
    return rows


SELECTION_KEYS = ("system", "budget", "channel", "snr_db")


def _family_members(frame, system: str, metric: str):
    """``system``'s member rows (variants of role ``"option"``) that have ``metric``."""
    if frame is None or frame.empty or metric not in frame.columns:
        return None
    mine = frame[(frame["system"] == system) & (frame["variant"].map(variant_role) == "option")]
    return mine[mine[metric].notna()]


def choices_on_validation(validation, system: str, metric: str) -> dict[tuple, tuple[str, float]]:
    """The member of the family ``system`` best on ``metric`` on the validation split, per
    ``(budget, channel, snr_db)``: ``{key: (variant, its validation figure)}``. Ties go to the earlier
    member (the config's order); a point without a finite figure has no choice.

    ``validation``: the validation table (pandas). The run evaluates the test queries with the chosen
    member only (unless ``[eval] hindsight``), and :func:`selection_rows` names the same choice.
    """
    import math

    members = _family_members(validation, system, metric)
    if members is None or members.empty:
        return {}
    order = {v: i for i, v in enumerate(dict.fromkeys(members["variant"]))}
    choices: dict[tuple, tuple[str, float]] = {}
    for key, group in members.groupby(["budget", "channel", "snr_db"], sort=False, dropna=False):
        scored = [(float(score), -order[variant], variant) for variant, score in zip(group["variant"], group[metric])
                  if not math.isnan(float(score))]
        if scored:
            score, _, variant = max(scored)
            choices[key] = (variant, score)
    return choices


def selection_rows(test, validation, system: str, metric: str) -> list[dict[str, Any]]:
    """The rows of a family's choices, per (budget, channel, SNR) of ``system``'s member rows (variants
    of role ``"option"``): the test row of the member :func:`choices_on_validation` chose (variant
    ``"selected"``) and, where the test queries were scored with more than one member (``[eval]
    hindsight = true``), the row of the member best on the test queries themselves (``"hindsight"``:
    optimistic). Each says what it chose (``choice``), on what (``selected_on``) and, for the selected
    row, the choice's validation figure (``choice_validation_<metric>``).

    ``test`` and ``validation``: the results and validation tables (pandas), the same columns.
    """
    rows: list[dict[str, Any]] = []
    test_members = _family_members(test, system, metric)
    if test_members is None or test_members.empty:
        return rows
    choices = choices_on_validation(validation, system, metric)
    order = {v: i for i, v in enumerate(dict.fromkeys(test_members["variant"]))}
    for key, group in test_members.groupby(["budget", "channel", "snr_db"], sort=False, dropna=False):
        candidates = group.to_dict("records")
        if key in choices:
            variant, figure = choices[key]
            chosen = next((r for r in candidates if r["variant"] == variant), None)
            if chosen is not None:
                rows.append({**chosen, "variant": SELECTED_VARIANT, "choice": variant, "selected_on": "validation",
                             f"choice_validation_{metric}": figure})
        if len(candidates) > 1:
            hindsight = max(candidates, key=lambda r: (float(r[metric]), -order[r["variant"]]))
            rows.append({**hindsight, "variant": HINDSIGHT_VARIANT, "choice": hindsight["variant"],
                         "selected_on": "test (hindsight: optimistic)"})
    return rows
