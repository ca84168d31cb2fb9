"""The command line: a BER sweep reproduces theory, writes its files, and bad input exits 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import erfc

from semlink.cli.common import parse_db_list

SEMLINK = [sys.executable, "-m", "semlink.cli"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SEMLINK, *args], capture_output=True, text=True, timeout=600)


def test_phy_ber_reproduces_uncoded_qpsk_theory(tmp_path):
    """Uncoded QPSK over AWGN at Eb/N0 = 4 dB: theory BER = Q(sqrt(2 Eb/N0)) = 0.012501.

    ~1e6 bits give ~12 500 errors: the relative standard deviation of the estimate is 0.9 %, so
    the 5 % tolerance is more than 5 sigma (false-failure probability < 1e-6).
    """
    out = tmp_path / "ber"
    done = _run("phy", "ber", "--ebno-db", "2,4", "--uncoded", "--modulation", "qpsk", "--channel", "awgn",
                "--flat", "--batch-size", "500", "--max-iter", "1", "--out", str(out), "--seed", "3")
    assert done.returncode == 0, done.stderr
    frame = pd.read_csv(out / "results.csv")
    required = {"channel", "modulation", "code_k", "code_n", "snr_db", "ebno_db", "ber", "bler", "n_bits",
                "n_bit_errors", "n_blocks", "n_block_errors", "seed"}
    assert required <= set(frame.columns)
    row = frame[frame["ebno_db"] == 4.0].iloc[0]
    theory = 0.5 * erfc(np.sqrt(10 ** 0.4))
    assert row["n_bits"] >= 1_000_000
    assert abs(row["ber"] / theory - 1) < 0.05, (row["ber"], theory)
    assert row["snr_db"] == pytest.approx(4.0 + 10 * np.log10(2), abs=1e-6)  # Es/N0 = Eb/N0 + 3.01 dB
    parquet = pd.read_parquet(out / "results.parquet")
    assert list(parquet.columns) == list(frame.columns)
    numeric = ["snr_db", "ebno_db", "ber", "bler", "n_bits", "n_bit_errors", "n_blocks", "n_block_errors", "seed"]
    pd.testing.assert_frame_equal(parquet[numeric], frame[numeric], check_dtype=False)
    assert parquet["code_k"].isna().all() and (parquet["channel"] == "awgn").all()
    assert (parquet["device"] == "cpu").all()  # the default: where the link ran is in every row
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["config"]["link"]["code"] == "uncoded"
    assert manifest["config"]["device"] == "cpu"
    assert "sionna-no-rt" in manifest["versions"]
    assert (out / "ber_bler.png").stat().st_size > 1000


@pytest.mark.parametrize(
    "link",
    [
        ["--uncoded", "--channel", "rayleigh", "--flat", "--batch-size", "50"],
        ["--code", "456,912", "--channel", "tdl-a", "--ofdm", "--csi", "ls", "--batch-size", "20"],
    ],
    ids=["flat-rayleigh", "ofdm-tdl-a-ls"],
)
def test_same_seed_gives_identical_results_and_another_seed_differs(tmp_path, link):
    args = ["phy", "ber", "--snr-db", "2", *link, "--max-iter", "1"]
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        assert _run(*args, "--seed", seed, "--out", str(tmp_path / name)).returncode == 0
    a, b, c = (pd.read_csv(tmp_path / n / "results.csv") for n in "abc")
    pd.testing.assert_frame_equal(a, b)
    assert a["n_bit_errors"].iloc[0] != c["n_bit_errors"].iloc[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--channel", "tdl-z"], "tdl-z"),
        (["--modulation", "8psk"], "8psk"),
        (["--decoder", "turbo"], "unknown LDPC decoder 'turbo'; accepted: sionna-bp, layered-bp, layered-nms"),
        (["--decoder", "layered-nms", "--nms-scale", "2"], "nms_scale"),
        (["--code", "2048,1024"], "2048"),
        (["--code", "5,7"], "5"),
        (["--snr-db", "nan"], "non-finite"),
        (["--snr-db", ""], "--snr-db"),
        (["--batch-size", "0"], "batch_size"),
        (["--threads", "0"], "--threads = '0'; accepted: a positive integer or 'auto'"),
        (["--ofdm", "--fft-size", "0"], "fft_size"),
        (["--ofdm", "--num-ofdm-symbols", "2", "--pilots", "2,11"], "pilot"),
    ],
)
def test_bad_input_prints_one_line_and_exits_2(tmp_path, capsys, args, message):
    from semlink.cli import main

    base = {"--snr-db": "0", "--out": str(tmp_path / "x")}
    for flag in args:
        base.pop(flag, None)
    argv = ["phy", "ber", *[v for kv in base.items() for v in kv], *args]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capsys.readouterr()
    assert exit_info.value.code == 2, (captured.out, captured.err)
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), captured.err
    assert message in lines[0]
    assert not (tmp_path / "x" / "results.csv").exists()


def test_phy_ber_with_a_layered_decoder_records_it(tmp_path):
    from semlink.cli import main

    out = tmp_path / "fast"
    with pytest.raises(SystemExit) as exit_info:
        main(["phy", "ber", "--snr-db", "4", "--code", "456,912", "--flat", "--decoder", "layered-nms",
              "--bp-iterations", "12", "--batch-size", "64", "--max-iter", "1", "--out", str(out), "--seed", "1",
              "--threads", "1"])
    assert exit_info.value.code == 0
    row = pd.read_csv(out / "results.csv").iloc[0]
    assert row["decoder"] == "layered-nms" and row["bp_iterations"] == 12
    assert row["n_blocks"] == 64 and row["bler"] == 0.0  # Es/N0 4 dB is far above this code's waterfall
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["link"]["decoder"] == "layered-nms"
    choice = manifest["threads"]["choice"]  # --threads is applied to torch (and numba) and recorded with why
    assert choice["threads"] == 1 and choice["reason"] == "requested"
    assert choice["applied"]["torch_intra_op"] == 1


def test_bad_input_from_a_real_process_has_no_traceback(tmp_path):
    done = _run("phy", "ber", "--snr-db", "0", "--channel", "tdl-z", "--out", str(tmp_path / "x"))
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error:") and "Traceback" not in done.stderr


@pytest.mark.parametrize("device, message", [
    ("gpu", "unknown device 'gpu'; accepted: auto, cpu, cuda, cuda:N, mps"),
    ("cuda:x", "unknown device 'cuda:x'; accepted: auto, cpu, cuda, cuda:N, mps"),
])
def test_phy_ber_refuses_an_unknown_device_in_one_line(tmp_path, device, message):
    done = _run("phy", "ber", "--snr-db", "0", "--device", device, "--out", str(tmp_path / "x"))
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert done.stderr.strip().startswith("error:") and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message where no GPU is present")
def test_phy_ber_on_cuda_without_a_gpu_says_what_torch_sees(tmp_path):
    done = _run("phy", "ber", "--snr-db", "0", "--uncoded", "--device", "cuda", "--max-iter", "1",
                "--out", str(tmp_path / "x"))
    assert done.returncode == 2 and "torch sees no CUDA GPU" in done.stderr, done.stderr
    assert done.stderr.strip().startswith("error:") and "Traceback" not in done.stderr


def test_parse_db_list():
    assert parse_db_list("0:1:0.5", "x") == [0.0, 0.5, 1.0]
    assert parse_db_list("-7,-4, 10", "x") == [-7.0, -4.0, 10.0]


def test_features_then_kb_build_and_query(tmp_path, capsys):
    """The knowledge base from the command line only: extract, build, query (real encoder and data)."""
    import os

    from semlink.cli import main

    if not os.path.isdir("/usr/share/datasets/fashion-mnist"):
        pytest.skip("Debian's dataset-fashion-mnist is not installed")

    def run(*argv):
        with pytest.raises(SystemExit) as done:
            main(list(argv))
        captured = capsys.readouterr()
        assert done.value.code == 0, captured.err
        return captured.out

    feats = tmp_path / "feats.safetensors"
    run("features", "--dataset", "fashion-mnist", "--split", "test", "--per-class", "20", "--out", str(feats))
    run("kb", "build", "--features", str(feats), "--out", str(tmp_path / "kb"))
    printed = run("kb", "query", "--kb", str(tmp_path / "kb"), "--features", str(feats), "--k", "5")
    # Querying the knowledge base with its own items: every item finds itself first.
    assert "top-1" in printed.lower() and "1.000" in printed, printed


def test_importing_the_cli_loads_neither_torch_nor_sionna():
    """`semlink --help`, `--version` and config errors stay instant: heavy imports live inside commands."""
    code = ("import sys, semlink.cli; heavy = [m for m in ('torch', 'sionna', 'faiss', 'pandas', 'numpy') "
            "if m in sys.modules]; print(','.join(heavy))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "", done.stdout + done.stderr


def test_version_and_help():
    from importlib.metadata import version

    done = _run("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"semlink {version('semlink')}"
    helped = _run("--help")
    assert helped.returncode == 0
    for command in ("run", "phy", "kb", "features", "export-onnx", "report"):
        assert command in helped.stdout


@pytest.mark.parametrize("args", [["run", "--bogus", "x"], ["phy", "ber", "--out"], ["report"], ["nosuchcommand"]])
def test_usage_errors_print_one_line_and_exit_2(args):
    done = _run(*args)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error:") and "--help" in lines[0], done.stderr


@pytest.mark.parametrize("text", ["", "# nothing but a comment\n", "[data]\ndataset = 'fashion-mnist'\n"])
def test_configs_without_systems_are_refused_naming_what_is_required(tmp_path, text):
    config = tmp_path / "empty.toml"
    config.write_text(text)
    done = _run("run", str(config), "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "at least one [[systems]] entry" in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()


def test_config_errors_name_the_bad_value(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("budgets = [4]\n[[systems]]\ntype = 'kbsc-digital'\nmcs = [0]\n")
    done = _run("run", str(config), "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "a budget of 4 channel uses carries no transport block" in done.stderr
    config.write_text("budgets = [64]\n[[systems]]\ntype = 'kbsc-digital'\nmodulation = '16qam'\ncode = [256, 512]\n")
    done = _run("run", str(config), "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "give mcs = [index] of mcs_table" in done.stderr, done.stderr
    for bad, message in ((["codec = 'gif'"], "unknown codec 'gif'"), (["mcs = [['qpsk', 0.99]]"], "0.99"),
                         (["mcs_table = []"], "is empty"), (["mcs_table = '38.214-9'"], "'38.214-9'"),
                         (["mcs_indices = [40]"], "accepted: integers 0-28")):
        config.write_text("budgets = [64]\n[[systems]]\ntype = 'bpg+ldpc'\n" + "\n".join(bad) + "\n")
        done = _run("run", str(config), "--out", str(tmp_path / "out"))
        assert done.returncode == 2 and message in done.stderr, done.stderr


def test_dry_run_lists_points_channel_uses_and_cbr(tmp_path):
    import os
    from pathlib import Path

    if not os.path.isdir("/usr/share/datasets/fashion-mnist"):
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    config = Path(__file__).parents[1] / "configs" / "compare_offline.toml"
    done = _run("run", str(config), "--out", str(tmp_path / "out"), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "784 source values" in done.stdout
    table = [line.split() for line in done.stdout.splitlines()[4:] if line.strip()]
    total = sum(int(row[-1]) for row in table)  # the header's count is the table's points summed
    assert f"{total} points" in done.stdout.splitlines()[0]
    members = [row for row in table if row[0] == "bpg+ldpc" and row[1] == "128" and row[2] == "MCS"]
    assert [row[3] for row in members] == [str(i) for i in range(0, 29, 4)]  # every fourth MCS of 38.214-1
    assert {row[-1] for row in members} == {"18"}  # 2 channels x (8 SNRs + noiseless), on validation
    chosen = next(row for row in table if row[:3] == ["bpg+ldpc", "128", "selected"])
    assert chosen[-1] == "18"  # the test queries: the member validation chose, per channel and SNR
    row = next(line for line in done.stdout.splitlines() if line.startswith("raw "))
    assert row.split()[-3:] == ["640", "0.8163", "18"]
    assert not (tmp_path / "out").exists()  # nothing ran, nothing was written
