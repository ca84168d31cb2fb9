"""``semlink report RUN_DIR... --out report.html``: one self-contained page that overlays runs.

A run folder (written by ``semlink run`` or ``semlink phy ber``) holds ``results.parquet`` /
``results.csv`` and ``manifest.json``, and optionally ``comparisons`` and ``timings`` tables
(:mod:`semlink.sim.runner`). :func:`read_runs` reads them, :func:`load_runs` concatenates the results
of several runs into one tidy table with a ``run`` column, and :func:`write_report` writes one HTML
file: interactive plotly figures (every metric present vs SNR and vs channel uses, BER/BLER
waterfalls), the tables, what differs between the runs' configs, and each run's manifest. The page
embeds plotly.js and needs no network to be viewed; the runs' PNG plots are not used.

>>> import tempfile, pathlib, json
>>> run = pathlib.Path(tempfile.mkdtemp()) / "sweep"
>>> run.mkdir()
>>> _ = (run / "results.csv").write_text("snr_db,ber\\n0,0.1\\n2,0.01\\n")
>>> _ = (run / "manifest.json").write_text(json.dumps({"config": {"seed": 1}, "status": "complete"}))
>>> load_runs([run])[["run", "snr_db", "ber"]].to_dict("list")
{'run': ['sweep', 'sweep'], 'snr_db': [0, 2], 'ber': [0.1, 0.01]}
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from semlink.errors import CorruptFileError, SemlinkError
from semlink.io import write_text_atomic
from semlink.sim.run_directory import MANIFEST

__all__ = ["Run", "build_report", "concat_tables", "load_runs", "read_run", "read_runs", "write_report"]

RUN_FOLDER_HELP = (
    "a run folder (what `semlink run` or `semlink phy ber` writes with --out) holds results.parquet or "
    "results.csv and manifest.json"
)


@dataclass
class Run:
    """One run folder as read from disk.

    ``label`` names the run in the report (legend, ``run`` column); ``results`` is its results table
    (the Parquet file where present: it keeps the column types), ``comparisons`` and ``timings`` its
    optional tables (empty when absent).
    """

    label: str
    path: Path
    manifest: dict[str, Any]
    results: pd.DataFrame
    comparisons: pd.DataFrame = field(default_factory=pd.DataFrame)
    timings: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def config(self) -> dict[str, Any]:
        config = self.manifest.get("config")
        return config if isinstance(config, dict) else {}

    @property
    def kind(self) -> str:
        """``experiment`` (rows name a system), ``BER sweep`` (rows carry BER/BLER) or ``run``."""
        if "system" in self.results.columns:
            return "experiment"
        if "ber" in self.results.columns or "bler" in self.results.columns:
            return "BER sweep"
        return "run"


def _read_table(folder: Path, name: str, required: bool) -> pd.DataFrame:
    """``name.parquet`` (preferred) or ``name.csv`` from ``folder``; an empty frame when absent and optional."""
    parquet, csv = folder / f"{name}.parquet", folder / f"{name}.csv"
    try:
        if parquet.is_file():
            return pd.read_parquet(parquet)
        if csv.is_file():
            try:
                return pd.read_csv(csv)
            except pd.errors.EmptyDataError:  # a run killed before its first point
                return pd.DataFrame()
    except (OSError, ValueError) as err:
        raise CorruptFileError(f"cannot read {parquet if parquet.is_file() else csv}: {err}") from None
    if required:
        raise SemlinkError(f"{folder} is not a semlink run folder: it has no {name}.parquet or {name}.csv; "
                           f"{RUN_FOLDER_HELP}")
    return pd.DataFrame()


def read_run(folder: str | os.PathLike[str], label: str | None = None) -> Run:
    """Read one run folder; refuse anything else with a message naming it and what a run folder holds."""
    path = Path(folder)
    if not path.exists():
        raise SemlinkError(f"run folder {path} does not exist; {RUN_FOLDER_HELP}")
    if not path.is_dir():
        raise SemlinkError(f"{path} is not a folder; {RUN_FOLDER_HELP}")
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise SemlinkError(f"{path} is not a semlink run folder: it has no {MANIFEST}; {RUN_FOLDER_HELP}")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptFileError(f"cannot read {manifest_path} as JSON: {err}") from None
    if not isinstance(manifest, dict):
        raise CorruptFileError(f"{manifest_path} holds a {type(manifest).__name__}, not a JSON object")
    results = _read_table(path, "results", required=True)
    return Run(
        label=label or path.resolve().name,
        path=path,
        manifest=manifest,
        results=results,
        comparisons=_read_table(path, "comparisons", required=False),
        timings=_read_table(path, "timings", required=False),
    )


def _labels(runs: Sequence[Run]) -> list[str]:
    """The config's ``name`` where runs' names are distinct, otherwise the folder name, otherwise the path."""
    def unique(names: list[str]) -> bool:
        return len(set(names)) == len(names)

    names = [str(r.config.get("name")) if r.config.get("name") else r.path.resolve().name for r in runs]
    if unique(names):
        return names
    folders = [r.path.resolve().name for r in runs]
    if unique(folders):
        return folders
    return [str(r.path) for r in runs]


def read_runs(dirs: Sequence[str | os.PathLike[str]], labels: Sequence[str] | None = None) -> list[Run]:
    """Read every run folder of ``dirs`` (at least one, each once); ``labels`` overrides their names."""
    if not dirs:
        raise SemlinkError(f"no run folders given; name one or more ({RUN_FOLDER_HELP})")
    resolved = [Path(d).resolve() for d in dirs]
    for i, path in enumerate(resolved):
        if path in resolved[:i]:
            raise SemlinkError(f"run folder {dirs[i]} is given twice; name each run once")
    if labels:
        if len(labels) != len(dirs):
            raise SemlinkError(f"{len(labels)} labels for {len(dirs)} runs; give one --label per run folder, in order")
        if len(set(labels)) != len(labels) or not all(str(x).strip() for x in labels):
            raise SemlinkError(f"labels {list(labels)} must be distinct and non-empty")
    runs = [read_run(d) for d in dirs]
    for run, label in zip(runs, labels or _labels(runs)):
        run.label = str(label)
    return runs


def concat_tables(runs: Sequence[Run], table: str = "results") -> pd.DataFrame:
    """One tidy table of every run's ``table`` (``results``, ``comparisons`` or ``timings``), ``run`` first.

    Columns are the union of the runs' columns, in the order they first appear; a column a run lacks
    is empty in its rows.
    """
    parts = []
    for run in runs:
        frame = getattr(run, table)
        if frame.empty:
            continue
        frame = frame.copy()
        if "run" in frame.columns:
            raise SemlinkError(f"{run.path}: its {table} table already has a 'run' column; the report adds it")
        frame.insert(0, "run", run.label)
        parts.append(frame.astype({c: object for c in frame.columns if frame[c].isna().all()}))
    if not parts:
        return pd.DataFrame(columns=["run"])
    return pd.concat(parts, ignore_index=True, sort=False)


def load_runs(dirs: Sequence[str | os.PathLike[str]], labels: Sequence[str] | None = None) -> pd.DataFrame:
    """The results of several runs as one tidy table with a ``run`` column (see :func:`concat_tables`)."""
    return concat_tables(read_runs(dirs, labels))


def build_report(runs: Sequence[Run], title: str | None = None, generated: datetime.datetime | None = None) -> str:
    """The report page of ``runs`` as one HTML string (plotly.js inline; no network needed to view it)."""
    from semlink.sim.report_html import render_page

    if not runs:
        raise SemlinkError(f"no runs to report; name one or more run folders ({RUN_FOLDER_HELP})")
    generated = generated or datetime.datetime.now(datetime.UTC)
    return render_page(list(runs), _plain_numbers(concat_tables(runs, "results")),
                       _plain_numbers(concat_tables(runs, "comparisons")), title=title, generated=generated)


def _plain_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """Nullable integer columns (``Int64``, as results files keep them) as floats for plotting and tables;
    the page shows whole numbers without ``.0`` either way."""
    nullable = [c for c in frame.columns if isinstance(frame[c].dtype, pd.api.extensions.ExtensionDtype)
                and frame[c].dtype.kind in "iuf"]
    return frame.astype({c: "float64" for c in nullable}) if nullable else frame


def write_report(
    dirs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Read the run folders ``dirs`` and write their report to the file ``out`` (atomically); return its path."""
    out = Path(out)
    if out.is_dir():
        raise SemlinkError(f"--out {out} is a folder; give the report's file name, e.g. {out / 'report.html'}")
    runs = read_runs(dirs, labels)
    write_text_atomic(out, build_report(runs, title))
    return out
