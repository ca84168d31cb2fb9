"""Run independent simulation points and write tidy, resumable results.

A *run* is a list of :class:`Point` s (system × channel × SNR × ...), each seeded from the run seed
and its identity (:func:`semlink.seeding.point_seed`). Points are independent: an executor
(:mod:`semlink.sim.executors`: in-process, a process pool or Ray) may evaluate them anywhere and in
any order and the files are identical. :func:`run_points` appends every finished row to a journal
(``points.jsonl``, one fsynced JSON line per point) and rewrites the tables atomically, so a killed
run leaves valid partial results and ``resume=True`` skips exactly the points already in the
journal (a half-written last line is ignored and its point redone).

Files in the run directory:

- ``results.csv`` / ``results.parquet``: one row per point, in the run's grid order;
- ``manifest.json``: resolved config, package versions, seed, git commit, run status (``running``,
  then ``complete``; ``interrupted`` or ``failed`` with the ``error`` when a run stops early);
- ``points.jsonl``: the journal used for ``--resume``;
- ``validation.csv`` / ``validation.parquet``: the points evaluated on the validation split, where a
  family of variants is chosen on it (apart from the results, which are all on the test queries);
- ``.semlink.lock``: present while a process writes the folder (:mod:`semlink.sim.run_lock`);
- ``timings.csv``: wall-clock seconds of each point (kept apart: results are identical across runs);
- ``per_query/<point>.npz``: per-query outcomes of a point where the evaluator returns them (plain
  arrays, no pickle), for paired comparisons between systems and for reading one query's fate. The
  file is named after the point (``system=kbsc_budget=32_channel=awgn_snr_db=5.0__<hash>.npz``:
  the identity's values, then 8 hex digits of its hash, so names stay unique and short); row ``i``
  of every array is query ``i`` (``query_index``). Besides the evaluator's arrays (e.g.
  ``top1_hit``, ``predicted_label``, ``psnr_db``) it holds ``point_key`` (the point's identity)
  and the run's query columns (:func:`run_points` ``query_columns``: ``query_id``, ``true_label``...).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from semlink.errors import CorruptFileError, SemlinkError
from semlink.io import atomic_path, build_manifest, check_output_folder, describe_os_error, write_json_atomic
from semlink.seeding import identity_key, point_seed
from semlink.sim.run_lock import RunLock

JOURNAL = "points.jsonl"
MANIFEST = "manifest.json"
PER_QUERY_DIR = "per_query"
PER_QUERY = "_per_query"
"""Key of the per-query arrays in an evaluator's row (stored beside the tables, not in them)."""
SECONDS = "_seconds"
"""Key of a point's evaluation time in an evaluator's row: journalled and written to ``timings.csv``,
kept out of ``results.csv`` so equal runs give equal result files."""


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


def _json_safe(value: Any) -> Any:
    """NumPy/torch scalars → Python scalars (infinite SNR stays a float: JSON's Infinity)."""
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


ConfigCheck = Callable[[dict[str, Any], dict[str, Any]], list[str]]
"""``(old_config, new_config) -> problems``: what forbids resuming a run under a changed config."""


def describe_changes(old: Any, new: Any, limit: int = 8) -> str:
    """The values that differ between two JSON trees (dicts compared key by key), with both values (the
    first ``limit`` of them, then how many more).

    >>> describe_changes({"train": {"epochs": 30, "lr": 0.1}}, {"train": {"epochs": 20, "lr": 0.1}})
    'train.epochs: 30 -> 20'
    >>> describe_changes("cpu", "cuda")
    '"cpu" -> "cuda"'
    """
    found = [f"{path}: {change}" if path else change for path, change in _changes(old, new, "")]
    return ", ".join(found[:limit]) + (f", and {len(found) - limit} more" if len(found) > limit else "")


def _changes(old: Any, new: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in old or key not in new:
                found.append((where, f"{_shown(old.get(key, _ABSENT))} -> {_shown(new.get(key, _ABSENT))}"))
            else:
                found += _changes(old[key], new[key], where)
        return found
    return [] if old == new else [(path, f"{_shown(old)} -> {_shown(new)}")]


_ABSENT = object()


def _shown(value: Any, limit: int = 80) -> str:
    if value is _ABSENT:
        return "(absent)"
    text = json.dumps(value, default=str, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _same_config(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [f"the config differs ({describe_changes(old, new)})"] if old != new else []


@dataclass(frozen=True)
class RunProgress:
    """What a run folder keeps: finished points (of ``total``, None before the grid is known) and
    trained codecs."""

    done: int
    total: int | None
    codecs: int


class RunDirectory:
    """The output folder of one run: journal, tables and manifest, all written safely."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @property
    def journal(self) -> Path:
        return self.path / JOURNAL

    @property
    def lock(self) -> RunLock:
        return RunLock(self.path)

    def prepare(
        self, config: dict[str, Any], seed: int, resume: bool, check: ConfigCheck | None = None, *, log=None
    ) -> dict[str, dict[str, Any]]:
        """Create or reopen the folder, take its lock, and return the rows already done (empty unless
        resuming); a fresh run's manifest (status ``running``) is written here, before any work.

        Refused, each in one line before anything is written: a folder that cannot be written, a
        folder another process is writing (its lock), results without ``resume``, and on resume a
        missing or damaged manifest, another seed, or a stored config that fails ``check`` against
        ``config`` (default: equal). A run may allow additions (more SNRs or systems): rows of points
        it no longer has are then the caller's to refuse or ignore. ``log(message)`` hears of a
        stale lock taken over. The caller gives the lock back with :meth:`release`.
        """
        check_output_folder(self.path)
        manifest_path = self.path / MANIFEST
        if resume and not manifest_path.is_file():
            raise SemlinkError(f"--resume given but {manifest_path} does not exist; run without --resume")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise SemlinkError(f"--out {self.path} cannot be created: {describe_os_error(err)}") from None
        stale = self.lock.acquire()
        if stale is not None and log is not None:
            log(f"took over the lock of a run that is gone ({stale.describe()})")
        try:
            if resume:
                old = self.read_manifest()
                problems = (check or _same_config)(old.get("config"), json.loads(json.dumps(config, default=str)))
                if old.get("seed") != seed and not any("seed" in p for p in problems):
                    problems.append(f"the seed differs ({old.get('seed')} there, {seed} now)")
                if problems:
                    raise SemlinkError(
                        f"--resume refused: {'; '.join(problems)} against {manifest_path}; "
                        "use a new --out folder or the same config"
                    )
                return self.read_journal()
            if self.journal.exists() and self.journal.stat().st_size > 0:
                raise SemlinkError(
                    f"{self.path} already holds results ({JOURNAL}); pass --resume to continue it, "
                    "or choose another --out folder"
                )
            self.write_manifest(config, seed, status="running")
            return {}
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Give up the folder's lock (nothing if this process does not hold it)."""
        self.lock.release()

    @contextmanager
    def writing(self) -> Iterator[RunDirectory]:
        """The block that writes the run: when it raises, the manifest (if this process holds the lock)
        records ``interrupted`` (Ctrl-C) or ``failed`` and the error; the lock is given back either way."""
        try:
            yield self
        except BaseException as err:
            self.mark_stopped(err)
            raise
        finally:
            self.release()

    def mark_stopped(self, err: BaseException) -> None:
        """Record in the manifest why the run stopped early (best effort: a full disk may forbid it)."""
        if not self.lock.held:
            return
        try:
            manifest = self.read_manifest()
        except SemlinkError:
            return
        if manifest.get("status") == "complete" and not isinstance(err, KeyboardInterrupt):
            return
        manifest["status"] = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
        manifest["error"] = str(err) or type(err).__name__
        try:
            write_json_atomic(self.path / MANIFEST, manifest)
        except OSError:
            pass

    def read_manifest(self) -> dict[str, Any]:
        """The folder's ``manifest.json`` (a :class:`CorruptFileError` when it is damaged)."""
        path = self.path / MANIFEST
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SemlinkError(f"{path} does not exist: {self.path} holds no run") from None
        except (OSError, ValueError) as err:
            raise CorruptFileError(f"{path} is damaged ({err}); its results are in {JOURNAL}, but without the "
                                   "manifest the run cannot be resumed: start it again in a new --out folder") from None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict):
            raise CorruptFileError(f"{path} is damaged (no config in it); start the run again in a new --out folder")
        return manifest

    def progress(self) -> RunProgress:
        """What the folder keeps (for the line an interrupted run prints)."""
        total = None
        try:
            total = self.read_manifest().get("n_points")
        except SemlinkError:
            pass
        codecs = self.path / "checkpoints"
        trained = sum(1 for d in codecs.iterdir() if (d / "config.json").is_file()) if codecs.is_dir() else 0
        return RunProgress(len(self._entries()), total if isinstance(total, int) else None, trained)

    def read_journal(self) -> dict[str, dict[str, Any]]:
        """Finished points' rows by key (a half-written last line is skipped: its point is redone)."""
        return {key: entry["row"] for key, entry in self._entries().items()}

    def read_timings(self) -> dict[str, float]:
        return {key: entry["seconds"] for key, entry in self._entries().items() if "seconds" in entry}

    def _entries(self) -> dict[str, dict[str, Any]]:
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
                if isinstance(entry, dict) and isinstance(entry.get("key"), str) and isinstance(entry.get("row"), dict):
                    done[entry["key"]] = entry  # anything else is damage: its point is redone
        return done

    def append(self, key: str, row: dict[str, Any], seconds: float | None = None) -> None:
        entry: dict[str, Any] = {"key": key, "row": {k: _json_safe(v) for k, v in row.items()}}
        if seconds is not None:
            entry["seconds"] = float(seconds)
        line = json.dumps(entry)
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

    def per_query_path(self, key: str) -> Path:
        """``per_query/<readable identity>__<hash>.npz`` of the point ``key`` (:func:`per_query_name`)."""
        return self.path / PER_QUERY_DIR / per_query_name(key)

    def write_per_query(self, key: str, arrays: dict[str, Any]) -> None:
        import numpy as np

        buffer = io.BytesIO()
        np.savez(buffer, point_key=np.asarray(key), **{name: np.asarray(value) for name, value in arrays.items()})
        with atomic_path(self.per_query_path(key)) as tmp:
            tmp.write_bytes(buffer.getvalue())

    def read_per_query(self, key: str) -> dict[str, Any] | None:
        """The per-query arrays of a point, or None (plain arrays only: ``allow_pickle=False``)."""
        import numpy as np

        path = self.per_query_path(key)
        if not path.is_file():  # a run written before files were named by their point
            path = self.path / PER_QUERY_DIR / f"{hashlib.blake2b(key.encode(), digest_size=12).hexdigest()}.npz"
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}

    def read_table(self, name: str = "results") -> pd.DataFrame | None:
        """The table ``name`` as written (Parquet), or None where the run has none."""
        path = self.path / f"{name}.parquet"
        return pd.read_parquet(path) if path.is_file() else None

    def write_tables(self, rows: Sequence[dict[str, Any]], name: str = "results", parquet: bool = True) -> pd.DataFrame:
        """Write ``rows`` as ``<name>.csv`` (and ``.parquet``), integer columns as integers
        (:func:`with_integer_columns`); return the frame as built from the rows."""
        rows = list(rows)
        frame = pd.DataFrame(rows)
        written = with_integer_columns(frame, rows)
        with atomic_path(self.path / f"{name}.csv") as tmp:
            written.to_csv(tmp, index=False)
        if parquet:
            with atomic_path(self.path / f"{name}.parquet") as tmp:
                written.to_parquet(tmp, index=False)
        return frame

    def write_manifest(self, config: dict[str, Any], seed: int, **extra: Any) -> None:
        manifest = build_manifest(config, seed, **extra)
        try:  # the run was created when its first manifest was written; later writes keep that time
            first = json.loads((self.path / MANIFEST).read_text()).get("created_utc")
        except (OSError, ValueError, AttributeError):
            first = None
        if isinstance(first, str):
            manifest["created_utc"] = first
        write_json_atomic(self.path / MANIFEST, manifest)


def _is_integer_value(value: Any) -> bool | None:
    """True for an int, None for a whole float (either way), False otherwise; missing values: None."""
    if value is None or isinstance(value, bool):
        return None if value is None else False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return None if (value != value or value.is_integer()) else False
    if hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu":
        return True
    return False


def with_integer_columns(frame: pd.DataFrame, rows: Sequence[dict[str, Any]] | None = None) -> pd.DataFrame:
    """``frame`` with every column of whole numbers where some row gave a Python integer as a nullable
    integer column (``Int64``: ``budget``, ``fft_size``, ``code_k``, ``n_queries``...), so files show
    ``128``, not ``128.0``, and a missing value stays empty. Floats that happen to be whole (an SNR of
    ``5.0``, an accuracy of ``1.0``) stay floats. ``rows``: the rows ``frame`` was built from (their
    value types decide; pandas has already turned an integer column with a gap into floats); default:
    ``frame``'s own values.

    >>> rows = [{"budget": 32, "snr_db": 5.0}, {"budget": None, "snr_db": 6.0}]
    >>> with_integer_columns(pd.DataFrame(rows), rows).dtypes.tolist()
    [Int64Dtype(), dtype('float64')]
    """
    rows = list(rows) if rows is not None else frame.to_dict("records")
    out = frame.copy()
    for column in frame.columns:
        kinds = [_is_integer_value(row.get(column)) for row in rows]
        if any(k is True for k in kinds) and not any(k is False for k in kinds):
            out[column] = pd.array([None if pd.isna(v) else int(v) for v in frame[column].tolist()], dtype="Int64")
    return out


_IDENTITY_ORDER = ("system", "variant", "budget", "channel", "snr_db", "ebno_db")


def per_query_name(key: str) -> str:
    """The per-query file name of the point ``key``: its non-empty ``name=value`` pairs (the usual identity
    keys first) with unsafe characters as ``-``, cut to 120 characters, then 8 hex digits of the key's hash.

    >>> per_query_name("budget=32,channel=tdl-a,snr_db=5.0,system=kbsc,variant=")
    'system=kbsc_budget=32_channel=tdl-a_snr_db=5.0__a44e3bf5.npz'
    """
    pairs = [part.partition("=") for part in key.split(",")]
    known = {name: value for name, _, value in pairs}
    order = [n for n in _IDENTITY_ORDER if n in known] + [n for n, _, _ in pairs if n not in _IDENTITY_ORDER]
    text = "_".join(f"{name}={known[name]}" for name in order if known.get(name) not in ("", "None"))
    readable = re.sub(r"[^A-Za-z0-9._=+-]+", "-", text).strip("-")[:120] or "point"
    return f"{readable}__{hashlib.blake2b(key.encode(), digest_size=4).hexdigest()}.npz"


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
) -> pd.DataFrame:
    """Evaluate every point not yet done; return the full results table (in grid order).

    ``evaluate`` is ``evaluate(point) -> row`` or, for executors that run points in other
    processes, an :class:`~semlink.sim.executors.Evaluator` (picklable, built once per worker). A
    row may carry per-query arrays under :data:`PER_QUERY`; they are stored in ``per_query/``. The
    runner adds the point's parameters and ``seed``. Tables are rewritten after every point;
    ``on_row`` (plots) is called at most every ``refresh_seconds`` and once at the end. The manifest
    is written first with ``status="running"`` and at the end with ``status="complete"``. ``done``:
    the rows :meth:`RunDirectory.prepare` returned, where the caller prepared the folder itself.
    ``table_of(point)`` names the table a point's row goes to (default ``"results"``, the one returned and
    shown to ``on_row``; e.g. ``"validation"`` for points that choose among variants).

    ``progress``: ``bar`` | ``lines`` | ``none`` | None (:func:`semlink.progress.current_mode`); in
    ``lines`` mode a line every ``progress_interval_s`` seconds or ``progress_every`` points, with
    the ETA. ``query_columns``: arrays of one value per query (``query_id``, ``true_label``) stored
    in every per-query file beside the evaluator's arrays, with ``query_index`` (or a function of the
    point giving them, where points are evaluated on different query sets). ``manifest``: further
    facts for ``manifest.json`` (the command line, the host...).
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

    last_refresh = time.monotonic()
    with PointProgress(len(todo), desc, progress, interval_s=progress_interval_s, every=progress_every) as bar:
        for point, metrics in executor.imap(evaluate, todo):
            per_query = metrics.pop(PER_QUERY, None)
            seconds = metrics.pop(SECONDS, None)
            if per_query:
                columns = query_columns(point) if callable(query_columns) else query_columns
                run_dir.write_per_query(point.key, _with_query_columns(per_query, columns))
            row = {**point.params, **metrics, "seed": point.seed}
            run_dir.append(point.key, row, seconds)
            rows[point.key] = json.loads(json.dumps({k: _json_safe(v) for k, v in row.items()}))
            frame = table(table_of(point))
            if on_row is not None and table_of(point) == "results" \
                    and time.monotonic() - last_refresh >= refresh_seconds:
                on_row(frame)
                last_refresh = time.monotonic()
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
    run_dir.write_manifest(config, seed, status="complete", n_points=len(points), executor=executor.describe(), **extra)
    return frame
