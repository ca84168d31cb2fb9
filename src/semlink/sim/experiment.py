"""``semlink run CONFIG.toml``: an experiment from one validated TOML file.

Steps: build the :class:`~semlink.systems.ExperimentContext` (data → cached image features →
splits → the receiver's knowledge base) → expand every ``[[systems]]`` entry into systems (one per
budget) → train (or load) what each needs per channel → evaluate every point (system × budget ×
channel × SNR, each with its own seed) → score what the receiver got with
:func:`semlink.metrics.score.score` → ``results.csv``/``.parquet``, ``manifest.json`` and plots.
``resume=True`` continues a killed run: finished points come from the journal, trained codecs from
``checkpoints/``.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from semlink.errors import SemlinkError
from semlink.seeding import seed_everything
from semlink.sim.experiment_config import ExperimentConfig, load_experiment
from semlink.sim.plots import plot_accuracy
from semlink.sim.runner import Point, RunDirectory, make_points, run_points

__all__ = ["ExperimentConfig", "load_experiment", "run_experiment", "write_plots"]


def _log(message: str) -> None:
    print(f"[semlink {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_experiment(
    cfg: ExperimentConfig, out: str | os.PathLike[str], resume: bool = False, progress: bool | None = None, log=_log
) -> pd.DataFrame:
    from semlink.metrics.score import SentItems, score
    from semlink.systems.base import create_systems, is_noiseless
    from semlink.systems.context import build_context, resolve_device

    out = Path(out)
    config = cfg.model_dump(mode="json")
    # Refuse a used folder (or a resume with another config) before anything in it is overwritten.
    RunDirectory(out).prepare(config, cfg.seed, resume)
    seed_everything(cfg.seed)
    started = time.perf_counter()
    ctx = build_context(cfg, out, resolve_device(cfg.device), log)
    sent = SentItems(ctx.queries, ctx.query_labels, ctx.query_images)
    systems = [system for spec in cfg.systems for system in create_systems(spec, cfg.budgets)]
    by_id = {(s.name, s.budget, s.variant): s for s in systems}
    channels = {ch.name: ch for ch in cfg.channel_list}

    snrs = list(cfg.eval.snr_db) + ([math.inf] if cfg.eval.noiseless else [])
    grid: list[dict[str, Any]] = []
    for system in systems:
        base = {"system": system.name, "budget": system.budget, "variant": system.variant}
        if getattr(system, "channel_free", False):
            grid.append({**base, "channel": "none", "snr_db": math.inf})
            continue
        for ch in channels:
            grid.extend({**base, "channel": ch, "snr_db": float(s)} for s in snrs)
    points = make_points(cfg.seed, grid)

    def evaluate(point: Point) -> dict[str, Any]:
        params = point.params
        system = by_id[(params["system"], params["budget"], params["variant"])]
        channel = channels.get(params["channel"])
        if channel is not None:
            system.prepare(ctx, channel)
        snr_db = params["snr_db"]
        seed_everything(point.seed)
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
            "eval_seconds": time.perf_counter() - tic,
        }

    def refresh(frame: pd.DataFrame) -> None:
        write_plots(frame, out, cfg.name)

    frame = run_points(
        points, evaluate, out, config=config, seed=cfg.seed, resume=resume, progress=progress,
        desc="points", on_row=refresh,
    )
    log(f"done in {time.perf_counter() - started:.0f} s: {out}/results.csv, plots")
    return frame


def write_plots(frame: pd.DataFrame, out: Path, title: str) -> None:
    """One top-1 and one top-k accuracy-vs-SNR plot per channel; the noiseless bound on each."""
    bound = frame[frame["channel"] == "none"]
    topk = next((c for c in frame.columns if c.startswith("top") and c.endswith("_accuracy") and c != "top1_accuracy"), None)
    for channel, part in frame[frame["channel"] != "none"].groupby("channel"):
        part = pd.concat([part, bound])
        plot_accuracy(part, out / f"accuracy_top1_{channel}.png", title=f"{title}: top-1, {channel}")
        if topk:
            ci = (topk.replace("accuracy", "ci_low"), topk.replace("accuracy", "ci_high"))
            plot_accuracy(part, out / f"accuracy_{topk.split('_')[0]}_{channel}.png", metric=topk, ci=ci,
                          title=f"{title}: {topk.split('_')[0]}, {channel}")
