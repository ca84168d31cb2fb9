"""Sweep runner: independent points, derived seeds, resumable journal, tidy results, plots, reports.

Names load lazily, so the TOML configs (:mod:`semlink.sim.config`,
:mod:`semlink.sim.experiment_config`) validate without pandas or torch.
"""

import importlib

_EXPORTS = {"Point": "runner", "RunDirectory": "runner", "run_points": "runner"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"semlink.sim.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'semlink.sim' has no attribute {name!r}")
