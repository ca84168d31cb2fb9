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
    "Received", "System", "TextOutcome", "SYSTEMS", "create_systems", "is_noiseless", "register_system",
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
    - ``extras``: scheme-specific scalars for the results row (e.g. ``code_block_failure_rate``).
    """

    features: torch.Tensor | None = None
    images: np.ndarray | None = None
    texts: TextOutcome | None = None
    channel_uses_sent: np.ndarray | None = None
    extras: dict[str, Any] = field(default_factory=dict)


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


def create_systems(spec, run_budgets: list[int] | None = None) -> list[System]:
    """The systems one ``[[systems]]`` entry stands for: one per budget (and per variant, if any)."""
    cls = system_class(spec.type)
    systems: list[System] = []
    for budget in spec.budgets(run_budgets):
        expand = getattr(cls, "expand", None)
        systems.extend(expand(spec, budget) if expand is not None else [cls(spec, budget)])
    return systems


def is_noiseless(snr_db: float) -> bool:
    return math.isinf(snr_db) and snr_db > 0
