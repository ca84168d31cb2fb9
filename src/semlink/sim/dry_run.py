"""``semlink run CONFIG --dry-run``: what a run would evaluate, without running anything.

Lists every system the config expands into (one per budget, MCS variant or training seed) with
its channel uses per image and CBR, the channels and SNRs, and the number of points; data and the
encoder are opened only to learn the image size and (where a system needs it) the feature size.
"""

from __future__ import annotations

__all__ = ["describe_run"]


def describe_run(cfg) -> str:
    """A plain-text table of the run's systems, channel uses, CBR and points."""
    from semlink.sim.experiment import _grid, build_systems
    from semlink.sim.resources import source_of

    source = source_of(cfg)
    systems, channels = build_systems(cfg, source)
    grid = _grid(cfg, systems, channels)
    shape, values = source.image_shape, source.values
    lines = [
        f"run {cfg.name!r}: {len(grid)} points; seed {cfg.seed}; images {'x'.join(map(str, shape))} "
        f"({values} source values); {cfg.data.dataset}, {cfg.encoder.spec}",
        f"channels: {', '.join(channels)}; SNRs [dB]: {', '.join(f'{s:g}' for s in cfg.eval.snr_db)}"
        + (" + noiseless" if cfg.eval.noiseless else ""),
        "",
        f"{'system':<26} {'budget':>7} {'variant':<14} {'channel uses':>12} {'CBR':>8} {'points':>7}",
    ]
    for system in systems:
        uses = system.channel_uses
        points = sum(1 for p in grid if (p["system"], p["budget"], p["variant"]) ==
                     (system.name, system.budget, system.variant))
        budget = "-" if system.budget is None else str(system.budget)
        lines.append(f"{system.name:<26} {budget:>7} {system.variant or '-':<14} {uses:>12} "
                     f"{uses / values:>8.4f} {points:>7}")
    return "\n".join(lines)
