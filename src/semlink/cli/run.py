"""``semlink run``: an experiment from a TOML config (systems x budgets x channels x SNRs)."""

from __future__ import annotations

from pathlib import Path

import typer

from semlink.cli.common import EXECUTOR_HELP, THREADS_HELP, resumable


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        config: Path = typer.Argument(..., help="Experiment TOML (see configs/)."),
        out: Path = typer.Option(..., "--out", help="Output folder (results, manifest, checkpoints, figures); must be "
                                     "new or empty unless --resume."),
        resume: bool = typer.Option(False, "--resume", help="Continue a killed run in --out (also with added points)."),
        executor: str = typer.Option("local", "--executor", help=EXECUTOR_HELP),
        workers: int | None = typer.Option(None, "--workers", help="Worker processes (process; default: the CPU count) or actors "
                                       "(ray; default: the cluster's CPUs)."),
        address: str | None = typer.Option(None, "--address", help="Address of an existing Ray cluster (ray; default: start a "
                                       "local one)."),
        threads: str = typer.Option("auto", "--threads", help=THREADS_HELP),
        cache: Path | None = typer.Option(None, "--cache", help="Folder of the shared cache of trained codecs "
                                          "(default: $SEMLINK_CACHE/checkpoints or ~/.cache/semlink/checkpoints)."),
        no_cache: bool = typer.Option(False, "--no-cache", help="Neither reuse nor store codecs in the shared cache."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved points, channel uses and CBR; run nothing."),
        progress: str = typer.Option(
            "auto", "--progress", help="How progress is shown: bar (redrawn in place) | lines (a timestamped "
            "line per training epoch and every ~10 s of evaluation, with ETA: for logs) | none | auto (bar on a "
            "terminal, lines otherwise)."),
    ) -> None:
        """Run an experiment: systems × budgets × channels × SNRs → results tables, manifest, plots.

        Ctrl-C stops it with status 130 and one line saying what --out keeps (finished points, trained
        codecs) and the command that continues it (--resume).
        """
        from semlink.io import check_output_folder
        from semlink.progress import resolve_mode
        from semlink.sim.executors import create_executor, set_up_threads
        from semlink.sim.experiment_config import load_experiment

        resolve_mode(progress)  # a bad value fails before the config is read
        cfg = load_experiment(config)  # validated whole (PHY included) before anything heavy is imported
        runner = create_executor(executor, workers, address, threads)
        if dry_run:
            from semlink.sim.dry_run import describe_run

            typer.echo(describe_run(cfg))
            return
        check_output_folder(out)  # before the data, features and training it would otherwise follow
        set_up_threads(executor, threads)
        from semlink.sim.experiment import run_experiment
        from semlink.sim.resources import default_cache_dir

        cache_dir = None if no_cache else (cache if cache is not None else default_cache_dir() / "checkpoints")
        with resumable(out):
            run_experiment(cfg, out, resume=resume, executor=runner, cache_dir=cache_dir, progress=progress)
        import pandas as pd

        frame = pd.read_parquet(out / "results.parquet")  # as written: integer columns integer
        cols = [c for c in ("system", "budget", "variant", "channel", "snr_db", "channel_uses", "top1_accuracy",
                            "top5_accuracy", "psnr_db")
                if c in frame.columns]
        typer.echo(frame[cols].to_string(index=False))
