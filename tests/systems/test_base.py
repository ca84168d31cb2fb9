"""Per-seed results: the summary row carries the mean, the spread columns and the collapse flags."""

from __future__ import annotations

import pandas as pd
import pytest

from semlink.systems.base import seed_summary_rows


def test_seed_summary_has_mean_spread_and_any_collapse():
    seeds = pd.DataFrame([
        {"system": "kbsc", "budget": 64, "channel": "awgn", "snr_db": 0.0, "variant": f"seed {i}",
         "top1_accuracy": acc, "best_epoch": epoch, "collapsed": collapsed, "train_seed": 10 + i}
        for i, (acc, epoch, collapsed) in enumerate([(0.70, 9, False), (0.60, 4, True), (0.65, 7, False)])
    ])
    [row] = seed_summary_rows(seeds)
    assert row["variant"] == "" and row["n_train_seeds"] == 3
    assert row["top1_accuracy"] == pytest.approx(0.65)
    assert row["top1_accuracy_seed_std"] == pytest.approx(0.05)
    assert (row["top1_accuracy_seed_min"], row["top1_accuracy_seed_max"]) == (0.60, 0.70)
    assert row["collapsed"] is True and row["n_collapsed"] == 1  # one seed's kept checkpoint collapsed
    assert row["best_epoch"] is None and row["train_seed"] is None  # per-seed facts are not averaged
    healthy = seeds.assign(collapsed=False)
    assert seed_summary_rows(healthy)[0]["collapsed"] is False
