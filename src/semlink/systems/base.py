"""The contract between systems and the run: :class:`System`, :class:`Received`, the registry.

A *system* bundles a transmitter, a link and a receiver and answers one question: given the
query items (their images and features) and an SNR, what does the receiver get, and what did it
cost in channel uses? It returns a :class:`Received` — decoded features, reconstructed images
and/or texts — and the run scores whatever is present with one set of metric functions
(:mod:`semlink.metrics.score`). The runner knows systems only through :class:`System` and by their
config ``type`` (:func:`create_systems`), so a new scheme is one module plus one registry entry.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from semlink.errors import choice_error

__all__ = [
    "Received", "System", "SystemBase", "TextOutcome", "SYSTEMS", "create_systems", "is_noiseless",
    "register_system",
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


class System(Protocol):
    """One scheme under test at one channel-use budget (see the module docstring).

    ``name`` is the results' ``system`` column, ``budget`` its channel-use budget (None for schemes
    without one) and ``variant`` a short label that tells apart several systems one config entry
    expands into (e.g. the MCS of an envelope), "" otherwise.
    """

    name: str
    spec: Any
    budget: int | None
    variant: str

    def channel_uses(self, ctx) -> int:
        """Complex channel symbols allotted to one image (the CBR numerator)."""

    def channel_uses_with_padding(self, ctx, channel) -> int:
        """Data REs one image occupies on the link as evaluated: whole OFDM slots, padding included."""

    def prepare(self, ctx, channel) -> None:
        """Train or load what the system needs for ``channel`` (idempotent)."""

    def transmit(self, ctx, channel, snr_db: float) -> Received:
        """Send every query across ``channel`` at ``snr_db``; return what the receiver decoded."""

    def describe(self, ctx, channel) -> dict[str, Any]:
        """Row columns that say what this system is on ``channel`` (link, code, training)."""


class SystemBase:
    """The state every built-in system keeps: its spec, name, budget, variant and training index.

    ``channel_uses`` defaults to the budget and ``prepare`` to nothing; a trained scheme sets
    ``trained = True`` (one system per training seed, see :func:`create_systems`).
    """

    trained = False

    def __init__(self, spec, budget: int | None = None, train_index: int = 0) -> None:
        self.spec = spec
        self.name = spec.display_name
        self.budget = None if budget is None else int(budget)
        self.variant = ""
        self.train_index = int(train_index)

    def channel_uses(self, ctx) -> int:
        return self.budget

    def prepare(self, ctx, channel) -> None:
        return None


SYSTEMS: dict[str, Any] = {}
"""Config ``type`` → system class, for classes registered at run time (:func:`register_system`)."""


def register_system(type_name: str, spec_class=None):
    """Class decorator: make a system constructible by its config ``type`` name.

    Built-in systems are listed in :data:`semlink.systems.specs.SYSTEM_CLASSES` (imported lazily);
    a plug-in registers its class here and, if it has keys of its own, its spec class too.
    """
    from semlink.systems.specs import SYSTEM_SPECS, SystemSpec

    def wrap(cls):
        SYSTEMS[type_name] = cls
        SYSTEM_SPECS.setdefault(type_name, spec_class or SystemSpec)
        return cls

    return wrap


def system_class(type_name: str):
    from semlink.systems.specs import SYSTEM_CLASSES

    if type_name in SYSTEMS:
        return SYSTEMS[type_name]
    if type_name not in SYSTEM_CLASSES:
        raise choice_error("system type", type_name, sorted(set(SYSTEM_CLASSES) | set(SYSTEMS)))
    module, _, cls = SYSTEM_CLASSES[type_name].partition(":")
    return getattr(importlib.import_module(module), cls)


def create_systems(spec, run_budgets: list[int] | None = None, train_seeds: int = 1) -> list[System]:
    """The systems one ``[[systems]]`` entry stands for: one per budget (and per variant, if any).

    A trained scheme (class attribute ``trained``) with ``train_seeds`` > 1 is one system per
    training seed, variant ``"seed i"``; the run adds their mean and spread (:func:`seed_summary_rows`).
    """
    cls = system_class(spec.type)
    systems: list[System] = []
    for budget in spec.budgets(run_budgets):
        if getattr(cls, "trained", False) and train_seeds > 1:
            for index in range(train_seeds):
                system = cls(spec, budget, index)
                system.variant = f"{SEED_VARIANT}{index}"
                systems.append(system)
            continue
        expand = getattr(cls, "expand", None)
        systems.extend(expand(spec, budget) if expand is not None else [cls(spec, budget)])
    return systems


SEED_VARIANT = "seed "
"""Variant prefix of the per-training-seed systems of a trained scheme (``"seed 0"``, ``"seed 1"``...)."""

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
    seeded = frame[frame["variant"].fillna("").str.startswith(SEED_VARIANT)]
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


def is_noiseless(snr_db: float) -> bool:
    return math.isinf(snr_db) and snr_db > 0
