"""Learning-rate schedules and the optimiser shared by the codecs' training loops (KBSC, deep JSCC)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from semlink.errors import choice_error

if TYPE_CHECKING:  # pragma: no cover
    import torch

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


#: Devices whose Adam has a fused kernel (one kernel per step for all parameters).
_FUSED_ADAM_DEVICES = ("cpu", "cuda")


def adam(parameters, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Adam (AdamW when ``weight_decay > 0``) over ``parameters``, fused where the device has it.

    The fused step updates every parameter in one kernel: for the codecs' small networks the
    per-tensor loop of the default step costs as much as a training batch's forward pass (measured
    on 2 CPU cores: 7 ms per step unfused, 0.7 ms fused, for KBSC's 1.1 M parameters).

    >>> import torch
    >>> layer = torch.nn.Linear(3, 2)
    >>> type(adam(layer.parameters(), 1e-3)).__name__, type(adam(layer.parameters(), 1e-3, 1e-4)).__name__
    ('Adam', 'AdamW')
    """
    import torch  # here: the schedules above are read by torch-free config code

    parameters = list(parameters)
    devices = {p.device.type for p in parameters}
    speed = {"fused": True} if devices and devices <= set(_FUSED_ADAM_DEVICES) else {"foreach": True}
    if weight_decay > 0:
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay, **speed)
    return torch.optim.Adam(parameters, lr=lr, **speed)


__all__ = ["SCHEDULES", "adam", "learning_rate_at"]
