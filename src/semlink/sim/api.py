"""The Python API: :func:`run` an experiment from a config (object, file or dict), :func:`load_runs` to read
finished runs back. ``semlink.run`` and ``semlink.load_runs`` are these functions.

>>> import semlink
>>> semlink.run is run and semlink.load_runs is load_runs
True

``run`` does what ``semlink run`` does and returns the results table. With ``out=None`` the run
lives in a temporary folder that is removed afterwards (no figures unless asked); with a folder
it is kept there, figures included. Errors are :class:`~semlink.errors.SemlinkError` whose
messages name this function's arguments (``resume=True``), not command-line flags.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from semlink.errors import SemlinkError

__all__ = ["load_runs", "run"]

# Command-line wording → this API's: each flag a message may name, and what a Python caller passes instead.
_FLAG_WORDS = (
    (r"pass --resume to continue it", "call semlink.run(..., resume=True) to continue it"),
    (r"run without --resume", "call semlink.run without resume=True"),
    (r"--resume refused", "resume=True refused"),
    (r"--resume given", "resume=True given"),
    (r"--resume", "resume=True"),
    (r"another --out folder", "another out folder"),
    (r"a new --out folder", "a new out folder"),
    (r"--out", "out"),
    (r"--executor (\w+)", r"executor='\1'"),
    (r"--executor", "executor"),
    (r"--workers", "workers"),
    (r"--address", "address"),
    (r"--cache", "cache"),
)


def _speak_python(err: SemlinkError) -> SemlinkError:
    """The same error (same class) with command-line flags named as this API's arguments."""
    text = str(err)
    for pattern, replacement in _FLAG_WORDS:
        text = re.sub(pattern, replacement, text)
    if text == str(err):
        return err
    try:
        return type(err)(text)
    except TypeError:  # an error class with another constructor: keep it, reworded in its args
        err.args = (text,)
        return err


def _config(config: Any):
    """An :class:`ExperimentConfig` from one, a TOML path, or a dict (its plug-ins imported first)."""
    from semlink.config import validate
    from semlink.sim.experiment_config import ExperimentConfig, load_experiment

    if isinstance(config, ExperimentConfig):
        return config
    if isinstance(config, (str, os.PathLike)):
        return load_experiment(config)
    if isinstance(config, dict):
        return validate(ExperimentConfig, config, source="config")
    raise SemlinkError(f"config must be an ExperimentConfig, a path to a TOML file or a dict; got "
                       f"{type(config).__name__}")


def run(
    config: Any,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    *,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    threads: int | str | None = None,
    cache: str | os.PathLike[str] | bool = True,
    figures: bool | None = None,
    progress: str = "auto",
    log: Any = None,
) -> pd.DataFrame:
    """Run an experiment and return its results table (one row per point, integer columns as integers).

    :param config: an :class:`~semlink.sim.experiment_config.ExperimentConfig`, the path of a TOML
        file (``plugins`` are also looked for beside it) or a dict of the same tree.
    :param out: the run folder (results, manifest, checkpoints, figures); None: a temporary folder,
        removed when the run returns.
    :param resume: continue the run in ``out`` (also with added systems, channels, budgets or SNRs).
    :param executor: ``local`` | ``process`` | ``ray``; ``workers`` and ``address`` as
        :func:`semlink.sim.executors.create_executor` takes them.
    :param threads: a count or ``auto``/None (the free CPUs): this process's threads (torch, numba,
        FAISS) with the local executor, each worker's with a pool (default 1 there); see
        :func:`semlink.sim.executors.set_up_threads`.
    :param cache: the shared cache of trained codecs: True (``$SEMLINK_CACHE/checkpoints`` or
        ``~/.cache/semlink/checkpoints``), a folder, or False (none).
    :param figures: write the PNG/PDF/SVG figures and the gallery; default: only when ``out`` is given.
    :param progress: ``auto`` | ``bar`` | ``lines`` | ``none`` (:mod:`semlink.progress`).
    :param log: ``log(message)`` for the run's log lines (default: stderr).
    :raises SemlinkError: a bad config or argument, a used ``out`` without ``resume=True``, missing data...
    """
    from semlink.sim.executors import create_executor, set_up_threads
    from semlink.sim.experiment import run_experiment
    from semlink.sim.resources import default_cache_dir

    if figures and out is None:
        raise SemlinkError("figures=True needs a folder to write them into: pass out='runs/my-run'")
    try:
        cfg = _config(config)
        runner = create_executor(executor, workers, address, threads)
        set_up_threads(executor, threads)
        cache_dir = (default_cache_dir() / "checkpoints" if cache is True else None if cache is False
                     else Path(cache))
        kwargs: dict[str, Any] = {"executor": runner, "cache_dir": cache_dir, "progress": progress,
                                  "command": "python: semlink.run(...)"}
        if log is not None:
            kwargs["log"] = log
        if out is None:
            if resume:
                raise SemlinkError("resume=True needs the folder of the run to continue: pass out=...")
            with tempfile.TemporaryDirectory(prefix="semlink-run-") as folder:
                run_experiment(cfg, folder, figures=bool(figures), **kwargs)
                return _results(Path(folder))
        run_experiment(cfg, out, resume=resume, figures=True if figures is None else figures, **kwargs)
        return _results(Path(out))
    except SemlinkError as err:
        raise _speak_python(err) from None


def _results(folder: Path) -> pd.DataFrame:
    """The run's results table as written (Parquet keeps integer columns integer)."""
    return pd.read_parquet(folder / "results.parquet")


def load_runs(dirs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
              labels: Sequence[str] | None = None) -> pd.DataFrame:
    """The results of one or several run folders as one table, a ``run`` column first (the folder's
    config name, else its folder name; ``labels`` to choose), integer columns as integers."""
    from semlink.sim.report import load_runs as load

    if isinstance(dirs, (str, os.PathLike)):
        dirs = [dirs]
    try:
        return load(list(dirs), labels)
    except SemlinkError as err:
        raise _speak_python(err) from None
