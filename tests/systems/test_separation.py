"""Image baselines through the real PHY on Fashion-MNIST through `semlink run`: BPG in 5G NR transport
blocks (a family of MCS chosen on the validation split), the capacity bounds (with and without CSI at
the transmitter), and deep JSCC."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from semlink.config import validate
from semlink.errors import SemlinkError
from semlink.sim.experiment import ExperimentConfig, run_experiment

RUN = {
    "name": "separation",
    "seed": 3,
    "data": {"dataset": "fashion-mnist", "train_per_class": 100, "test_per_class": 24},
    "encoder": {"spec": "efficientnet-lite0", "image_size": 64},
    "link": {"channel": {"name": "awgn"}},
    "budgets": [64, 392],
    "systems": [
        {"type": "bpg+ldpc", "mcs": [["qpsk", 0.5], ["16qam", 0.5]]},
        {"type": "bpg+ldpc", "name": "bpg+ldpc-decode", "mcs": [["qpsk", 0.5]], "on_failure": "decode"},
        {"type": "bpg+capacity", "rates": [0.5, 1.0]},
        {"type": "bpg+capacity", "csit": True},
        {"type": "deep-jscc", "channel_uses": 392, "train": {"max_epochs": 4, "patience": 4}},
        {"type": "noiseless"},
    ],
    "eval": {"snr_db": [-6.0, 0.0, 6.0, 12.0], "noiseless": True},
}


def _run_tree(features_dir, hindsight: bool = True) -> dict:
    """The test run's config: :data:`RUN` with a family of two MCS pairs chosen on validation (every member
    also on the test queries with ``hindsight``)."""
    tree = json.loads(json.dumps(RUN))
    tree["encoder"]["cache_dir"] = str(features_dir)
    tree["systems"][0]["mcs"] = "select"
    tree["systems"][0]["mcs_table"] = [["qpsk", 0.5], ["16qam", 0.5]]
    tree["eval"]["hindsight"] = hindsight
    return tree


@pytest.fixture(scope="module")
def separation_run(tmp_path_factory, fashion_features):
    tmp = tmp_path_factory.mktemp("separation")
    cfg = validate(ExperimentConfig, _run_tree(tmp / "features"))
    return run_experiment(cfg, tmp / "run", log=lambda m: None, cache_dir=tmp / "codecs"), tmp / "run"


@pytest.fixture(scope="module")
def chosen_only_run(separation_run):
    """The same run with the default ``hindsight = false`` (its features and codecs from the cache)."""
    _, full = separation_run
    cfg = validate(ExperimentConfig, _run_tree(full.parent / "features", hindsight=False))
    out = full.parent / "chosen-only"
    return run_experiment(cfg, out, log=lambda m: None, cache_dir=full.parent / "codecs"), out


def test_rows_pay_for_what_they_send(separation_run):
    frame, _ = separation_run
    ldpc = frame[frame["system"] == "bpg+ldpc"]
    assert set(ldpc["variant"]) == {"qpsk r=1/2", "16qam r=1/2", "selected", "hindsight"}
    assert (frame[frame["system"] != "noiseless"]["channel_uses"] == frame["budget"].dropna()).all()
    assert (ldpc["channel_uses_sent"] <= ldpc["budget"]).all()  # rate matching never exceeds the budget
    assert (ldpc["psnr_db"] > 0).all() and ldpc["fit_rate"].between(0, 1).all()
    # The transport block pays its CRC (16 bits below 3825) out of the budget, and the real code rate after
    # rate matching is reported: (TBS + CRC) / coded bits.
    assert (ldpc["crc_bits"] >= 16).all() and (ldpc["tb_size"] > 0).all()
    rate = (ldpc["tb_size"] + ldpc["crc_bits"]) / (ldpc["allocation"] * ldpc["modulation"].map({"qpsk": 2, "16qam": 4}))
    assert np.allclose(ldpc["code_rate"], rate)
    # 64 channel uses carry about 12 bytes at 16-QAM rate 1/2: no BPG picture fits, every image is the
    # fallback (scored, never skipped); 392 uses carry most of them.
    small = ldpc[ldpc["budget"] == 64]
    assert (small["fit_rate"] < 0.2).all() and (small["fallback_rate"] >= 0.8).all()
    assert (ldpc[(ldpc["budget"] == 392) & (ldpc["variant"] == "16qam r=1/2")]["fit_rate"] > 0.5).all()
    assert {"ssim", "skipped_metrics", "code_block_failure_rate", "image_failure_rate", "undetected_error_rate",
            "nothing_fits_rate", "fallback_rate", "side_info_bytes"} <= set(frame)
    assert ldpc["undetected_error_rate"].between(0, 1).all()
    images = frame[frame["system"] != "noiseless"]
    assert images["skipped_metrics"].str.contains("ms_ssim: images of 28 px").all()
    qpsk = ldpc[(ldpc["variant"] == "qpsk r=1/2") & (ldpc["snr_db"] == 6.0)].iloc[0]
    assert qpsk["modulation"] == "qpsk" and math.isnan(qpsk["code_k"])
    real = qpsk["tb_size"] / (qpsk["allocation"] * 2)  # information bits per coded bit, CRC charged
    assert qpsk["ebno_db"] == pytest.approx(qpsk["snr_db"] - 10 * math.log10(2 * real))


def test_the_family_is_chosen_on_validation_and_reported_on_test(separation_run):
    import pandas as pd

    frame, run = separation_run
    validation = pd.read_csv(run / "validation.csv")
    ldpc = frame[frame["system"] == "bpg+ldpc"]
    # Every member was evaluated on the validation split too; its rows stay out of the results.
    assert set(validation["system"]) == {"bpg+ldpc", "bpg+capacity"} and set(validation["split"]) == {"validation"}
    assert "split" not in frame.columns or frame["split"].isna().all()
    assert validation["n_queries"].iloc[0] == 100 != ldpc["n_queries"].iloc[0]  # the validation senders, not the queries
    for (budget, snr), group in ldpc.groupby(["budget", "snr_db"]):
        members = group[group["variant"].isin(["qpsk r=1/2", "16qam r=1/2"])].set_index("variant")
        selected, hindsight = (group[group["variant"] == v].iloc[0] for v in ("selected", "hindsight"))
        scores = validation[(validation["system"] == "bpg+ldpc") & (validation["budget"] == budget)
                            & (validation["snr_db"] == snr)].set_index("variant")["top1_accuracy"]
        assert selected["choice"] == scores.idxmax() and selected["selected_on"] == "validation"
        assert selected["choice_validation_top1_accuracy"] == scores.max()
        # The selected row is the chosen member's test row; hindsight is the best on the test queries.
        assert selected["top1_accuracy"] == members.loc[selected["choice"], "top1_accuracy"]
        assert hindsight["top1_accuracy"] == members["top1_accuracy"].max() >= selected["top1_accuracy"]
        assert hindsight["selected_on"].startswith("test (hindsight")


def test_by_default_only_the_member_validation_chose_scores_the_test_queries(separation_run, chosen_only_run):
    import pandas as pd

    (full, full_dir), (cut, cut_dir) = separation_run, chosen_only_run
    pd.testing.assert_frame_equal(pd.read_csv(cut_dir / "validation.csv"), pd.read_csv(full_dir / "validation.csv"))
    for system in ("bpg+ldpc", "bpg+capacity"):
        rows = cut[cut["system"] == system]
        assert "hindsight" not in set(rows["variant"])
        selected = rows[rows["variant"] == "selected"].set_index(["budget", "snr_db"]).sort_index()
        members = rows[~rows["variant"].isin(["selected"])]
        # One member per (budget, SNR) scored the test queries: the one validation chose.
        assert len(members) == len(selected) == 2 * 5
        chosen = members.set_index(["budget", "snr_db"]).sort_index()
        assert (chosen["variant"] == selected["choice"]).all()
        # Common random numbers: the same choices and the same test rows as the run that scored every member.
        before = full[(full["system"] == system) & (full["variant"] == "selected")].set_index(["budget", "snr_db"])
        columns = ["choice", "top1_accuracy", "psnr_db", "choice_validation_top1_accuracy"]
        pd.testing.assert_frame_equal(selected[columns], before.sort_index()[columns])
    manifest = json.loads((cut_dir / "manifest.json").read_text())
    evaluated = len(cut[cut["variant"] != "selected"]) + len(pd.read_csv(cut_dir / "validation.csv"))
    assert manifest["status"] == "complete" and manifest["n_points"] == evaluated


def test_capacity_bounds_the_ldpc_scheme_and_ldpc_has_its_cliff(separation_run):
    frame, _ = separation_run
    for budget in (64, 392):
        at = frame[frame["budget"] == budget].set_index(["system", "variant", "snr_db"])
        for snr in (-6.0, 0.0, 6.0, 12.0):
            csit = at.loc[("bpg+capacity-csit", "", snr), "psnr_db"]
            no_csit = at.loc[("bpg+capacity", "R=1 C_awgn", snr), "psnr_db"]  # the rate at capacity
            ldpc = at.loc[("bpg+ldpc", "hindsight", snr), "psnr_db"]
            # AWGN: a fixed rate at the capacity is delivered, so without CSIT the bound is the CSIT one.
            assert csit >= ldpc - 1e-9 and no_csit == pytest.approx(csit), (budget, snr, csit, no_csit, ldpc)
        assert (at.xs("bpg+capacity", level="system")["outage_rate"] == 0).all()  # AWGN: no outage below capacity
    # The cliff: far below the code's threshold every image is the fallback; far above it only the
    # images that did not fit the budget are, and the PSNR is the noiseless one.
    at = frame[frame["budget"] == 392].set_index(["system", "variant", "snr_db"])
    low = at.loc[("bpg+ldpc", "16qam r=1/2", -6.0)]
    high = at.loc[("bpg+ldpc", "16qam r=1/2", 12.0)]
    assert low["fallback_rate"] == 1.0 and low["image_failure_rate"] == 1.0
    assert high["fallback_rate"] == pytest.approx(1 - high["fit_rate"]) == pytest.approx(high["nothing_fits_rate"])
    assert high["code_block_failure_rate"] == 0
    assert high["psnr_db"] > low["psnr_db"] + 3
    assert high["psnr_db"] == pytest.approx(at.loc[("bpg+ldpc", "16qam r=1/2", math.inf), "psnr_db"])


def test_decode_anyway_never_does_worse_than_falling_back_everywhere(separation_run):
    frame, _ = separation_run
    decode = frame[frame["system"] == "bpg+ldpc-decode"].set_index(["budget", "snr_db"])
    assert (decode["fallback_rate"] <= 1.0).all()
    assert set(decode["on_failure"]) == {"decode"}


def test_bad_separation_configs_are_refused():
    base = {"systems": [{"type": "bpg+ldpc", "channel_uses": 64}]}
    with pytest.raises(SemlinkError, match="unknown codec 'bpg2'; accepted: avif, bpg, jpeg"):
        validate(ExperimentConfig, {"systems": [{"type": "bpg+ldpc", "channel_uses": 64, "codec": "bpg2"}]})
    with pytest.raises(SemlinkError, match="unknown modulation '8psk'"):
        validate(ExperimentConfig, {"systems": [{**base["systems"][0], "mcs": [["8psk", 0.5]]}]})
    with pytest.raises(SemlinkError, match=r"code rate 0\.99 outside"):
        validate(ExperimentConfig, {"systems": [{**base["systems"][0], "mcs": [["qpsk", 0.99]]}]})
    with pytest.raises(SemlinkError, match="unknown MCS table '38.214-9'; accepted: 38.214-1, 38.214-2|mcs_table"):
        validate(ExperimentConfig, {"systems": [{**base["systems"][0], "mcs_table": "38.214-9"}]})
    with pytest.raises(SemlinkError, match="MCS index 31 is not a usable entry"):
        validate(ExperimentConfig, {"systems": [{**base["systems"][0], "mcs": [31]}]})
    with pytest.raises(SemlinkError, match="carries no transport block at any of its MCS"):
        validate(ExperimentConfig, {"systems": [{"type": "bpg+ldpc", "channel_uses": 10, "mcs": [27]}]})
    with pytest.raises(SemlinkError, match="envelope_metric is now selection_metric"):
        validate(ExperimentConfig, {"systems": [{**base["systems"][0], "envelope_metric": "psnr_db"}]})
    with pytest.raises(SemlinkError, match="budgets must be positive"):
        validate(ExperimentConfig, {"systems": [{"type": "bpg+capacity", "channel_uses": 0}]})


def test_codec_names_in_the_spec_come_from_the_registry():
    from semlink.systems.specs.image import CodecSpec
    from semlink.tx.codecs import available_codecs, register_codec
    from semlink.tx.codecs.base import CODECS

    for name in available_codecs():
        assert CodecSpec(type="x", codec=name).codec == name
    with pytest.raises(ValueError, match="unknown codec 'gif'"):
        CodecSpec(type="x", codec="gif")
    register_codec("gif", CODECS.get("jpeg"))  # a codec registered later is accepted with no change to the spec
    try:
        assert CodecSpec(type="x", codec="gif").codec == "gif"
    finally:
        CODECS._entries.pop("gif")


def test_deep_jscc_degrades_gracefully_where_separation_falls_off_its_cliff(separation_run):
    """Across the SNR grid deep JSCC's PSNR moves by a few dB per 6 dB step and stays well above the
    fallback image, while BPG + LDPC jumps from the fallback to its noiseless quality."""
    frame, run = separation_run
    jscc = frame[frame["system"] == "deep-jscc"].set_index("snr_db")["psnr_db"]
    fallback = frame[(frame["system"] == "bpg+ldpc") & (frame["snr_db"] == -6.0) & (frame["budget"] == 392)]
    fallback_psnr = float(fallback["psnr_db"].max())
    assert jscc.loc[-6.0] > fallback_psnr + 3
    steps = np.diff(jscc.loc[[-6.0, 0.0, 6.0, 12.0]].to_numpy())
    assert (steps > -0.5).all() and (steps < 4).all(), steps
    ldpc = frame[(frame["system"] == "bpg+ldpc") & (frame["variant"] == "16qam r=1/2")
                 & (frame["budget"] == 392)].set_index("snr_db")["psnr_db"]  # one MCS: its cliff
    assert np.diff(ldpc.loc[[-6.0, 0.0, 6.0, 12.0]].to_numpy()).max() > 5
    assert (run / "checkpoints" / "deep-jscc__392cu__awgn" / "model.safetensors").is_file()


def test_resuming_with_an_added_snr_reuses_every_codec(separation_run, tmp_path):
    # Checkpoints are checked against what they were trained with; a resumed run must find its own
    # deep-JSCC codec acceptable (its config's own keys must not clash with the provenance).
    import shutil

    _, run_dir = separation_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    tree = _run_tree(run_dir.parent / "features")
    tree["eval"]["snr_db"].append(3.0)
    lines: list[str] = []
    frame = run_experiment(validate(ExperimentConfig, tree), copy, resume=True, log=lines.append)
    assert not [line for line in lines if line.endswith(": training")], lines
    assert any("deep-jscc" in line and "loaded checkpoint" in line for line in lines), lines
    assert set(frame.loc[frame["snr_db"] == 3.0, "system"]) >= {"bpg+ldpc", "bpg+capacity", "deep-jscc"}
