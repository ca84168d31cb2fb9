"""``semlink run CONFIG.toml``: an experiment from one validated TOML file.

Steps: build the :class:`~semlink.systems.ExperimentContext` (data → cached image features →
splits → the receiver's knowledge base) → expand every ``[[systems]]`` entry into systems (one per
budget) → train (or load, or reuse from the shared cache) what each needs per channel, in this
process → evaluate every point (system × budget × channel × SNR, each seeded by its identity, the
channel by (channel, SNR) for common random numbers) on the chosen executor → score what the
receiver got with :func:`semlink.metrics.score.score` → ``results.csv``/``.parquet``,
``comparisons.csv``/``.parquet`` (paired differences between systems), ``manifest.json`` and plots.

``resume=True`` continues a killed run — and accepts a config that only *adds* points (SNRs,
systems, channels, budgets): finished points come from the journal, trained codecs from
``checkpoints/``; only the new points run.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from semlink.seeding import channel_seed, seed_channel, seed_everything
from semlink.sim.experiment_config import ExperimentConfig, load_experiment
from semlink.sim.runner import PER_QUERY, SECONDS, Point, RunDirectory, make_points, run_points

__all__ = ["ExperimentConfig", "ExperimentWorkload", "extension_problems", "load_experiment", "run_experiment"]

#: Config keys that may grow on ``--resume`` (points are added, none change).
EXTENSIBLE = ("name", "systems", "channels", "budgets")


def _log(message: str) -> None:
    print(f"[semlink {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def extension_problems(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why ``new`` cannot resume a run made with ``old`` (empty: it only adds points).

    Everything but the lists of systems, channels, budgets and SNRs must be equal, and a system or
    channel present in both must be unchanged.
    """
    problems = []
    for key in sorted(set(old) | set(new)):
        if key in EXTENSIBLE:
            continue
        a, b = old.get(key), new.get(key)
        if key == "eval" and isinstance(a, dict) and isinstance(b, dict):
            a = {k: v for k, v in a.items() if k not in ("snr_db", "noiseless")}
            b = {k: v for k, v in b.items() if k not in ("snr_db", "noiseless")}
        if a != b:
            problems.append(f"[{key}] changed")
    def channels(config: dict[str, Any]) -> list[dict[str, Any]]:  # [link.channel] is the default list
        return config.get("channels") or [config.get("link", {}).get("channel", {})]

    for what, listed, name_of in (
        ("system", lambda c: c.get("systems") or [], lambda s: s.get("name") or s.get("type")),
        ("channel", channels, lambda c: c.get("name")),
    ):
        before = {name_of(x): x for x in listed(old)}
        for item in listed(new):
            if name_of(item) in before and before[name_of(item)] != item:
                problems.append(f"{what} {name_of(item)!r} changed")
    return problems


def run_experiment(
    cfg: ExperimentConfig,
    out: str | os.PathLike[str],
    resume: bool = False,
    progress: bool | None = None,
    log=_log,
    executor=None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Run ``cfg`` into ``out``; ``executor`` from :func:`semlink.sim.executors.create_executor`
    (default in-process), ``cache_dir`` the shared cache of trained codecs (None: none)."""
    from semlink.sim.comparisons import paired_comparisons
    from semlink.sim.executors import LocalExecutor
    from semlink.sim.gallery import write_gallery
    from semlink.sim.plots import write_run_plots
    from semlink.devices import resolve_device
    from semlink.systems.context import build_context, context_payload

    out = Path(out)
    executor = executor or LocalExecutor()
    config = cfg.model_dump(mode="json")
    for spec in cfg.systems:  # models a stage names must be on disk: fail in seconds, before any work
        getattr(spec, "preflight", lambda: None)()
    # Refuse a used folder (or a resume with another config) before anything in it is overwritten.
    run_dir = RunDirectory(out)
    done = run_dir.prepare(config, cfg.seed, resume, check=extension_problems)
    seed_everything(cfg.seed)
    started = time.perf_counter()
    ctx = build_context(cfg, out, resolve_device(cfg.device), log, cache_dir)
    systems, channels = _systems(cfg)
    points = make_points(cfg.seed, _grid(cfg, systems, channels))
    # Every codec is trained (or loaded) here, once per (system, channel), before points fan out.
    by_id = {_system_id(s): s for s in systems}
    for point in points:
        if point.key not in done and point.params["channel"] in channels:
            by_id[_system_id(point.params)].prepare(ctx, channels[point.params["channel"]])
    if isinstance(executor, LocalExecutor):
        evaluate: Any = make_evaluate(cfg, ctx, systems, channels)
    else:
        evaluate = ExperimentWorkload(config, context_payload(ctx))
    frame = run_points(
        points, evaluate, out, config=config, seed=cfg.seed, resume=resume, executor=executor,
        check=extension_problems, progress=progress, desc="points",
        on_row=lambda f: write_run_plots(f, out, cfg.name),
    )
    frame = _with_derived_rows(frame, cfg, run_dir)
    write_run_plots(frame, out, cfg.name, formats=("png", "pdf", "svg"))
    write_gallery(frame, points, run_dir, ctx.query_images, out, cfg.name)
    comparisons = paired_comparisons(frame, points, run_dir)
    if len(comparisons):
        run_dir.write_tables(comparisons.to_dict("records"), name="comparisons")
    log(f"done in {time.perf_counter() - started:.0f} s: {out}/results.csv, comparisons.csv, plots")
    return frame


def _with_derived_rows(frame: pd.DataFrame, cfg: ExperimentConfig, run_dir: RunDirectory) -> pd.DataFrame:
    """Append rows a system derives from its points (e.g. an MCS envelope) and rewrite the tables."""
    from semlink.systems.base import seed_summary_rows, system_class

    derived = seed_summary_rows(frame)
    for spec in cfg.systems:
        hook = getattr(system_class(spec.type), "derived_rows", None)
        if hook is not None:
            derived.extend(hook(frame, spec))
    if not derived:
        return frame
    return run_dir.write_tables(frame.to_dict("records") + derived)


def _system_id(system) -> tuple:
    if isinstance(system, dict):
        return system["system"], system["budget"], system["variant"]
    return system.name, system.budget, system.variant


def _systems(cfg: ExperimentConfig):
    from semlink.systems.base import create_systems

    systems = [system for spec in cfg.systems for system in create_systems(spec, cfg.budgets, cfg.train.seeds)]
    return systems, {ch.name: ch for ch in cfg.channel_list}


def _grid(cfg: ExperimentConfig, systems, channels) -> list[dict[str, Any]]:
    snrs = list(cfg.eval.snr_db) + ([math.inf] if cfg.eval.noiseless else [])
    grid: list[dict[str, Any]] = []
    for system in systems:
        base = {"system": system.name, "budget": system.budget, "variant": system.variant}
        if getattr(system, "channel_free", False):
            grid.append({**base, "channel": "none", "snr_db": math.inf})
            continue
        for ch in channels:
            grid.extend({**base, "channel": ch, "snr_db": float(s)} for s in snrs)
    return grid


def make_evaluate(cfg: ExperimentConfig, ctx, systems, channels):
    """``evaluate(point) -> row``: send the queries through the point's system and score them."""
    from semlink.metrics.score import SentItems, score
    from semlink.systems.base import is_noiseless

    sent = SentItems(ctx.queries, ctx.query_labels, ctx.query_images)
    by_id = {_system_id(s): s for s in systems}

    def evaluate(point: Point) -> dict[str, Any]:
        params = point.params
        system = by_id[_system_id(params)]
        channel = channels.get(params["channel"])
        snr_db = params["snr_db"]
        if channel is not None:
            system.prepare(ctx, channel)
        seed_everything(point.seed)
        if channel is not None:
            seed_channel(channel_seed(cfg.seed, channel.name, snr_db))  # common random numbers
        tic = time.perf_counter()
        received = system.transmit(ctx, channel, snr_db)
        scored = score(received, sent, ctx.kb, ctx.image_encoder, top_k=ctx.top_k, lpips=ctx.lpips)
        uses = system.channel_uses(ctx)
        described = system.describe(ctx, channel) if channel is not None else {}
        offset = described.pop("ebno_offset_db", None)
        sent_uses = received.channel_uses_sent
        return {
            "ebno_db": snr_db - offset if offset is not None else None,
            "noiseless": is_noiseless(snr_db),
            "channel_uses": uses,
            "channel_uses_sent": float(np.mean(sent_uses)) if sent_uses is not None else float(uses),
            "channel_uses_with_padding": system.channel_uses_with_padding(ctx, channel) if channel else 0,
            "cbr": uses / ctx.source_values,
            **scored.metrics,
            **received.extras,
            "skipped_metrics": "; ".join(f"{k}: {v}" for k, v in sorted(scored.skipped.items())),
            **described,
            SECONDS: time.perf_counter() - tic,
            PER_QUERY: {**scored.per_query, **_examples(received)},
        }

    return evaluate


EXAMPLES = 4
"""Queries whose reconstructions (and a scheme's own examples) are kept for the example figure."""


def _examples(received) -> dict[str, np.ndarray]:
    out = {f"example_{k}": np.asarray(v)[:EXAMPLES] for k, v in received.examples.items()}
    if received.images is not None:
        out["example_images"] = np.asarray(received.images)[:EXAMPLES]
    return out


class ExperimentWorkload:
    """A picklable :class:`~semlink.sim.executors.Evaluator` for workers in other processes or machines:
    the resolved config plus :func:`~semlink.systems.context.context_payload` (arrays and file bytes)."""

    def __init__(self, config: dict[str, Any], payload: dict[str, Any]) -> None:
        self.config = config
        self.payload = payload

    def build(self):
        from semlink.sim.config import validate
        from semlink.devices import resolve_device
        from semlink.systems.context import context_from_payload

        cfg = validate(ExperimentConfig, self.config)
        seed_everything(cfg.seed)
        workdir = Path(tempfile.mkdtemp(prefix="semlink-worker-"))
        ctx = context_from_payload(cfg, self.payload, workdir, resolve_device(cfg.device), log=lambda m: None)
        systems, channels = _systems(cfg)
        return make_evaluate(cfg, ctx, systems, channels)
