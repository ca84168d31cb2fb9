"""The sweep runner: identity seeds, journal, resume after a kill, atomic tables, manifest, executors."""

import json

import numpy as np
import pandas as pd
import pytest

from semlink.errors import SemlinkError
from semlink.sim.executors import create_executor
from semlink.sim.runner import PER_QUERY, SECONDS, RunDirectory, make_points, run_points


def _evaluate(point):
    # Deterministic in the point's own seed and parameters only.
    return {"value": (point.seed % 1000) / 1000 + point.params["snr_db"]}


class _Evaluator:
    """A picklable evaluator (what the process and Ray executors need)."""

    def build(self):
        def evaluate(point):
            rng = np.random.default_rng(point.seed)
            return {"value": float(rng.normal()) + point.params["snr_db"], SECONDS: 0.01,
                    PER_QUERY: {"hits": rng.random(5) > 0.5}}

        return evaluate


def test_points_get_distinct_seeds_from_run_seed_and_identity():
    a = make_points(1, [{"snr_db": s} for s in (0.0, 1.0, 2.0)])
    b = make_points(1, [{"snr_db": s} for s in (2.0, 0.0)])  # another grid: same identities, same seeds
    c = make_points(2, [{"snr_db": s} for s in (0.0, 1.0, 2.0)])
    assert {p.key: p.seed for p in b}.items() <= {p.key: p.seed for p in a}.items()
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
    assert manifest["executor"] == {"name": "local"}
    assert not list(tmp_path.glob(".*.tmp")), "no temporary files left behind"


def test_per_query_arrays_and_timings_are_kept_out_of_the_results(tmp_path):
    points = make_points(7, [{"snr_db": s} for s in (0.0, 5.0)])
    frame = run_points(points, _Evaluator(), tmp_path, config={}, seed=7)
    assert list(frame.columns) == ["snr_db", "value", "seed"]
    hits = RunDirectory(tmp_path).read_per_query(points[1].key)["hits"]
    assert hits.dtype == bool and hits.shape == (5,)
    assert list(pd.read_csv(tmp_path / "timings.csv")["seconds"]) == [0.01, 0.01]


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
    assert list(partial["snr_db"]) == [0.0, 1.0, 2.0]  # valid partial table
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
    with pytest.raises(SemlinkError, match="seed differs"):
        run_points(points, _evaluate, tmp_path, config={"x": 1}, seed=4, resume=True)
    with pytest.raises(SemlinkError, match="does not exist"):
        run_points(points, _evaluate, tmp_path / "nothing", config={}, seed=3, resume=True)


def test_resume_with_added_points_runs_only_those(tmp_path):
    def allow_more(old, new):
        return [] if old["x"] == new["x"] else ["x changed"]

    first = make_points(3, [{"snr_db": s} for s in (0.0, 2.0)])
    base = run_points(first, _evaluate, tmp_path, config={"x": 1, "snrs": 2}, seed=3, check=allow_more)
    more = make_points(3, [{"snr_db": s} for s in (-2.0, 0.0, 2.0, 4.0)])
    evaluated = []

    def counting(point):
        evaluated.append(point.params["snr_db"])
        return _evaluate(point)

    grown = run_points(more, counting, tmp_path, config={"x": 1, "snrs": 4}, seed=3, resume=True, check=allow_more)
    assert sorted(evaluated) == [-2.0, 4.0] and list(grown["snr_db"]) == [-2.0, 0.0, 2.0, 4.0]
    pd.testing.assert_frame_equal(grown.iloc[1:3].reset_index(drop=True), base)


@pytest.mark.parametrize("name", ["process", "ray"])
def test_ber_sweep_gives_identical_files_on_every_executor(tmp_path, name):
    """`semlink phy ber` points as worker processes or Ray tasks: byte-identical results.csv."""
    if name == "ray":
        pytest.importorskip("ray", reason="Ray is the 'dist' extra (scripts/setup.sh installs it)")
    from semlink.config import validate
    from semlink.sim.ber import run_ber_sweep
    from semlink.sim.config import BerSweepConfig

    cfg = validate(BerSweepConfig, {"snr_db": [0.0, 2.0, 4.0], "batch_size": 50, "max_iter": 2,
                                    "link": {"code": "uncoded", "ofdm": {}, "channel": {"name": "tdl-a"}}})
    local = run_ber_sweep(cfg, tmp_path / "local")
    other = run_ber_sweep(cfg, tmp_path / name, executor=create_executor(name, workers=2))
    pd.testing.assert_frame_equal(local, other)
    assert (tmp_path / "local" / "results.csv").read_bytes() == (tmp_path / name / "results.csv").read_bytes()
    assert json.loads((tmp_path / name / "manifest.json").read_text())["executor"]["name"] == name


def test_bad_executor_settings_are_refused():
    with pytest.raises(SemlinkError, match="unknown executor 'slurm'; accepted: local, process, ray"):
        create_executor("slurm")
    with pytest.raises(SemlinkError, match="--address is for --executor ray"):
        create_executor("process", address="ray://x:10001")
    with pytest.raises(SemlinkError, match="--workers must be a positive integer"):
        create_executor("process", workers=0)
    with pytest.raises(SemlinkError, match="needs a picklable Evaluator"):
        list(create_executor("process", workers=1).imap(lambda p: {}, [1]))


def test_the_manifest_keeps_its_creation_time_and_the_code_the_run_started_with(tmp_path):
    import semlink.io as semlink_io
    from semlink.sim.runner import MANIFEST

    run_dir = RunDirectory(tmp_path / "run")
    run_dir.path.mkdir()
    run_dir.write_manifest({"a": 1}, 3, status="running")
    first = json.loads((run_dir.path / MANIFEST).read_text())
    (run_dir.path / MANIFEST).write_text(json.dumps({**first, "created_utc": "2026-01-01T00:00:00+00:00"}))
    run_dir.write_manifest({"a": 1}, 3, status="complete")
    again = json.loads((run_dir.path / MANIFEST).read_text())
    assert again["created_utc"] == "2026-01-01T00:00:00+00:00" and again["status"] == "complete"
    assert again["git_commit"] == first["git_commit"] == semlink_io.git_commit()  # read once per process
