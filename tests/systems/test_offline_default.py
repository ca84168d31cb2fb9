"""The offline default (configs/kbsc_offline.toml) behaves as a KBSC system should.

Run on the shipped config with fewer images and epochs (same data, encoder, channel, estimator,
recipe and SNR list): 1000 queries against a 1000-item knowledge base.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from semlink.config import validate
from semlink.sim.experiment import ExperimentConfig, load_experiment, run_experiment

CONFIG = Path(__file__).parents[2] / "configs" / "kbsc_offline.toml"


@pytest.mark.slow
def test_offline_default_accuracy_rises_with_snr_and_reaches_noiseless(tmp_path, fashion_features):
    """Confidence: with 1000 queries the 95 % Wilson interval is about +-3 points wide.

    - Non-decreasing within the interval: for every pair of SNRs s < t, accuracy at t is not
      below the lower 95 % bound at s (the same queries are sent at every SNR).
    - At 10 dB the accuracy is within 5 points of the same codec with a noiseless channel.
    """
    tree = load_experiment(CONFIG).model_dump(mode="json")
    assert tree["link"]["channel"]["name"] == "tdl-a" and tree["link"]["csi"] == "ls"
    tree["data"].update(train_per_class=300, test_per_class=200)
    tree["encoder"]["cache_dir"] = str(tmp_path / "cache")
    tree["systems"] = [s for s in tree["systems"] if s["name"] in ("kbsc-k256",)] + [{"type": "noiseless"}]
    tree["systems"][0]["train"].update(epochs=12, patience=12)
    cfg = validate(ExperimentConfig, tree)
    frame = run_experiment(cfg, tmp_path / "run", log=lambda m: None)

    kbsc = frame[frame["system"] == "kbsc-k256"].sort_values("snr_db")
    assert len(kbsc) == 13 and (kbsc["n_queries"] == 1000).all()
    noisy = kbsc[kbsc["snr_db"] < math.inf]
    acc, low = noisy["top1_accuracy"].to_numpy(), noisy["top1_ci_low"].to_numpy()
    for i in range(len(acc)):
        for j in range(i + 1, len(acc)):
            assert acc[j] >= low[i], (noisy["snr_db"].iloc[i], noisy["snr_db"].iloc[j], acc[i], acc[j])
    noiseless = float(kbsc[kbsc["snr_db"] == math.inf]["top1_accuracy"].iloc[0])
    at_10 = float(noisy[noisy["snr_db"] == 10.0]["top1_accuracy"].iloc[0])
    assert at_10 >= noiseless - 0.05, (at_10, noiseless)
    assert acc[0] < at_10  # the channel matters: -7 dB is clearly worse than 10 dB
    bound = float(frame[frame["system"] == "noiseless"]["top1_accuracy"].iloc[0])
    assert noiseless <= bound + 0.03 and bound > 0.6
