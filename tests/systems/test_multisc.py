"""Multi-SC, single-text SC and VLM-CSC end to end through `semlink run` on the bundled photos.

The offline stages (U2-Net-p, ImageNet-label captions, SymSpell, kb-compose) over a real AWGN
DigitalLink: text survives exactly without noise, correction repairs channel-corrupted captions,
every scheme pays for what it sends, and the example figure is written.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from semlink.config import validate
from semlink.sim.experiment import ExperimentConfig, run_experiment

MCS = [2, 9, 16, 24]  # a spread of the 38.214 table 1 (QPSK to 64-QAM) keeps the test quick

RUN = {
    "name": "multisc-small",
    "seed": 4,
    # train_fraction 0.5: 2 of the 4 training views per class are the validation split the MCS is chosen on
    "data": {"dataset": "photos", "options": {"image_size": 64, "views": 4}, "train_fraction": 0.5},
    "encoder": {"spec": "efficientnet-lite0", "image_size": 64},
    "link": {"channel": {"name": "awgn"}},
    "budgets": [1024],
    "systems": [
        {"type": "multi-sc", "crop_size": 32, "mcs_indices": MCS},
        {"type": "multi-sc", "name": "multi-sc-raw-text", "crop_size": 32, "corrector": "none", "mcs_indices": MCS},
        {"type": "single-text-sc", "crop_size": 32, "mcs_indices": MCS},
        {"type": "vlm-csc", "mcs_indices": MCS},
    ],
    # hindsight: every member on the test queries too (the tests read each member's rows)
    "eval": {"snr_db": [4.0, 7.0], "noiseless": True, "hindsight": True},
}


@pytest.fixture(scope="module")
def multisc_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("multisc")
    tree = json.loads(json.dumps(RUN))
    tree["encoder"]["cache_dir"] = str(tmp / "features")
    cfg = validate(ExperimentConfig, tree)
    return run_experiment(cfg, tmp / "run", log=lambda m: None, cache_dir=tmp / "codecs"), tmp / "run"


def test_every_scheme_pays_for_what_it_sends(multisc_run):
    frame, _ = multisc_run
    assert set(frame["system"]) == {"multi-sc", "multi-sc-raw-text", "single-text-sc", "vlm-csc"}
    assert (frame["channel_uses"] == 1024).all() and (frame["channel_uses_sent"] <= 1024).all()
    # Crop, box and every caption's transport block are paid for in the uses sent (MCS 9: all fit).
    at = frame[(frame["snr_db"] == math.inf) & (frame["variant"] == "MCS 9")].set_index("system")
    blocks = {"multi-sc": 4, "multi-sc-raw-text": 4, "single-text-sc": 1, "vlm-csc": 1}
    for system, row in at.iterrows():
        paid = row["crop_channel_uses"] + row["box_channel_uses"] + blocks[system] * row["text_channel_uses"]
        assert row["channel_uses_sent"] == paid, system
    assert at.loc["multi-sc", "crop_channel_uses"] == 512 and at.loc["single-text-sc", "box_channel_uses"] > 0
    assert at.loc["vlm-csc", "crop_channel_uses"] == 0 and at.loc["vlm-csc", "box_channel_uses"] == 0
    # A caption gets what the crop and box leave: one caption of four gets a quarter of single-text-sc's.
    assert at.loc["multi-sc", "text_channel_uses"] < at.loc["single-text-sc", "text_channel_uses"] / 3
    assert {"bleu_received", "bleu_corrected", "psnr_db", "feature_cosine", "top1_accuracy"} <= set(frame)


def test_the_mcs_is_chosen_on_validation_and_hindsight_is_named(multisc_run):
    frame, run = multisc_run
    members = {f"MCS {i}" for i in MCS}
    for variant, selected_on in (("selected", "validation"), ("hindsight", "test (hindsight: optimistic)")):
        rows = frame[frame["variant"] == variant]
        assert len(rows) == 4 * 3 and (rows["selected_on"] == selected_on).all()
        assert set(rows["choice"]) <= members
    import pandas as pd

    validation = pd.read_parquet(run / "validation.parquet")  # every member at every SNR, on the validation split
    assert len(validation) == 4 * len(MCS) * 3 and (validation["split"] == "validation").all()
    for _, row in frame[frame["variant"] == "selected"].iterrows():
        scores = validation[(validation["system"] == row["system"]) & (validation["snr_db"] == row["snr_db"])]
        assert row["choice_validation_top1_accuracy"] == scores["top1_accuracy"].max()


def test_text_crosses_exactly_without_noise_and_correction_repairs_it(multisc_run):
    frame, _ = multisc_run
    fitting = frame[frame["variant"] == "MCS 9"]  # at MCS 9 every caption's transport block fits its share
    clean = fitting[fitting["snr_db"] == math.inf]
    assert np.allclose(clean["bleu_received"], 100.0) and (clean["text_exact_rate"] == 1.0).all()
    assert np.allclose(clean["bleu_corrected"], 100.0)  # correction leaves a clean text alone
    noisy = fitting[fitting["snr_db"] == 4.0].set_index("system")
    assert noisy.loc["multi-sc", "bleu_received"] < 90  # MCS 9 at 4 dB: some caption blocks fail their CRC
    assert noisy.loc["multi-sc", "bleu_corrected"] > noisy.loc["multi-sc", "bleu_received"]
    raw = noisy.loc["multi-sc-raw-text"]
    assert raw["bleu_corrected"] == raw["bleu_received"]  # corrector "none": correction off


def test_reconstructions_and_the_example_figure(multisc_run):
    frame, run = multisc_run
    assert (frame["psnr_db"] > 5).all() and frame["feature_cosine"].between(-1, 1).all()
    assert (run / "examples_awgn.png").stat().st_size > 10_000
    from semlink.sim.runner import RunDirectory

    journal = RunDirectory(run)
    key = "budget=1024,channel=awgn,snr_db=4.0,system=multi-sc,variant=MCS 9"
    stored = journal.read_per_query(key)
    assert stored["example_images"].shape[1:] == (64, 64, 3) and stored["example_crops"].shape[1:] == (32, 32, 3)
    assert "|" in str(stored["example_texts_sent"][0])
    # one entry per query beside the few examples: which image, its class, what the receiver decided
    assert stored["query_index"].tolist() == list(range(8)) and len(stored["query_id"]) == 8
    assert len(stored["true_label"]) == len(stored["predicted_label"]) == 8


def test_a_missing_model_folder_stops_the_run_at_once_with_one_line(tmp_path):
    config = tmp_path / "paper.toml"
    config.write_text(
        "budgets = [2048]\n[data]\ndataset = 'photos'\n[[systems]]\ntype = 'multi-sc'\n"
        f"captioner = 'llava:{tmp_path / 'no-such-model'}'\n"
    )
    done = subprocess.run([sys.executable, "-m", "semlink.cli", "run", str(config), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "captioner 'llava:" in lines[0] and "does not exist" in lines[0]
    assert not (tmp_path / "o").exists()


def test_the_paper_config_validates_and_stops_at_its_first_missing_model(tmp_path, monkeypatch):
    from semlink.errors import MissingResourceError
    from semlink.sim.experiment import load_experiment

    cfg = load_experiment(Path(__file__).parents[2] / "configs" / "multisc_paper.toml")
    assert [s.type for s in cfg.systems][:4] == ["multi-sc", "multi-sc", "single-text-sc", "vlm-csc"]
    monkeypatch.chdir(tmp_path)  # model paths are relative: an empty folder here
    with pytest.raises(MissingResourceError, match="segmenter 'fcn:models/"):
        run_experiment(cfg, tmp_path / "out", log=lambda m: None)
