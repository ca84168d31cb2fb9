"""The sweep runner: derived seeds, journal, resume after a kill, atomic tables, manifest."""

import json

import pandas as pd
import pytest

from semlink.errors import SemlinkError
from semlink.sim.runner import RunDirectory, make_points, run_points


def _evaluate(point):
    # Deterministic in the point's own seed and parameters only.
    return {"value": (point.seed % 1000) / 1000 + point.params["snr_db"]}


def test_points_get_distinct_seeds_that_depend_only_on_run_seed_and_index():
    a = make_points(1, [{"snr_db": s} for s in (0.0, 1.0, 2.0)])
    b = make_points(1, [{"snr_db": s} for s in (0.0, 1.0, 2.0)])
    c = make_points(2, [{"snr_db": s} for s in (0.0, 1.0, 2.0)])
    assert [p.seed for p in a] == [p.seed for p in b]
    assert len({p.seed for p in a}) == 3
    assert [p.seed for p in a] != [p.seed for p in c]


def test_duplicate_points_are_refused():
    with pytest.raises(SemlinkError, match="duplicate point"):
        make_points(1, [{"snr_db": 0.0}, {"snr_db": 0.0}])


def test_run_writes_tables_and_manifest(tmp_path):
    points = make_points(7, [{"snr_db": s} for s in (0.0, 5.0)])
    frame = run_points(points, _evaluate, tmp_path, config={"a": 1}, seed=7)
    assert list(frame["snr_db"]) == [0.0, 5.0]
    assert (tmp_path / "results.csv").exists() and (tmp_path / "results.parquet").exists()
    parquet = pd.read_parquet(tmp_path / "results.parquet")
    assert list(parquet["seed"]) == [p.seed for p in points]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["config"] == {"a": 1} and manifest["seed"] == 7
    assert manifest["status"] == "complete" and "torch" in manifest["versions"]
    assert not list(tmp_path.glob(".*.tmp")), "no temporary files left behind"


def test_existing_results_need_resume(tmp_path):
    points = make_points(7, [{"snr_db": 0.0}])
    run_points(points, _evaluate, tmp_path, config={}, seed=7)
    with pytest.raises(SemlinkError, match="--resume"):
        run_points(points, _evaluate, tmp_path, config={}, seed=7)


def test_resume_after_kill_loses_and_duplicates_nothing(tmp_path):
    grid = [{"snr_db": float(s)} for s in range(6)]
    points = make_points(3, grid)
    full = run_points(points, _evaluate, tmp_path / "full", config={}, seed=3)

    calls = []

    def dying(point):
        if len(calls) == 3:
            raise KeyboardInterrupt  # the kill arrives while the 4th point runs
        calls.append(point.index)
        return _evaluate(point)

    with pytest.raises(KeyboardInterrupt):
        run_points(points, dying, tmp_path / "killed", config={}, seed=3)
    partial = pd.read_csv(tmp_path / "killed" / "results.csv")
    assert list(partial["point_index"]) == [0, 1, 2]  # valid partial table
    # A kill in the middle of a journal write leaves a cut line: it must be ignored, not fatal.
    with open(tmp_path / "killed" / "points.jsonl", "a") as fh:
        fh.write('{"key": "snr_db=3.0", "row": {"poi')
    evaluated = []

    def counting(point):
        evaluated.append(point.index)
        return _evaluate(point)

    resumed = run_points(points, counting, tmp_path / "killed", config={}, seed=3, resume=True)
    assert evaluated == [3, 4, 5]
    pd.testing.assert_frame_equal(resumed, full)
    assert len(RunDirectory(tmp_path / "killed").read_journal()) == 6


def test_resume_refuses_a_different_config(tmp_path):
    points = make_points(3, [{"snr_db": 0.0}])
    run_points(points, _evaluate, tmp_path, config={"x": 1}, seed=3)
    with pytest.raises(SemlinkError, match="differs"):
        run_points(points, _evaluate, tmp_path, config={"x": 2}, seed=3, resume=True)
    with pytest.raises(SemlinkError, match="does not exist"):
        run_points(points, _evaluate, tmp_path / "nothing", config={}, seed=3, resume=True)
