"""``semlink run CONFIG.toml``: an experiment from one validated TOML file.

Steps: build the run's resources (:mod:`semlink.sim.resources`: data → cached image features →
splits → the receiver's knowledge base) → expand every ``[[systems]]`` entry into systems (one per
budget) → train (or load, or reuse from the shared cache) what each needs per channel, side by
side in worker processes where several codecs train (:mod:`semlink.sim.training_pool`) → evaluate
every point (system × budget × channel × SNR, each seeded by its identity, the channel by (channel,
SNR) for common random numbers) on the chosen executor — a family of variants (an MCS table) on the
validation split first, then on the test queries only the member chosen per (budget, channel, SNR),
or every member with ``[eval] hindsight = true`` (:mod:`semlink.sim.grid`) — → score what the
receiver got with :func:`semlink.metrics.score.score` → ``results.csv``/``.parquet``,
``comparisons.csv``/``.parquet`` (paired differences between systems), ``manifest.json`` and plots.

``resume=True`` continues a killed run — and accepts a config that only *adds* points (SNRs,
systems, channels, budgets): finished points come from the journal, trained codecs from
``checkpoints/``; only the new points run. The manifest (status ``running``) is written before any
work, so a run killed anywhere — extracting features, training, evaluating — resumes. A config
that changes a setting is refused naming the key and both values; one that drops finished points
is refused naming them (a run folder holds the results of one config: silently keeping rows the
config no longer describes, or silently losing them, would both make the folder lie).
One process writes a run folder at a time (:mod:`semlink.sim.run_lock`).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from semlink.errors import SemlinkError
from semlink.seeding import channel_seed, seed_channel, seed_everything
from semlink.sim.experiment_config import ExperimentConfig, load_experiment
from semlink.sim.grid import chosen_points, run_grid, system_id
from semlink.sim.runner import (
    PER_QUERY,
    SECONDS,
    Point,
    RunDirectory,
    describe_changes,
    make_points,
    run_points,
)

__all__ = [
    "ExperimentConfig", "ExperimentWorkload", "build_systems", "dropped_points", "extension_problems", "load_experiment",
    "run_experiment", "run_setting",
]

#: Config keys that may grow on ``--resume`` (points are added, none change).
EXTENSIBLE = ("name", "plugins", "systems", "channels", "budgets")


def _log(message: str) -> None:
    print(f"[semlink {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _system_name(entry: dict[str, Any]) -> str:
    """A ``[[systems]]`` entry's results name (its spec's ``display_name``; the entry's own words if it no
    longer parses)."""
    from semlink.systems.specs import parse_system_spec

    try:
        return parse_system_spec(entry).display_name
    except (ValueError, TypeError):
        return str(entry.get("name") or entry.get("type"))


def extension_problems(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why ``new`` cannot resume a run made with ``old`` (empty: it only adds points).

    Everything but the lists of systems, channels, budgets and SNRs must be equal, and a system or
    channel present in both must be unchanged. Each problem names the key and both values, e.g.
    ``system 'kbsc' changed (train.epochs: 30 -> 20)``. (Points a new config *drops* are the caller's
    to refuse: only the run's journal knows which of them are done.)
    """
    problems = []
    for key in sorted(set(old) | set(new)):
        if key in EXTENSIBLE or key == "seed":  # the seed: RunDirectory.prepare says it
            continue
        a, b = old.get(key), new.get(key)
        if key == "eval" and isinstance(a, dict) and isinstance(b, dict):
            # More SNRs add points; so does hindsight (every family member on the test queries).
            a = {k: v for k, v in a.items() if k not in ("snr_db", "noiseless", "hindsight")}
            b = {k: v for k, v in b.items() if k not in ("snr_db", "noiseless", "hindsight")}
        if a != b:
            problems.append(f"[{key}] changed ({describe_changes(a, b)})")

    def channels(config: dict[str, Any]) -> list[dict[str, Any]]:  # [link.channel] is the default list
        return config.get("channels") or [config.get("link", {}).get("channel", {})]

    for what, listed, name_of in (
        ("system", lambda c: c.get("systems") or [], _system_name),
        ("channel", channels, lambda c: c.get("name")),
    ):
        before = {name_of(x): x for x in listed(old)}
        for item in listed(new):
            if name_of(item) in before and before[name_of(item)] != item:
                problems.append(f"{what} {name_of(item)!r} changed ({describe_changes(before[name_of(item)], item)})")
    return problems


def dropped_points(done: dict[str, dict[str, Any]], points: list[Point]) -> list[str]:
    """Keys of finished points (``done``: the journal's rows) that ``points`` no longer holds."""
    keep = {p.key for p in points}
    return [key for key in done if key not in keep]


def run_setting(cfg: ExperimentConfig, source) -> Any:
    """The :class:`~semlink.systems.base.RunSetting` every system of ``cfg`` is built against."""
    from semlink.systems.base import RunSetting

    return RunSetting(source=source, link=cfg.link, train_snr_db=tuple(float(s) for s in cfg.train.snr_db),
                      train_seeds=cfg.train.seeds, seed=cfg.seed,
                      budgets=tuple(cfg.budgets) if cfg.budgets else None)


def run_experiment(
    cfg: ExperimentConfig,
    out: str | os.PathLike[str],
    resume: bool = False,
    progress: str | bool | None = None,
    log=_log,
    executor=None,
    cache_dir: str | os.PathLike[str] | None = None,
    figures: bool = True,
    command: str | None = None,
) -> pd.DataFrame:
    """Run ``cfg`` into ``out``; ``executor`` from :func:`semlink.sim.executors.create_executor`
    (default in-process), ``cache_dir`` the shared cache of trained codecs (None: none).

    ``progress``: ``auto`` (None) | ``bar`` | ``lines`` | ``none`` for training epochs and points
    (:mod:`semlink.progress`); ``figures``: write the PNG/PDF/SVG figures and the example gallery
    (tables, comparisons and the manifest are always written); ``command``: what the manifest
    records as the command line (default: this process's).
    """
    from semlink.progress import progress_mode

    with progress_mode(progress):
        return _run_experiment(cfg, Path(out), resume, log, executor, cache_dir, figures, command)


def _run_experiment(cfg: ExperimentConfig, out: Path, resume: bool, log, executor, cache_dir, figures: bool,
                    command: str | None) -> pd.DataFrame:
    from semlink.devices import resolve_device
    from semlink.sim.comparisons import paired_comparisons
    from semlink.sim.executors import LocalExecutor
    from semlink.sim.gallery import write_gallery
    from semlink.sim.plots import write_run_plots
    from semlink.sim.resources import add_validation, build_resources, evaluation_payload, feature_cache_dir
    from semlink.sim.run_record import (
        Phases,
        command_line,
        host_facts,
        resolved_config,
        trivial_metric_warnings,
    )
    from semlink.sim.training_curves import write_training_curves
    from semlink.sim.training_pool import train_side_by_side

    phases = Phases()
    executor = executor or LocalExecutor()
    config = cfg.model_dump(mode="json")
    for spec in cfg.systems:  # models a stage names must be on disk: fail in seconds, before any work
        spec.preflight()
    # Refuse a used, locked or unwritable folder (or a resume with another config) before anything in
    # it is overwritten; a fresh run's manifest is written here.
    run_dir = RunDirectory(out)
    done = run_dir.prepare(config, cfg.seed, resume, check=extension_problems, log=log)
    with run_dir.writing():
        seed_everything(cfg.seed)
        with phases("data and features"):
            resources = build_resources(cfg, out, resolve_device(cfg.device), log, cache_dir)
        ctx = resources.context
        systems, channels = build_systems(cfg, ctx.source)
        if any(system.selection_metric for system in systems):
            add_validation(resources, cfg)
        points = make_points(cfg.seed, run_grid(cfg, systems, channels))
        dropped = dropped_points(done, points)
        if dropped:
            names = [_point_name(done[key], key) for key in dropped]
            shown = "; ".join(names[:6]) + (f"; and {len(names) - 6} more" if len(names) > 6 else "")
            raise SemlinkError(
                f"--resume refused: the config drops {len(dropped)} finished point(s) of {out} ({shown}); "
                "put them back in the config, or use a new --out folder (a run folder holds one config's results)"
            )
        class_names = ctx.library.class_names
        warnings = trivial_metric_warnings(cfg.eval.top_k, len(class_names) if class_names else None)
        for warning in warnings:
            log(f"warning: {warning}")
        host, threads = host_facts(executor.describe())
        record = {"command": command or command_line(), "working_directory": os.getcwd(), "host": host,
                  "threads": threads, "warnings": warnings,
                  "resolved_config": resolved_config(
                      cfg, systems, resources.scoring.image_encoder, str(feature_cache_dir(cfg)),
                      None if resources.validation is None else len(resources.validation[0].labels))}
        # The manifest now describes this config and its grid, before any codec is trained.
        run_dir.write_manifest(config, cfg.seed, status="running", n_points=len(points), executor=executor.describe(),
                               **record)
        # Every codec is trained (or loaded) once per (system, channel), before points fan out.
        by_id = {system_id(s): s for s in systems}
        with phases("training"):
            def pairs(keep):
                return [(by_id[system_id(p.params)], channels[p.params["channel"]]) for p in points
                        if keep(p) and p.params["channel"] in channels]

            todo = pairs(lambda p: p.key not in done)
            # Codecs no checkpoint holds are trained side by side first, then each system loads its own.
            record["training"] = train_side_by_side(pairs(lambda p: True), todo, ctx, config=config, out=out,
                                                    cache_dir=cache_dir, log=log)
            for system, channel in todo:
                system.prepare(ctx, channel)
            write_training_curves(out / "checkpoints")
        if isinstance(executor, LocalExecutor):
            evaluate: Any = make_evaluate(cfg, resources, systems, channels)
        else:
            evaluate = ExperimentWorkload(config, evaluation_payload(resources))
        queries = {"test": {"true_label": ctx.queries.labels.cpu().numpy()}}
        if resources.query_ids is not None:
            queries["test"]["query_id"] = resources.query_ids
        if resources.validation is not None:
            queries["validation"] = {"true_label": resources.validation[0].labels.cpu().numpy()}
        with phases("evaluation"):
            run = partial(run_points, evaluate=evaluate, out=out, config=config, seed=cfg.seed, resume=resume,
                          executor=executor, check=extension_problems, manifest=record,
                          table_of=lambda point: point.params.get("split", "results"),
                          query_columns=lambda point: queries.get(point.params.get("split", "test")))
            if not cfg.eval.hindsight:
                # Choose on validation first; then only each family's chosen member scores the test queries.
                validation_points = [p for p in points if p.params.get("split") == "validation"]
                if validation_points:
                    run(validation_points, desc="validation points", done=done, complete=False)
                    points = chosen_points(points, systems, run_dir.read_table("validation"))
                    done = run_dir.read_journal()
            frame = run(points, desc="points", done=done,
                        on_row=(lambda f: write_run_plots(f, out, cfg.name)) if figures else None)
        with phases("tables and figures"):
            frame = _with_derived_rows(frame, systems, run_dir)
            if figures:
                write_run_plots(frame, out, cfg.name, formats=("png", "pdf", "svg"))
                write_gallery(frame, points, run_dir, ctx.queries.images, out, cfg.name)
            comparisons = paired_comparisons(frame, points, run_dir)
            if len(comparisons):
                run_dir.write_tables(comparisons.to_dict("records"), name="comparisons")
        run_dir.write_manifest(config, cfg.seed, status="complete", n_points=len(points),
                               executor=executor.describe(), **record, wall_seconds=phases.record())
        log(f"done in {phases.record()['total']:.0f} s: {out}/results.csv, comparisons.csv"
            + (", figures" if figures else ""))
    return frame


def _point_name(row: dict[str, Any], key: str) -> str:
    """``kbsc @ 16 cu, tdl-a, 5.0 dB`` for a journal row (its ``key`` when the row lacks a field)."""
    try:
        budget = f" @ {row['budget']:g} cu" if row["budget"] is not None else ""
        variant = f" ({row['variant']})" if row["variant"] else ""
        return f"{row['system']}{budget}{variant}, {row['channel']}, {row['snr_db']:g} dB"
    except (KeyError, TypeError, ValueError):
        return key


def _with_derived_rows(frame: pd.DataFrame, systems, run_dir: RunDirectory) -> pd.DataFrame:
    """Append the rows derived from finished points and rewrite the tables: the mean and spread over
    training seeds, each family's choices (on validation, and in hindsight on the test queries:
    :func:`~semlink.systems.base.selection_rows`) and what a system class derives itself."""
    from semlink.systems.base import seed_summary_rows, selection_rows

    derived = seed_summary_rows(frame)
    validation = run_dir.read_table("validation")
    families = {system.name: system.selection_metric for system in systems if system.selection_metric}
    for name, metric in families.items():
        derived.extend(selection_rows(frame, validation, name, metric))
    specs = {}
    for system in systems:
        specs.setdefault(system.spec.display_name, (type(system), system.spec))
    for cls, spec in specs.values():
        derived.extend(cls.derived_rows(frame, spec))
    if not derived:
        return frame
    return run_dir.write_tables(frame.to_dict("records") + derived)


def build_systems(cfg: ExperimentConfig, source):
    """The systems of ``cfg`` (every entry expanded per budget, variant and training seed) and its
    channels by name; ``source``: :class:`~semlink.systems.context.Source` of the run's data."""
    from semlink.systems.base import create_systems

    setting = run_setting(cfg, source)
    systems = [system for spec in cfg.systems for system in create_systems(spec, setting, cfg.budgets)]
    return systems, {ch.key: ch for ch in cfg.channel_list}


def make_evaluate(cfg: ExperimentConfig, resources, systems, channels):
    """``evaluate(point) -> row``: send the queries through the point's system and score them."""
    from semlink.metrics.score import SentItems, score
    from semlink.phy.snr import is_noiseless

    by_id = {system_id(s): s for s in systems}

    def evaluate(point: Point) -> dict[str, Any]:
        params = point.params
        split = params.get("split", "test")
        ctx, scoring = resources.split(split)
        sent = SentItems(ctx.queries.features, ctx.queries.labels, ctx.queries.images)
        system = by_id[system_id(params)]
        channel = channels.get(params["channel"])
        snr_db = params["snr_db"]
        if channel is not None:
            system.prepare(ctx, channel)
        seed_everything(point.seed)
        if channel is not None:
            seed_channel(channel_seed(cfg.seed, channel.key, snr_db, split))  # common random numbers
        tic = time.perf_counter()
        received = system.transmit(ctx, channel, snr_db)
        scored = score(received, sent, scoring.kb, scoring.reencoder(), top_k=scoring.top_k, lpips=scoring.lpips)
        uses = system.channel_uses
        described = system.describe(ctx.links, channel) if channel is not None else {}
        offset = system.ebno_offset_db(ctx.links, channel) if channel is not None else None
        sent_uses = received.channel_uses_sent
        return {
            "ebno_db": snr_db - offset if offset is not None else None,
            "noiseless": is_noiseless(snr_db),
            "channel_uses": uses,
            "channel_uses_sent": float(np.mean(sent_uses)) if sent_uses is not None else float(uses),
            "channel_uses_with_padding": system.channel_uses_with_padding(ctx.links, channel) if channel else 0,
            "cbr": uses / ctx.source.values,
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
    the resolved config plus :func:`~semlink.sim.resources.evaluation_payload` (arrays and file bytes)."""

    def __init__(self, config: dict[str, Any], payload: dict[str, Any]) -> None:
        self.config = config
        self.payload = payload

    def build(self):
        from semlink.config import validate
        from semlink.devices import resolve_device
        from semlink.sim.resources import resources_from_payload

        cfg = validate(ExperimentConfig, self.config)
        seed_everything(cfg.seed)
        workdir = Path(tempfile.mkdtemp(prefix="semlink-worker-"))
        resources = resources_from_payload(cfg, self.payload, workdir, resolve_device(cfg.device), log=lambda m: None)
        systems, channels = build_systems(cfg, resources.context.source)
        return make_evaluate(cfg, resources, systems, channels)
