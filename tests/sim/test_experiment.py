"""``semlink run``: a small experiment end to end on real data, resume, and the paper config."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from semlink.config import validate
from semlink.errors import SemlinkError
from semlink.sim.experiment import ExperimentConfig, load_experiment, run_experiment

SMALL = {
    "name": "small",
    "seed": 5,
    "data": {"dataset": "fashion-mnist", "train_per_class": 60, "test_per_class": 40},
    "encoder": {"spec": "efficientnet-lite0", "image_size": 64},
    "link": {"csi": "ls", "interpolation": "lin", "channel": {"name": "tdl-a"}, "ofdm": {}},
    "systems": [
        {"type": "kbsc", "channel_uses": 32, "train": {"epochs": 3, "patience": 3, "batch_size": 32}},
        {"type": "kbsc-digital", "channel_uses": 64, "mcs": [["qpsk", 0.5]],
         "train": {"epochs": 3, "patience": 3, "batch_size": 32}},
        {"type": "raw"},
        {"type": "noiseless"},
    ],
    "eval": {"snr_db": [-5.0, 5.0], "noiseless": True},
}


@pytest.fixture
def small_config(tmp_path, fashion_features):  # fashion_features: skips without the Debian data
    tree = json.loads(json.dumps(SMALL))
    tree["encoder"]["cache_dir"] = str(tmp_path / "cache")
    return validate(ExperimentConfig, tree)


def test_small_experiment_end_to_end_and_resume(tmp_path, small_config):
    out = tmp_path / "run"
    frame = run_experiment(small_config, out, log=lambda m: None)
    # 3 channel systems x (2 SNRs + noiseless) + the noiseless bound
    assert len(frame) == 3 * 3 + 1
    required = {"system", "channel", "snr_db", "channel_uses", "cbr", "top1_accuracy", "top1_ci_low",
                "top1_ci_high", "top5_accuracy", "n_queries", "seed", "feature_mse", "feature_cosine"}
    assert required <= set(frame.columns)
    assert set(frame["system"]) == {"kbsc", "kbsc-digital", "raw", "noiseless"}
    assert (frame["n_queries"] == 200).all()
    rows = frame.set_index(["system", "snr_db"])
    assert rows.loc[("kbsc", 5.0), "channel_uses"] == 32
    assert rows.loc[("kbsc-digital", 5.0), "channel_uses"] == 64
    assert rows.loc[("raw", 5.0), "channel_uses"] == 640
    # Evaluated one image per OFDM slot of 864 data REs: independent fading per query.
    assert (frame[frame["system"] != "noiseless"]["channel_uses_with_padding"] == 864).all()
    assert rows.loc[("kbsc", 5.0), "cbr"] == pytest.approx(32 / 784)
    bound = rows.loc[("noiseless", math.inf)]
    assert bound["top1_accuracy"] > 0.5  # chance is 0.1
    assert (frame["top1_ci_low"] <= frame["top1_accuracy"]).all()
    assert (frame["top1_accuracy"] <= frame["top1_ci_high"]).all()
    assert (frame["top5_accuracy"] >= frame["top1_accuracy"]).all()
    for name in ("results.csv", "results.parquet", "manifest.json", "accuracy_top1_tdl-a.png", "kb/kb.json"):
        assert (out / name).exists(), name
    assert (out / "checkpoints" / "kbsc__32cu__tdl-a" / "model.safetensors").exists()
    # Rows describe their link and training (self-describing: tables of several runs concatenate).
    assert (frame[frame["system"] != "noiseless"]["csi"] == "ls").all()
    digital = rows.loc[("kbsc-digital", 5.0)]
    # A 5G NR transport block in the 64 REs: the rows name the MCS, the TB and the CRC bits it pays.
    assert (digital["modulation"], digital["target_rate"], digital["allocation"]) == ("qpsk", 0.5, 64)
    # 38.214's TBS from 64 REs x 2 bits x rate 0.5, then its 16 CRC bits: coded at the real rate (TBS + CRC) / 128.
    assert digital["crc_bits"] == 16 and 0 < digital["tb_size"] <= 64
    assert digital["code_rate"] == pytest.approx((digital["tb_size"] + 16) / 128)
    # Eb/N0 per payload bit: the TB's bits per coded bit (CRC charged), 2 bits per RE, pilots and CP.
    rate = digital["tb_size"] / (2 * 64)
    assert digital["ebno_db"] == pytest.approx(5.0 - 10 * math.log10(2 * rate * 864 / (1008 * (1 + 6 / 72))))
    assert rows.loc[("kbsc", 5.0), "best_epoch"] >= 0 and rows.loc[("kbsc", 5.0), "train_seed"] == 5
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 5 and manifest["status"] == "complete"
    assert manifest["config"]["systems"][0]["channel_uses"] == 32

    # Kill simulation: drop the last three journal lines, resume, and get the same table back.
    journal = (out / "points.jsonl").read_text().splitlines()
    (out / "points.jsonl").write_text("\n".join(journal[:-3]) + "\n")
    logs: list[str] = []
    resumed = run_experiment(small_config, out, resume=True, log=logs.append)
    pd.testing.assert_frame_equal(resumed, frame)
    assert len((out / "points.jsonl").read_text().splitlines()) == len(frame)
    assert not any("training" in line for line in logs), logs  # codecs came from the checkpoints

    # A checkpoint trained for other settings is refused, not silently reused.
    other = validate(ExperimentConfig, {**small_config.model_dump(mode="json"), "seed": 6})
    (out / "points.jsonl").unlink()
    with pytest.raises(SemlinkError, match="trained with other settings"):
        run_experiment(other, out, log=lambda m: None)


def test_single_pool_folder_holds_out_test_images(tmp_path):
    import numpy as np
    from PIL import Image

    from semlink.data import load_dataset
    from semlink.sim.resources import _hold_out

    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        for i in range(5):
            Image.fromarray(np.full((8, 8, 3), i * 40, np.uint8)).save(tmp_path / c / f"{i}.png")
    pool = load_dataset("folder", root=tmp_path)
    train, test = _hold_out(pool, 0.2, seed=1)
    assert len(train) == 8 and len(test) == 2 and sorted(test.labels.tolist()) == [0, 1]
    assert not set(train.indices.tolist()) & set(test.indices.tolist())
    again = _hold_out(pool, 0.2, seed=1)[1]
    assert test.indices.tolist() == again.indices.tolist()


def test_bad_experiment_configs_are_refused(tmp_path):
    raw = [{"type": "raw"}]
    with pytest.raises(SemlinkError, match="unknown system type 'jscc'; accepted: .*kbsc"):
        validate(ExperimentConfig, {"systems": [{"type": "jscc"}]})
    with pytest.raises(SemlinkError, match="at least one \\[\\[systems\\]\\] entry"):
        validate(ExperimentConfig, {})
    with pytest.raises(SemlinkError, match="type 'kbsc'.*unknown key 'bits_per_value'"):
        validate(ExperimentConfig, {"systems": [{"type": "kbsc", "channel_uses": 8, "bits_per_value": 2}]})
    with pytest.raises(SemlinkError, match="needs a channel-use budget"):
        validate(ExperimentConfig, {"systems": [{"type": "kbsc"}]})
    with pytest.raises(SemlinkError, match="name 'raw' repeats"):
        validate(ExperimentConfig, {"systems": raw + raw})
    with pytest.raises(SemlinkError, match="eval.snr_db"):
        validate(ExperimentConfig, {"systems": raw, "eval": {"snr_db": []}})
    with pytest.raises(SemlinkError, match="seed"):
        validate(ExperimentConfig, {"systems": raw, "seed": -1})
    with pytest.raises(SemlinkError, match="batch_size"):
        validate(ExperimentConfig, {"systems": raw, "eval": {"batch_size": 0}})
    with pytest.raises(SemlinkError, match="pilot"):  # the PHY is checked at load time, not hours later
        validate(ExperimentConfig, {"systems": raw, "link": {"ofdm": {"num_ofdm_symbols": 2}}})
    with pytest.raises(SemlinkError, match="unknown key 'trian'"):
        validate(ExperimentConfig, {"systems": raw, "trian": {}})
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = [")
    with pytest.raises(SemlinkError, match="not valid TOML"):
        load_experiment(bad)


def test_paper_config_validates_and_stops_at_the_missing_data(tmp_path, monkeypatch):
    """Here CIFAR-100 and the CLIP weights are absent: the run must say so clearly, not hang."""
    from pathlib import Path

    cfg = load_experiment(Path(__file__).parents[2] / "configs" / "kbsc_paper.toml")
    assert cfg.encoder.spec == "clip:ViT-B-32@openai" and cfg.systems[0].train.recipe == "reference"
    assert [s.channel_uses for s in cfg.systems[:2]] == [128, 64]
    monkeypatch.chdir(tmp_path)  # data root "data" is relative: an empty folder here
    with pytest.raises(SemlinkError, match="(?i)cifar"):
        run_experiment(cfg, tmp_path / "out", log=lambda m: None)


TINY = {
    "name": "tiny",
    "seed": 11,
    "data": {"dataset": "fashion-mnist", "train_per_class": 40, "test_per_class": 20},
    "encoder": {"spec": "efficientnet-lite0", "image_size": 64},
    "link": {"csi": "ls", "interpolation": "lin", "channel": {"name": "tdl-a"}, "ofdm": {}},
    "systems": [{"type": "kbsc", "channel_uses": 16, "train": {"epochs": 2, "patience": 2, "batch_size": 32}},
                {"type": "raw"}, {"type": "raw", "name": "raw-again"}],
    "eval": {"snr_db": [0.0, 10.0], "noiseless": False},
}


def _tiny(tmp_path, **changes):
    tree = json.loads(json.dumps(TINY))
    tree["encoder"]["cache_dir"] = str(tmp_path / "features")
    for key, value in changes.items():
        tree[key] = value
    return validate(ExperimentConfig, tree)


def test_same_run_on_every_executor_gives_identical_results(tmp_path, fashion_features):
    """In-process, a process pool and a local Ray instance: byte-identical results.csv.

    The codec is trained once, in the driver; the workers get it as files with the queries and the
    knowledge base (ExperimentWorkload).
    """
    pytest.importorskip("ray", reason="Ray is the 'dist' extra (scripts/setup.sh installs it)")
    from semlink.sim.executors import create_executor

    cfg = _tiny(tmp_path)
    cache = tmp_path / "codecs"
    # One torch thread, as each pool worker has: float sums depend on the thread count.
    run_experiment(cfg, tmp_path / "local", log=lambda m: None, cache_dir=cache,
                   executor=create_executor("local", threads=1))
    expected = (tmp_path / "local" / "results.csv").read_bytes()
    for name in ("process", "ray"):
        logs: list[str] = []
        run_experiment(cfg, tmp_path / name, log=logs.append, cache_dir=cache,
                       executor=create_executor(name, workers=2))
        assert (tmp_path / name / "results.csv").read_bytes() == expected, name
        assert not any("training" in line for line in logs)  # the shared cache held the codec
    assert (tmp_path / "local" / "comparisons.csv").read_bytes() == (tmp_path / "ray" / "comparisons.csv").read_bytes()


def test_common_random_numbers_additions_and_the_codec_cache(tmp_path, fashion_features):
    cache = tmp_path / "codecs"
    cfg = _tiny(tmp_path)
    frame = run_experiment(cfg, tmp_path / "run", log=lambda m: None, cache_dir=cache)
    # Common random numbers: two systems sending the same symbols at one (channel, SNR) see the same
    # channel realisations and noise, so their rows agree exactly.
    raw = frame[frame["system"] == "raw"].drop(columns=["system", "seed"]).reset_index(drop=True)
    again = frame[frame["system"] == "raw-again"].drop(columns=["system", "seed"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(raw, again)
    comparisons = pd.read_csv(tmp_path / "run" / "comparisons.csv")
    same = comparisons[(comparisons["system_a"] == "raw") & (comparisons["system_b"] == "raw-again")]
    assert len(same) == 2 and (same["top1_diff"] == 0).all()
    assert (comparisons["top1_diff_ci_low"] <= comparisons["top1_diff"]).all()

    # Adding an SNR and a system changes no other row; --resume runs only the new points.
    grown = _tiny(tmp_path, systems=TINY["systems"] + [{"type": "noiseless"}],
                  eval={**TINY["eval"], "snr_db": [0.0, 5.0, 10.0]})
    logs: list[str] = []
    more = run_experiment(grown, tmp_path / "run", resume=True, log=logs.append, cache_dir=cache)
    assert len(more) == 3 * 3 + 1 and not any("training" in line for line in logs)
    key = ["system", "channel", "snr_db"]
    old = frame.set_index(key)

    def tidy(df):  # missing values as None, whatever pandas made of them
        return df.astype(object).where(df.notna(), None)

    pd.testing.assert_frame_equal(tidy(more.set_index(key).loc[old.index]), tidy(old))
    timings = pd.read_csv(tmp_path / "run" / "timings.csv")
    assert len(timings) == len(more) and (timings["seconds"] > 0).all()

    # A changed setting is not an addition: refused, naming what changed.
    kbsc = {**TINY["systems"][0], "train": {**TINY["systems"][0]["train"], "epochs": 3}}
    other = _tiny(tmp_path, systems=[kbsc, *TINY["systems"][1:]])
    with pytest.raises(SemlinkError, match=r"system 'kbsc' changed"):
        run_experiment(other, tmp_path / "run", resume=True, log=lambda m: None, cache_dir=cache)

    # A new run folder with the same training settings reuses the cached codec instead of retraining.
    logs = []
    again_frame = run_experiment(cfg, tmp_path / "fresh", log=logs.append, cache_dir=cache)
    assert any("reused a codec" in line for line in logs) and not any("training" in line for line in logs)
    pd.testing.assert_frame_equal(again_frame, frame)


def test_several_training_seeds_give_mean_and_spread(tmp_path, fashion_features):
    cfg = _tiny(tmp_path, systems=TINY["systems"][:1], train={"seeds": 3}, eval={**TINY["eval"], "snr_db": [10.0]})
    frame = run_experiment(cfg, tmp_path / "run", log=lambda m: None)
    seeds = frame[frame["variant"].str.startswith("seed ")]
    assert sorted(seeds["variant"]) == ["seed 0", "seed 1", "seed 2"]
    assert seeds["train_seed"].nunique() == 3 and 11 in set(seeds["train_seed"])  # index 0: the run seed
    summary = frame[frame["variant"] == ""]
    assert len(summary) == 1 and summary["n_train_seeds"].iloc[0] == 3
    row = summary.iloc[0]
    assert row["top1_accuracy"] == pytest.approx(seeds["top1_accuracy"].mean())
    assert row["top1_accuracy_seed_min"] == seeds["top1_accuracy"].min()
    assert row["top1_accuracy_seed_max"] == seeds["top1_accuracy"].max()
    assert row["top1_accuracy_seed_std"] == pytest.approx(seeds["top1_accuracy"].std(ddof=1))
    assert len(list((tmp_path / "run" / "checkpoints").iterdir())) == 3
    assert (tmp_path / "run" / "accuracy_top1_tdl-a.png").is_file()
