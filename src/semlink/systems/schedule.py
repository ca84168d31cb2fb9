"""Learning-rate schedules shared by the codecs' training loops (KBSC, deep JSCC)."""

from __future__ import annotations

import math

from semlink.errors import choice_error

SCHEDULES = ("constant", "cosine")


def learning_rate_at(step: int, total_steps: int, warmup_steps: int, base_lr: float, schedule: str) -> float:
    """The learning rate of optimiser step ``step`` (0-based) of ``total_steps``.

    ``constant``: ``base_lr`` after the warm-up; ``cosine``: ``base_lr · (1 + cos(π t)) / 2`` with
    ``t`` the fraction of the post-warm-up steps done. The warm-up rises linearly from
    ``base_lr / warmup_steps`` to ``base_lr``.

    >>> [round(learning_rate_at(s, 10, 2, 1.0, "cosine"), 3) for s in (0, 1, 2, 6, 9)]
    [0.5, 1.0, 1.0, 0.5, 0.038]
    """
    if schedule not in SCHEDULES:
        raise choice_error("schedule", schedule, SCHEDULES)
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    if schedule == "constant":
        return base_lr
    decay_steps = max(total_steps - warmup_steps, 1)
    t = min((step - warmup_steps) / decay_steps, 1.0)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * t))


__all__ = ["SCHEDULES", "learning_rate_at"]
