"""Outputs that read themselves: integer columns, per-query files named by their point and holding the
queries' ids and labels, a manifest that says how the run ran, progress lines in a piped log."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from semlink.sim.runner import (
    PER_QUERY,
    RunDirectory,
    make_points,
    per_query_name,
    run_points,
    with_integer_columns,
)

ROOT = Path(__file__).parents[2]


def _evaluate(point):
    rng = np.random.default_rng(point.seed)
    return {"budget_used": point.params["budget"], "fft_size": 72, "code_k": None, "accuracy": 1.0,
            PER_QUERY: {"top1_hit": rng.random(4) > 0.5, "predicted_label": rng.integers(0, 3, 4)}}


def test_integer_columns_stay_integers_in_csv_and_parquet(tmp_path):
    grid = [{"system": "a", "budget": 32, "snr_db": 5.0}, {"system": "raw", "budget": None, "snr_db": 5.0}]
    frame = run_points(make_points(1, grid), _evaluate, tmp_path, config={}, seed=1)
    csv = (tmp_path / "results.csv").read_text().splitlines()
    assert csv[0].split(",")[:4] == ["system", "budget", "snr_db", "budget_used"]
    assert csv[1].startswith("a,32,5.0,32,72,") and csv[2].startswith("raw,,5.0,,72,")
    parquet = pd.read_parquet(tmp_path / "results.parquet")
    assert str(parquet["budget"].dtype) == "Int64" and parquet["budget"].tolist()[0] == 32
    assert str(parquet["fft_size"].dtype) == "Int64" and str(parquet["seed"].dtype) == "Int64"
    # Whole floats are floats: an SNR of 5.0 and an accuracy of 1.0 keep their type.
    assert parquet["snr_db"].dtype == np.float64 and parquet["accuracy"].dtype == np.float64
    assert len(frame) == 2
    rows = [{"x": 1, "y": 1.5}, {"x": 2.0, "y": 2}]  # a mean row may carry 2.0 for an integer column
    assert with_integer_columns(pd.DataFrame(rows), rows).dtypes.astype(str).tolist() == ["Int64", "float64"]


def test_per_query_files_are_named_by_their_point_and_hold_the_queries(tmp_path):
    grid = [{"system": "kbsc", "budget": 32, "variant": "", "channel": "awgn", "snr_db": s} for s in (0.0, math.inf)]
    points = make_points(1, grid)
    ids, labels = np.array([17, 3, 99, 42]), np.array([0, 2, 1, 1])
    run_points(points, _evaluate, tmp_path, config={}, seed=1, query_columns={"query_id": ids, "true_label": labels})
    names = sorted(p.name for p in (tmp_path / "per_query").iterdir())
    assert names == sorted(per_query_name(p.key) for p in points)
    assert any(n.startswith("system=kbsc_budget=32_channel=awgn_snr_db=inf__") for n in names)
    stored = RunDirectory(tmp_path).read_per_query(points[0].key)
    assert str(stored["point_key"]) == points[0].key
    assert stored["query_index"].tolist() == [0, 1, 2, 3]
    assert stored["query_id"].tolist() == ids.tolist() and stored["true_label"].tolist() == labels.tolist()
    assert stored["predicted_label"].shape == (4,) and stored["top1_hit"].dtype == bool


def test_the_manifest_carries_what_the_runner_is_given(tmp_path):
    run_points(make_points(1, [{"snr_db": 0.0}]), lambda p: {"v": 1.0}, tmp_path, config={}, seed=1,
               manifest={"command": "semlink run x.toml", "host": "h"})
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["command"] == "semlink run x.toml" and manifest["host"] == "h" and manifest["status"] == "complete"


def test_runner_writes_progress_lines_when_piped(tmp_path, capsys):
    points = make_points(1, [{"system": "s", "snr_db": float(s)} for s in range(5)])
    run_points(points, lambda p: {"v": 1.0}, tmp_path, config={}, seed=1, progress="lines", progress_every=2)
    err = capsys.readouterr().err.splitlines()
    assert [line.split("] ", 1)[1].split(" (")[0] for line in err] == [
        "points: 5 to evaluate", "points: 2/5", "points: 4/5", "points: 5/5 done in 0 s"]
    assert any("points: 2/5 (40 %)" in line and "ETA" in line and "last: s, 1 dB" in line for line in err)
    assert err[-1].endswith("points: 5/5 done in 0 s") and all(line.startswith("[semlink ") for line in err)


TINY = """
name = "piped"
seed = 3
[data]
dataset = "fashion-mnist"
train_per_class = 30
test_per_class = 10
[encoder]
image_size = 64
cache_dir = "{cache}"
[[systems]]
type = "kbsc"
channel_uses = 16
train = {{ epochs = 2, patience = 2, batch_size = 32 }}
[[systems]]
type = "noiseless"
[eval]
snr_db = [0.0, 10.0]
top_k = 10
"""


def test_a_piped_run_logs_epochs_and_points_and_writes_files_that_read_themselves(tmp_path, fashion_features):
    config = tmp_path / "piped.toml"
    config.write_text(TINY.format(cache=tmp_path / "features"))
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "semlink.cli", "run", str(config), "--out", str(out), "--no-cache"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    log = proc.stderr.splitlines()
    epochs = [line for line in log if " epoch " in line and "loss" in line]
    assert len(epochs) == 2 and "epoch 2/2: loss " in epochs[1] and "val top-1 " in epochs[1]
    assert "elapsed" in epochs[0] and "ETA ≤" in epochs[0]
    assert any("points: 4 to evaluate" in line for line in log) and any("points: 4/4 done" in line for line in log)
    assert any("warning: top10_accuracy is near trivial" in line for line in log)

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"].startswith("python -m semlink.cli run ") and "--no-cache" in manifest["command"]
    assert os.path.isdir(manifest["working_directory"])  # where the command's relative paths start
    assert manifest["host"] and manifest["threads"]["cpu_count"] >= 1 and manifest["threads"]["OMP_NUM_THREADS"] == "1"
    wall = manifest["wall_seconds"]
    assert set(wall["phases"]) == {"data and features", "training", "evaluation", "tables and figures"}
    assert wall["total"] >= sum(wall["phases"].values()) * 0.99
    assert manifest["warnings"] and "top10_accuracy" in manifest["warnings"][0]
    resolved = manifest["resolved_config"]
    train = resolved["systems"][0]["train"]
    assert all(v is not None for v in train.values()), train  # lr, ema_decay... as the codec was trained
    assert train["lr"] > 0 and train["snr_db"] == manifest["config"]["train"]["snr_db"]
    assert resolved["encoder"]["image_size"] == 64 and resolved["channels"][0]["name"] == "awgn"
    channel = resolved["channels"][0]  # as the run met it: no null standing for a real value
    assert channel["label"] == "awgn" and channel["csi"] == manifest["resolved_config"]["link"]["csi"]
    assert [s["name"] for s in resolved["systems"]] == ["kbsc", "noiseless"]
    assert manifest["config"]["systems"][0]["train"]["lr"] is None  # what was asked stays as asked (resume)

    curve = pd.read_csv(out / "checkpoints" / "kbsc__16cu__awgn" / "training_curve.csv")
    assert curve["epoch"].tolist() == [1, 2] and curve["kept"].sum() == 1
    assert {"epoch_loss", "val_accuracy", "learning_rate", "val_accuracy@10 dB"} <= set(curve.columns)

    results = pd.read_csv(out / "results.csv", dtype=str, keep_default_na=False)
    assert set(results["channel_uses"]) == {"16", "0"} and set(results["budget"]) == {"16", ""}
    assert results["n_queries"].eq("50").all()
    files = sorted((out / "per_query").glob("system=kbsc_budget=16_channel=awgn_snr_db=10.0__*.npz"))
    assert len(files) == 1
    with np.load(files[0], allow_pickle=False) as stored:
        assert stored["query_index"].tolist() == list(range(50))
        assert len(set(stored["query_id"].tolist())) == 50 and set(stored["true_label"].tolist()) == set(range(10))
        hits = stored["predicted_label"] == stored["true_label"]
        assert hits.tolist() == stored["top1_hit"].tolist()
