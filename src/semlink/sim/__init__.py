"""Sweep runner: independent points, derived seeds, resumable journal, tidy results, plots, reports.

Names load lazily, so the TOML configs (:mod:`semlink.sim.config`,
:mod:`semlink.sim.experiment_config`) validate without pandas or torch.
"""

from semlink.lazy import lazy_exports

_EXPORTS = {"Point": "runner", "RunDirectory": "runner", "run_points": "runner"}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
