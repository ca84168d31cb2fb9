"""Codecs trained side by side in worker processes (:mod:`semlink.sim.training_pool`): the same codecs
and rows as trained one after another in the run's own process, a worker's error raised as the run's."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from semlink.config import validate
from semlink.errors import SemlinkError
from semlink.sim.experiment import ExperimentConfig, run_experiment
from semlink.sim.training_pool import TRAINING_WORKERS_ENV, training_threads

RUN = {
    "name": "pool",
    "seed": 5,
    "data": {"dataset": "fashion-mnist", "train_per_class": 60, "test_per_class": 20},
    "encoder": {"spec": "efficientnet-lite0", "image_size": 32},
    "link": {"channel": {"name": "awgn"}},
    "budgets": [16, 32],
    "systems": [
        # one deep-JSCC codec per budget: two side-by-side codecs; KBSC's train in the run's process
        {"type": "deep-jscc", "codec_per_budget": True, "filters": 4,
         "train": {"max_epochs": 1, "batch_size": 32, "snr_db": [0.0, 10.0]}},
        {"type": "kbsc", "channel_uses": 16, "train": {"epochs": 2}},
    ],
    "eval": {"snr_db": [0.0, 10.0], "noiseless": False},
}


def test_threads_follow_the_config_never_the_cache():
    assert training_threads(2, 14) == (1, 2)  # 14 codecs on 2 threads: two at a time, one thread each
    assert training_threads(2, 1) == (2, 1)  # one codec: all the threads, in the run's process
    assert training_threads(16, 4) == (4, 4)
    assert training_threads(1, 3) == (1, 1)


def _run(tmp_path, name, workers, monkeypatch, tree=None):
    monkeypatch.setenv(TRAINING_WORKERS_ENV, str(workers))
    tree = json.loads(json.dumps(tree or RUN))
    tree["encoder"]["cache_dir"] = str(tmp_path / "features")
    cfg = validate(ExperimentConfig, tree)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        frame = run_experiment(cfg, tmp_path / name, log=lambda m: None, cache_dir=tmp_path / f"codecs-{name}",
                               figures=False)
    finally:
        torch.set_num_threads(before)
    return frame, json.loads((tmp_path / name / "manifest.json").read_text())


def test_workers_train_the_codecs_the_run_would_train_itself(tmp_path, monkeypatch, fashion_features):
    side, side_manifest = _run(tmp_path, "side-by-side", 2, monkeypatch)
    one, one_manifest = _run(tmp_path, "one-by-one", 1, monkeypatch)
    assert side_manifest["training"] == {"trained": 3, "side_by_side": 2, "threads_per_codec": 1, "at_once": 2}
    assert one_manifest["training"] == {"trained": 3, "side_by_side": 2, "threads_per_codec": 1, "at_once": 1}
    names = [f"deep-jscc__{budget}cu__awgn" for budget in (16, 32)] + ["kbsc__16cu__awgn"]
    for name in names:  # the same weights: trained at the same thread count from the same seeds
        a = (tmp_path / "side-by-side" / "checkpoints" / name / "model.safetensors").read_bytes()
        b = (tmp_path / "one-by-one" / "checkpoints" / name / "model.safetensors").read_bytes()
        assert a == b, name
    columns = ["system", "budget", "snr_db", "top1_accuracy", "psnr_db"]
    pd.testing.assert_frame_equal(side[columns], one[columns])


def test_a_workers_error_is_the_runs_error(tmp_path, monkeypatch, fashion_features):
    tree = json.loads(json.dumps(RUN))
    # deep JSCC's batch is larger than its 600 training images: refused in the workers that train it
    tree["systems"][0]["train"]["batch_size"] = 5000
    with pytest.raises(SemlinkError, match="fewer than batch_size = 5000"):
        _run(tmp_path, "failing", 2, monkeypatch, tree)
