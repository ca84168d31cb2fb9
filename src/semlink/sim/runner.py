"""Run independent simulation points and write tidy, resumable results.

A *run* is a list of :class:`Point` s (system × channel × SNR × ...), each seeded from the run seed
and its identity (:func:`semlink.seeding.point_seed`). Points are independent: an executor
(:mod:`semlink.sim.executors`: in-process, a process pool or Ray) may evaluate them anywhere and in
any order and the files are identical. :func:`run_points` appends every finished row to a journal
(``points.jsonl``, one fsynced JSON line per point) and rewrites the tables atomically, so a killed
run leaves valid partial results and ``resume=True`` skips exactly the points already in the
journal (a half-written last line is ignored and its point redone).

The files a run folder holds are listed in :mod:`semlink.sim.run_directory`.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from semlink.errors import SemlinkError
from semlink.seeding import identity_key, point_seed
from semlink.sim.run_directory import (  # the folder's names, re-exported where callers found them before
    JOURNAL,
    MANIFEST,
    PER_QUERY,
    PER_QUERY_DIR,
    SECONDS,
    ConfigCheck,
    RunDirectory,
    RunProgress,
    _json_safe,
    describe_changes,
    per_query_name,
    with_integer_columns,
)

__all__ = ["JOURNAL", "MANIFEST", "PER_QUERY", "PER_QUERY_DIR", "SECONDS", "ConfigCheck", "Point", "RunDirectory",
           "RunProgress", "describe_changes", "make_points", "per_query_name", "run_points", "with_integer_columns"]


@dataclass(frozen=True)
class Point:
    """One independent unit of work.

    ``key`` names the point uniquely (its identity, used for resume); ``params`` are passed to the
    evaluator and become the row's first columns; ``seed`` is derived from the run seed and ``key``;
    ``index`` is the point's position in the run's grid (the tables' row order).
    """

    index: int
    key: str
    seed: int
    params: dict[str, Any] = field(default_factory=dict)


def make_points(run_seed: int, grid: Iterable[dict[str, Any]]) -> list[Point]:
    """Give each parameter dict of ``grid`` its identity key and derived seed.

    >>> pts = make_points(1, [{"snr_db": 0.0}, {"snr_db": 2.0}])
    >>> [p.key for p in pts]
    ['snr_db=0.0', 'snr_db=2.0']
    """
    points = []
    seen: set[str] = set()
    for i, params in enumerate(grid):
        key = identity_key(params)
        if key in seen:
            raise SemlinkError(f"duplicate point {key!r} in the run grid; every point must be unique")
        seen.add(key)
        points.append(Point(index=i, key=key, seed=point_seed(run_seed, key), params=dict(params)))
    return points


@contextlib.contextmanager
def _tables_on_the_way_out(write: Callable[[], Any]):
    """Leaving by an exception (Ctrl-C, a failed point), first bring the tables up to every finished point."""
    try:
        yield
    except BaseException:
        try:
            write()
        except Exception:  # noqa: BLE001 - the journal holds the rows; the original error matters more
            pass
        raise


#: A mid-run refresh (tables, plots) waits this many times what the last one took: at most 1/20 of the run each.
REFRESH_FACTOR = 20.0


class _Throttle:
    """Due when at least ``max(min_seconds, REFRESH_FACTOR x the last timed call)`` has passed since that call ended
    (always due before the first)."""

    def __init__(self, min_seconds: float) -> None:
        self.min_seconds = float(min_seconds)
        self.ended: float | None = None
        self.took = 0.0

    def __call__(self) -> bool:
        return self.ended is None or time.monotonic() - self.ended >= max(self.min_seconds, REFRESH_FACTOR * self.took)

    @contextlib.contextmanager
    def timing(self):
        started = time.monotonic()
        try:
            yield
        finally:
            self.ended = time.monotonic()
            self.took = self.ended - started


def _point_note(params: dict[str, Any]) -> str:
    """A point in a few words for progress lines: ``kbsc [seed 1] 32 uses, awgn, 5 dB``."""
    words = [str(params.get("system", ""))]
    if params.get("variant"):
        words.append(f"[{params['variant']}]")
    if params.get("budget") is not None:
        words.append(f"{params['budget']} uses")
    text = " ".join(w for w in words if w)
    rest = [str(params["channel"])] if "channel" in params else []
    snr = params.get("snr_db")
    if isinstance(snr, float):
        rest.append("noiseless" if snr == float("inf") else f"{snr:g} dB")
    return ", ".join([text, *rest] if text else rest)


def _with_query_columns(per_query: dict[str, Any], columns: dict[str, Any] | None) -> dict[str, Any]:
    """``per_query`` with ``query_index`` and the run's ``columns`` in front. The number of queries is
    the columns' length (else the one length all 1-D arrays share); arrays of another length (a few
    example images, texts) are kept as they are."""
    import numpy as np

    columns = {k: v for k, v in (columns or {}).items() if np.ndim(v) >= 1}
    counts = {len(v) for v in columns.values()} or {len(v) for v in per_query.values() if np.ndim(v) == 1}
    if len(counts) != 1:
        return per_query
    count = counts.pop()
    if not any(np.ndim(v) >= 1 and len(v) == count for v in per_query.values()):
        return per_query  # nothing per query here: the columns would describe nothing
    front: dict[str, Any] = {"query_index": np.arange(count)}
    front.update({name: np.asarray(values) for name, values in columns.items() if name not in per_query})
    return {**front, **per_query}


def run_points(
    points: Sequence[Point],
    evaluate: Any,
    out: str | os.PathLike[str],
    *,
    config: dict[str, Any],
    seed: int,
    resume: bool = False,
    executor: Any = None,
    check: ConfigCheck | None = None,
    progress: str | bool | None = None,
    desc: str = "points",
    on_row: Callable[[pd.DataFrame], None] | None = None,
    refresh_seconds: float = 15.0,
    done: dict[str, dict[str, Any]] | None = None,
    table_of: Callable[[Point], str] | None = None,
    query_columns: dict[str, Any] | Callable[[Point], dict[str, Any] | None] | None = None,
    manifest: dict[str, Any] | None = None,
    progress_interval_s: float = 10.0,
    progress_every: int | None = None,
    complete: bool = True,
) -> pd.DataFrame:
    """Evaluate every point not yet done; return the full results table (in grid order).

    ``evaluate`` is ``evaluate(point) -> row`` or, for executors that run points in other
    processes, an :class:`~semlink.sim.executors.Evaluator` (picklable, built once per worker). A
    row may carry per-query arrays under :data:`PER_QUERY`; they are stored in ``per_query/``. The
    runner adds the point's parameters and ``seed``. Tables are rewritten as points finish (at
    most a twentieth of the time spent on them) and at the end; ``on_row`` (plots) with them, at most
    every ``refresh_seconds``, and once at the end. The manifest
    is written first with ``status="running"`` and at the end with ``status="complete"``. ``done``:
    the rows :meth:`RunDirectory.prepare` returned, where the caller prepared the folder itself.
    ``table_of(point)`` names the table a point's row goes to (default ``"results"``, the one returned and
    shown to ``on_row``; e.g. ``"validation"`` for points that choose among variants).

    ``progress``: ``bar`` | ``lines`` | ``none`` | None (:func:`semlink.progress.current_mode`); in
    ``lines`` mode a line every ``progress_interval_s`` seconds or ``progress_every`` points, with
    the ETA. ``query_columns``: arrays of one value per query (``query_id``, ``true_label``) stored
    in every per-query file beside the evaluator's arrays, with ``query_index`` (or a function of the
    point giving them, where points are evaluated on different query sets). ``manifest``: further
    facts for ``manifest.json`` (the command line, the host...). ``complete=False``: these points are one
    stage of a run whose caller evaluates more after them (the manifest stays ``running``).
    """
    from semlink.progress import PointProgress
    from semlink.sim.executors import LocalExecutor

    executor = executor or LocalExecutor()
    run_dir = RunDirectory(out)
    if done is None:
        done = run_dir.prepare(config, seed, resume, check)
    rows = {p.key: done[p.key] for p in points if p.key in done}
    extra = dict(manifest or {})
    run_dir.write_manifest(config, seed, status="running", n_points=len(points), executor=executor.describe(), **extra)
    todo = [p for p in points if p.key not in done]

    table_of = table_of or (lambda point: "results")
    tables = sorted({table_of(p) for p in points} | {"results"})

    def table(name: str = "results") -> pd.DataFrame:
        return run_dir.write_tables([rows[p.key] for p in points if p.key in rows and table_of(p) == name], name=name)

    # Mid-run tables and plots are a view for whoever watches the run (the journal is what a resume
    # reads): each is refreshed only once the time since its last refresh is 20x what that refresh
    # took, so on long grids of fast points they cost at most a twentieth of the run.
    tables_due, plots_due = _Throttle(0.0), _Throttle(refresh_seconds)
    with PointProgress(len(todo), desc, progress, interval_s=progress_interval_s, every=progress_every) as bar, \
            _tables_on_the_way_out(lambda: [table(name) for name in tables]):
        for point, metrics in executor.imap(evaluate, todo):
            per_query = metrics.pop(PER_QUERY, None)
            seconds = metrics.pop(SECONDS, None)
            if per_query:
                columns = query_columns(point) if callable(query_columns) else query_columns
                run_dir.write_per_query(point.key, _with_query_columns(per_query, columns))
            row = {**point.params, **metrics, "seed": point.seed}
            run_dir.append(point.key, row, seconds)
            rows[point.key] = json.loads(json.dumps({k: _json_safe(v) for k, v in row.items()}))
            if tables_due():
                with tables_due.timing():
                    frame = table(table_of(point))
                if on_row is not None and table_of(point) == "results" and plots_due():
                    with plots_due.timing():
                        on_row(frame)
            bar.update(1, _point_note(point.params))
    for name in tables:
        if name != "results":
            table(name)
    frame = table()
    timings = run_dir.read_timings()
    if timings:
        run_dir.write_tables([{**p.params, "seconds": timings[p.key]} for p in points if p.key in timings],
                             name="timings", parquet=False)
    if on_row is not None:
        on_row(frame)
    if complete:
        run_dir.write_manifest(config, seed, status="complete", n_points=len(points), executor=executor.describe(),
                               **extra)
    return frame
