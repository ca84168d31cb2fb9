"""Run independent simulation points and write tidy, resumable results.

A *run* is a list of :class:`Point` s (system x channel x SNR x ...), each with its own seed derived
from the run seed. Points are independent: an executor may evaluate them anywhere and in any
order and get identical rows. :func:`run_points` evaluates them in-process, appending every
finished row to a journal (``points.jsonl``, one fsynced JSON line per point) and rewriting the
tables atomically, so a killed run leaves valid partial results and ``resume=True`` skips exactly
the points already in the journal (a half-written last line is ignored and its point redone).

Files in the run directory:

- ``results.csv`` / ``results.parquet``: one row per point, sorted by point index;
- ``manifest.json``: resolved config, package versions, seed, git commit, run status;
- ``points.jsonl``: the journal used for ``--resume``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from semlink.errors import SemlinkError
from semlink.io import atomic_path, build_manifest, write_json_atomic
from semlink.seeding import point_seed

JOURNAL = "points.jsonl"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Point:
    """One independent unit of work.

    ``key`` names the point uniquely within the run (used for resume); ``params`` are passed to
    the evaluator; ``seed`` is derived from the run seed and the point's index.
    """

    index: int
    key: str
    seed: int
    params: dict[str, Any] = field(default_factory=dict)


def make_points(run_seed: int, grid: Iterable[dict[str, Any]]) -> list[Point]:
    """Number the parameter dicts of ``grid`` and give each its derived seed.

    >>> pts = make_points(1, [{"snr_db": 0.0}, {"snr_db": 2.0}])
    >>> [p.key for p in pts]
    ['snr_db=0.0', 'snr_db=2.0']
    """
    points = []
    seen: set[str] = set()
    for i, params in enumerate(grid):
        key = ",".join(f"{k}={params[k]}" for k in sorted(params))
        if key in seen:
            raise SemlinkError(f"duplicate point {key!r} in the run grid; every point must be unique")
        seen.add(key)
        points.append(Point(index=i, key=key, seed=point_seed(run_seed, i), params=dict(params)))
    return points


def _json_safe(value: Any) -> Any:
    """NumPy/torch scalars → Python scalars (infinite SNR stays a float: JSON's Infinity)."""
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


class RunDirectory:
    """The output folder of one run: journal, tables and manifest, all written safely."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @property
    def journal(self) -> Path:
        return self.path / JOURNAL

    def prepare(self, config: dict[str, Any], seed: int, resume: bool) -> dict[str, dict[str, Any]]:
        """Create or reopen the folder; return the rows already done (empty unless resuming)."""
        manifest_path = self.path / MANIFEST
        if resume:
            if not manifest_path.exists():
                raise SemlinkError(f"--resume given but {manifest_path} does not exist; run without --resume")
            old = json.loads(manifest_path.read_text())
            if old.get("config") != json.loads(json.dumps(config, default=str)) or old.get("seed") != seed:
                raise SemlinkError(
                    f"--resume refused: the config or seed differs from the one in {manifest_path}; "
                    "use a new --out folder or the same config"
                )
            return self.read_journal()
        if self.journal.exists() and self.journal.stat().st_size > 0:
            raise SemlinkError(
                f"{self.path} already holds results ({JOURNAL}); pass --resume to continue it, "
                "or choose another --out folder"
            )
        self.path.mkdir(parents=True, exist_ok=True)
        return {}

    def read_journal(self) -> dict[str, dict[str, Any]]:
        done: dict[str, dict[str, Any]] = {}
        if not self.journal.exists():
            return done
        with open(self.journal, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by a kill: its point is redone
                done[entry["key"]] = entry["row"]
        return done

    def append(self, key: str, row: dict[str, Any]) -> None:
        line = json.dumps({"key": key, "row": {k: _json_safe(v) for k, v in row.items()}})
        # A kill can cut the last line short; start on a fresh line so the next entry stays whole.
        with open(self.journal, "a+b") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() > 0:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    fh.write(b"\n")
            fh.write(line.encode("utf-8") + b"\n")
            fh.flush()
            os.fsync(fh.fileno())

    def write_tables(self, rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
        frame = pd.DataFrame(list(rows))
        if "point_index" in frame.columns:
            frame = frame.sort_values("point_index", kind="stable").reset_index(drop=True)
        with atomic_path(self.path / "results.csv") as tmp:
            frame.to_csv(tmp, index=False)
        with atomic_path(self.path / "results.parquet") as tmp:
            frame.to_parquet(tmp, index=False)
        return frame

    def write_manifest(self, config: dict[str, Any], seed: int, **extra: Any) -> None:
        write_json_atomic(self.path / MANIFEST, build_manifest(config, seed, **extra))


def _progress(total: int, desc: str, enabled: bool | None):
    from tqdm import tqdm

    show = sys.stderr.isatty() if enabled is None else enabled
    return tqdm(total=total, desc=desc, disable=not show, leave=False)


def run_points(
    points: Sequence[Point],
    evaluate: Callable[[Point], dict[str, Any]],
    out: str | os.PathLike[str],
    *,
    config: dict[str, Any],
    seed: int,
    resume: bool = False,
    progress: bool | None = None,
    desc: str = "points",
    on_row: Callable[[pd.DataFrame], None] | None = None,
    refresh_seconds: float = 15.0,
) -> pd.DataFrame:
    """Evaluate every point not yet done; return the full results table.

    ``evaluate(point)`` returns the metrics row for one point; the runner adds ``point_index``,
    ``seed`` and the point's parameters. The tables are rewritten after every point; ``on_row``
    (used to refresh plots) is called with the table at most every ``refresh_seconds`` while points
    run, and always once at the end. The manifest is written first with ``status="running"`` and
    rewritten with ``status="complete"`` at the end.
    """
    run_dir = RunDirectory(out)
    done = run_dir.prepare(config, seed, resume)
    known = {p.key for p in points}
    rows = [row for key, row in done.items() if key in known]
    run_dir.write_manifest(config, seed, status="running", n_points=len(points))
    todo = [p for p in points if p.key not in done]
    last_refresh = time.monotonic()
    with _progress(len(todo), desc, progress) as bar:
        for point in todo:
            row = {"point_index": point.index, **point.params, **evaluate(point), "seed": point.seed}
            run_dir.append(point.key, row)
            rows.append(row)
            frame = run_dir.write_tables(rows)
            if on_row is not None and time.monotonic() - last_refresh >= refresh_seconds:
                on_row(frame)
                last_refresh = time.monotonic()
            bar.update(1)
    frame = run_dir.write_tables(rows)
    if on_row is not None:
        on_row(frame)
    run_dir.write_manifest(config, seed, status="complete", n_points=len(points))
    return frame
