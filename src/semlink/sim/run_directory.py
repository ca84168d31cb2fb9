"""The folder of one run: its journal, tables, manifest, per-query files and lock, all written safely.

:class:`RunDirectory` prepares a folder (new, or resumed after checking the config against its
manifest), journals finished points (``points.jsonl``, one fsynced JSON line each), rewrites the
tables atomically and writes the manifest; :func:`semlink.sim.runner.run_points` drives it.

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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from semlink.errors import CorruptFileError, SemlinkError
from semlink.io import atomic_path, build_manifest, check_output_folder, describe_os_error, write_json_atomic
from semlink.sim.run_lock import RunLock

__all__ = ["JOURNAL", "MANIFEST", "PER_QUERY", "PER_QUERY_DIR", "SECONDS", "ConfigCheck", "RunDirectory", "RunProgress",
           "describe_changes", "per_query_name", "with_integer_columns"]

JOURNAL = "points.jsonl"
MANIFEST = "manifest.json"
PER_QUERY_DIR = "per_query"
PER_QUERY = "_per_query"
"""Key of the per-query arrays in an evaluator's row (stored beside the tables, not in them)."""
SECONDS = "_seconds"
"""Key of a point's evaluation time in an evaluator's row: journalled and written to ``timings.csv``,
kept out of ``results.csv`` so equal runs give equal result files."""


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
