"""The points a run evaluates: its grid, the identity of a system in it, and the cut to the members of a
family that validation chose.

:func:`run_grid` lists every point a run may evaluate (each system on each channel at each SNR on the
test queries; a family's members also on the validation split); unless ``[eval] hindsight``, the run
evaluates the validation points first and then keeps, of a family's test points, only the chosen
member's (:func:`chosen_points`, on :func:`~semlink.systems.base.choices_on_validation`).
"""

from __future__ import annotations

import math
from typing import Any

from semlink.sim.runner import Point

__all__ = ["chosen_points", "run_grid", "system_id"]


def system_id(system) -> tuple:
    """A system's identity in a run: ``(name, budget, variant)``, of a system or of a point's parameters."""
    if isinstance(system, dict):
        return system["system"], system["budget"], system["variant"]
    return system.name, system.budget, system.variant


def run_grid(cfg, systems, channels) -> list[dict[str, Any]]:
    """Every point a run may evaluate: each system on each channel at each SNR on the test queries, and —
    for the members of a family chosen on validation — the same on the validation split (``split =
    "validation"``). Unless ``[eval] hindsight``, a family's test points are then cut to the members
    validation chose (:func:`chosen_points`)."""
    snrs = list(cfg.eval.snr_db) + ([math.inf] if cfg.eval.noiseless else [])
    grid: list[dict[str, Any]] = []
    for system in systems:
        base = {"system": system.name, "budget": system.budget, "variant": system.variant}
        if system.channel_free:
            grid.append({**base, "channel": "none", "snr_db": math.inf})
            continue
        for ch in channels:
            grid.extend({**base, "channel": ch, "snr_db": float(s)} for s in snrs)
    for system in systems:
        if system.selection_metric and not system.channel_free:
            base = {"system": system.name, "budget": system.budget, "variant": system.variant, "split": "validation"}
            grid.extend({**base, "channel": ch, "snr_db": float(s)} for ch in channels for s in snrs)
    return grid


def chosen_points(points: list[Point], systems, validation) -> list[Point]:
    """``points`` without the test points of family members validation did not choose: per (budget,
    channel, SNR) a family keeps the member :func:`~semlink.systems.base.choices_on_validation` picks
    (none where no member has a figure). ``validation``: the validation table (pandas)."""
    from semlink.systems.base import choices_on_validation

    families = {s.name: s.selection_metric for s in systems if s.selection_metric and not s.channel_free}
    chosen = {name: choices_on_validation(validation, name, metric) for name, metric in families.items()}

    def kept(point: Point) -> bool:
        params = point.params
        if params.get("split", "test") != "test" or params["system"] not in chosen:
            return True
        choice = chosen[params["system"]].get((params["budget"], params["channel"], params["snr_db"]))
        return choice is not None and choice[0] == params["variant"]

    return [p for p in points if kept(p)]
