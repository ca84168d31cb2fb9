"""``semlink run CONFIG --dry-run``: what a run would evaluate, without running anything.

Lists every system the config expands into (one per budget, MCS variant or training seed) with
its channel uses per image and CBR, the channels and SNRs, and the number of points; data and the
encoder are opened only to learn the image size and (where a system needs it) the feature size.
A family of variants chosen on validation lists its members' points, and (unless ``[eval]
hindsight``) a ``selected`` row for the test points of the member chosen per channel and SNR.
"""

from __future__ import annotations

__all__ = ["describe_run"]


def describe_run(cfg) -> str:
    """A plain-text table of the run's systems, channel uses, CBR and points."""
    from semlink.sim.experiment import build_systems
    from semlink.sim.grid import run_grid
    from semlink.sim.resources import source_of
    from semlink.systems.base import SELECTED_VARIANT

    source = source_of(cfg)
    systems, channels = build_systems(cfg, source)
    grid = run_grid(cfg, systems, channels)
    shape, values = source.image_shape, source.values
    cut = not cfg.eval.hindsight
    families = {s.name for s in systems if s.selection_metric and not s.channel_free}

    def family_test_point(p) -> bool:  # scored by the chosen member only: one per channel and SNR
        return cut and p.get("split", "test") == "test" and p["system"] in families
    rows = []
    for i, system in enumerate(systems):
        points = sum(1 for p in grid if (p["system"], p["budget"], p["variant"]) ==
                     (system.name, system.budget, system.variant) and not family_test_point(p))
        rows.append((system.name, system.budget, system.variant or "-", system.channel_uses, points))
        following = systems[i + 1] if i + 1 < len(systems) else None
        if system.name in families and cut and (following is None or (following.name, following.budget)
                                                != (system.name, system.budget)):
            chosen = sum(1 for p in grid if (p["system"], p["budget"], p["variant"]) ==
                         (system.name, system.budget, system.variant) and family_test_point(p))
            rows.append((system.name, system.budget, SELECTED_VARIANT, system.channel_uses, chosen))
    lines = [
        f"run {cfg.name!r}: {sum(r[-1] for r in rows)} points; seed {cfg.seed}; images {'x'.join(map(str, shape))} "
        f"({values} source values); {cfg.data.dataset}, {cfg.encoder.spec}",
        f"channels: {', '.join(channels)}; SNRs [dB]: {', '.join(f'{s:g}' for s in cfg.eval.snr_db)}"
        + (" + noiseless" if cfg.eval.noiseless else ""),
        "",
        f"{'system':<26} {'budget':>7} {'variant':<14} {'channel uses':>12} {'CBR':>8} {'points':>7}",
    ]
    for name, budget, variant, uses, points in rows:
        budget = "-" if budget is None else str(budget)
        lines.append(f"{name:<26} {budget:>7} {variant:<14} {uses:>12} {uses / values:>8.4f} {points:>7}")
    return "\n".join(lines)
