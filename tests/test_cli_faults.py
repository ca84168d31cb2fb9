"""The command line under faults: every command with a bad --out, damaged checkpoints, internal errors,
a locked run folder, Ctrl-C into a real run (in training and in evaluation), SIGTERM into a BER sweep,
and a full disk.

Each failure must be one line (``error: ...`` with status 2 or 1, ``interrupted: ...`` with 130 or
143) and never a traceback; an interrupted or disk-full run must resume to the results an
uninterrupted run gives.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from semlink.cli import main

SEMLINK = [sys.executable, "-m", "semlink.cli"]
FASHION_ROOT = "/usr/share/datasets/fashion-mnist"
needs_fashion = pytest.mark.skipif(not os.path.isdir(FASHION_ROOT),
                                   reason="Debian's dataset-fashion-mnist is not installed")

TINY = """
name = "tiny"
seed = 3
[data]
dataset = "fashion-mnist"
train_per_class = 20
test_per_class = {test_per_class}
[encoder]
spec = "efficientnet-lite0"
image_size = 32
cache_dir = "{features}"
[link]
csi = "ls"
[link.ofdm]
[link.channel]
name = "tdl-a"
{systems}
[train]
snr_db = [0, 10]
[eval]
snr_db = {snrs}
noiseless = false
lpips = false
"""

TRAINED = """
[[systems]]
type = "kbsc"
name = "kbsc-a"
channel_uses = 16
train = { epochs = 2, patience = 2, batch_size = 32 }
[[systems]]
type = "kbsc"
name = "kbsc-b"
channel_uses = 8
train = { epochs = 12, patience = 12, batch_size = 16 }
[[systems]]
type = "raw"
"""


def tiny_config(folder: Path, features: Path, *, systems: str = TRAINED, snrs=(-4, -2, 0, 2, 4, 6, 8, 10),
                test_per_class: int = 60, name: str = "tiny.toml") -> Path:
    path = folder / name
    path.write_text(TINY.format(features=features, systems=systems, snrs=json.dumps(list(snrs)),
                                test_per_class=test_per_class))
    return path


def _env(tmp: Path) -> dict[str, str]:
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    home.chmod(0o777)
    return {**os.environ, "OMP_NUM_THREADS": "1", "SEMLINK_CACHE": str(tmp / "semlink-cache"), "HOME": str(home),
            "MPLCONFIGDIR": str(home / "mpl"), "PYTHONPATH": str(Path(__file__).parents[1] / "src")}


def _cli(*args, env=None, timeout=900, prefix=()) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, *SEMLINK, *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=timeout)


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _one_line(stderr: str, start: str = "error:") -> str:
    """The one failure line of ``stderr`` (log lines of ``semlink run`` before it are allowed)."""
    assert "Traceback" not in stderr, stderr
    failures = [line for line in _lines(stderr) if not line.startswith("[semlink ")]
    assert len(failures) == 1 and failures[0].startswith(start), stderr
    return failures[0]


def _main(argv, capsys) -> tuple[int, str]:
    """``semlink ARGV`` in this process: ``(status, the one failure line)``."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    err = capsys.readouterr().err
    return exit_info.value.code, err


# -- every command, bad --out paths --------------------------------------------------------------------


@pytest.fixture(scope="module")
def public_tmp():
    """A scratch folder every user may read (pytest's own is private to its user): the permission cases
    run as the user nobody when the tests run as root."""
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="semlink-faults-"))
    root.chmod(0o755)
    yield root
    for path in root.rglob("*"):
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def inputs(public_tmp):
    """Small valid inputs for every command: a features file, a knowledge base, a checkpoint, a run folder
    (a one-point BER sweep) and an experiment config whose feature cache must stay unwritten."""
    import torch

    from semlink.kb import KnowledgeBase
    from semlink.kb.feature_file import write_feature_file
    from semlink.kb.labels import LabelSet
    from semlink.systems.kbsc_model import KbscCodec, save_codec

    root = public_tmp / "inputs"
    root.mkdir()
    feats = torch.nn.functional.normalize(torch.randn(40, 16), dim=1)
    labels = torch.arange(40) % 4
    features = write_feature_file(root / "feats.safetensors", feats, labels, torch.arange(40), encoder="toy",
                                  encoder_weights=None, label_set=LabelSet("toy", "test", ("a", "b", "c", "d")))
    KnowledgeBase.build(feats, labels, encoder="toy").save(root / "kb")
    save_codec(KbscCodec(16, 4, hidden_dim=8), root / "ckpt")
    with pytest.raises(SystemExit) as done:
        main(["phy", "ber", "--snr-db", "0", "--uncoded", "--flat", "--batch-size", "50", "--max-iter", "1",
              "--out", str(root / "ber")])
    assert done.value.code == 0
    config = tiny_config(root, root / "feature-cache", systems='[[systems]]\ntype = "raw"\n')
    for path in [root, *root.rglob("*")]:  # readable by the user nobody (the permission cases, as root)
        path.chmod(0o755 if path.is_dir() else 0o644)
    return {"features": features, "kb": root / "kb", "ckpt": root / "ckpt", "run": root / "ber", "config": config,
            "feature_cache": root / "feature-cache"}


def commands(inputs, folder: Path, file: Path) -> dict[str, tuple[list, bool]]:
    """Every command that writes: ``name -> (argv, whether its --out is a file)``."""
    return {
        "run": (["run", inputs["config"], "--out", folder, "--no-cache"], False),
        "phy ber": (["phy", "ber", "--snr-db", "0", "--uncoded", "--flat", "--batch-size", "50", "--max-iter", "1",
                     "--out", folder], False),
        "features": (["features", "--dataset", "fashion-mnist", "--per-class", "2", "--out", file], True),
        "kb build": (["kb", "build", "--features", inputs["features"], "--out", folder], False),
        "kb query": (["kb", "query", "--kb", inputs["kb"], "--features", inputs["features"], "--out", file], True),
        "export-onnx": (["export-onnx", inputs["ckpt"], "--out", folder], False),
        "report": (["report", inputs["run"], "--out", file], True),
    }


COMMANDS = ["run", "phy ber", "features", "kb build", "kb query", "export-onnx", "report"]


@pytest.fixture
def no_heavy_work(monkeypatch):
    """Fail the test if a command loads its data before refusing its --out."""
    import semlink.data
    import semlink.kb.feature_file

    def refuse(*args, **kwargs):
        raise AssertionError("the command read its input before checking --out")

    monkeypatch.setattr(semlink.data, "load_dataset", refuse)
    monkeypatch.setattr(semlink.kb.feature_file, "read_feature_file", refuse)
    import semlink.cli.kb

    monkeypatch.setattr(semlink.cli.kb, "read_feature_file", refuse)


@pytest.mark.parametrize("case", ["in the way", "under a file"])
@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_refuses_a_bad_out_before_any_work(tmp_path, capsys, inputs, no_heavy_work, name, case):
    """A file where a folder is expected (and the reverse), or a file on the way: one line, status 2,
    before the command reads its data (features are not extracted, nothing is written)."""
    a_file, a_folder = tmp_path / "a-file", tmp_path / "a-folder"
    a_file.write_text("x")
    a_folder.mkdir()
    if case == "in the way":
        argv, is_file = commands(inputs, a_file, a_folder)[name]
        expected = "is a folder, not a file" if is_file else "is a file, not a folder"
    else:
        argv, is_file = commands(inputs, a_file / "sub", a_file / "sub.dat")[name]
        expected = f"{a_file} is a file, not a folder"
    status, err = _main(argv, capsys)
    assert status == 2 and expected in _one_line(err), err
    assert a_file.read_text() == "x" and not list(a_folder.iterdir())
    assert not inputs["feature_cache"].exists()


@functools.cache
def _dropped_user_runs_semlink(prefix: tuple[str, ...]) -> bool:
    """Whether ``prefix`` (the user nobody) can start this checkout's interpreter and import semlink."""
    done = subprocess.run([*prefix, sys.executable, "-c", "import semlink"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}, timeout=120)
    return done.returncode == 0


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_refuses_an_out_it_may_not_write(public_tmp, inputs, name):
    """A real process (as the user nobody when the tests run as root, who may write anywhere): an --out in
    a folder without write permission is one line naming the folder, status 2, nothing written."""
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root, and no setpriv to drop to an ordinary user")
        prefix = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
        if not _dropped_user_runs_semlink(prefix):
            pytest.skip("the user nobody cannot read this checkout or its venv (e.g. a clone in a private "
                        "mktemp -d folder); nothing to test as that user")
    tmp = public_tmp / name.replace(" ", "-")
    tmp.mkdir()
    locked = tmp / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    argv, _ = commands(inputs, locked / "out", locked / "out.dat")[name]
    done = _cli(*argv, env=_env(tmp), prefix=prefix)
    line = _one_line(done.stderr)
    assert done.returncode == 2 and "permission denied" in line and str(locked) in line, done.stderr
    assert not list(locked.iterdir())


@pytest.mark.parametrize("name", COMMANDS)
def test_missing_parents_are_created(tmp_path, capsys, inputs, name):
    if name in ("run", "features"):
        pytest.skip("reads a dataset; covered by the experiment and CLI tests")
    argv, is_file = commands(inputs, tmp_path / "a" / "b" / "out", tmp_path / "a" / "b" / "out.dat")[name]
    status, err = _main(argv, capsys)
    assert status == 0, err
    assert (tmp_path / "a" / "b" / ("out.dat" if is_file else "out")).exists()


# -- damaged checkpoints, internal errors -----------------------------------------------------------------


@pytest.mark.parametrize("damage", ["truncated", "json list", "zeroed weights", "0xff weights", "no checksum"])
def test_damaged_checkpoints_are_refused_in_one_line(tmp_path, capsys, inputs, damage):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(inputs["ckpt"], ckpt)
    config, weights = ckpt / "config.json", ckpt / "model.safetensors"
    if damage == "truncated":
        config.write_text(config.read_text()[:40])
    elif damage == "json list":
        config.write_text("[1, 2, 3]\n")
    elif damage == "no checksum":
        meta = json.loads(config.read_text())
        del meta["sha256"]
        config.write_text(json.dumps(meta))
    else:
        data = bytearray(weights.read_bytes())
        data[200:600] = (b"\x00" if damage == "zeroed weights" else b"\xff") * 400
        weights.write_bytes(bytes(data))
    status, err = _main(["export-onnx", ckpt, "--out", tmp_path / "onnx"], capsys)
    line = _one_line(err)
    assert status == 2, err
    named = weights if "weights" in damage else (ckpt if damage == "no checksum" else config)
    assert str(named) in line and "delete" in line, line
    assert not (tmp_path / "onnx").exists() or not list((tmp_path / "onnx").iterdir())


def test_a_bug_is_one_line_with_the_traceback_saved(tmp_path, capsys, monkeypatch):
    import semlink.io

    def broken():
        raise TypeError("an unexpected type")

    monkeypatch.setattr(semlink.io, "package_versions", broken)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("SEMLINK_DEBUG", raising=False)
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    status, err = _main(["version"], capsys)
    line = _one_line(err)
    assert status == 1 and "internal error (TypeError: an unexpected type)" in line, err
    saved = list(tmp_path.glob("semlink-error-*.txt"))
    assert len(saved) == 1 and str(saved[0]) in line
    assert "Traceback" in saved[0].read_text() and "broken" in saved[0].read_text()


def test_ctrl_c_in_another_command_is_130_and_one_line(tmp_path, capsys, inputs, monkeypatch):
    import semlink.kb.index

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(semlink.kb.index.KnowledgeBase, "build", interrupted)
    status, err = _main(["kb", "build", "--features", inputs["features"], "--out", tmp_path / "kb"], capsys)
    line = _one_line(err, "interrupted:")
    assert status == 130 and line.startswith("interrupted: semlink kb build stopped before finishing"), err
    assert not (tmp_path / "kb").exists()


# -- one writer per run folder --------------------------------------------------------------------------


def test_a_second_writer_stops_at_once_naming_the_holder(tmp_path, inputs):
    """While this process holds a folder's lock, `semlink run` and `semlink phy ber` on it stop at once."""
    from semlink.sim.run_lock import RunLock

    out = tmp_path / "busy"
    out.mkdir()
    lock = RunLock(out)
    lock.acquire()
    try:
        for argv in (commands(inputs, out, out)["run"][0], commands(inputs, out, out)["phy ber"][0]):
            done = _cli(*argv, env=_env(tmp_path))
            line = _one_line(done.stderr)
            assert done.returncode == 2 and "in use by another semlink run" in line, done.stderr
            assert f"pid {os.getpid()}" in line
        assert sorted(p.name for p in out.iterdir()) == [".semlink.lock"]  # nothing else written
        assert not inputs["feature_cache"].exists()  # refused before the features
    finally:
        lock.release()


# -- Ctrl-C, SIGTERM, a full disk: real runs --------------------------------------------------------------


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of the tiny trained config (what interrupted runs must end up equal to)."""
    if not os.path.isdir(FASHION_ROOT):
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    root = tmp_path_factory.mktemp("reference")
    config = tiny_config(root, root / "features")
    done = _cli("run", config, "--out", root / "run", "--no-cache", env=_env(root))
    assert done.returncode == 0, done.stderr
    return {"root": root, "config": config, "run": root / "run"}


def _wait_for(condition, proc: subprocess.Popen, timeout: float = 600) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, "the run ended before the signal could be sent"
        assert time.monotonic() < end, "timed out waiting for the run"
        time.sleep(0.02)


def _sigint_as_at_a_terminal() -> None:
    """A test run started in the background (a CI runner, ``cmd &``) inherits SIGINT ignored, and a Python
    started so never turns it into KeyboardInterrupt: the child gets the default back, as at a terminal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _journal(out: Path) -> int:
    path = out / "points.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


@needs_fashion
@pytest.mark.slow
def test_ctrl_c_in_training_and_in_evaluation_then_resume_gives_the_same_results(reference):
    """Ctrl-C (SIGINT) while the second codec trains: status 130, one line with what is kept and the
    resume command; that command reuses the first codec, and Ctrl-C during its evaluation gives 130
    again; the next resume completes the run: results.csv and comparisons.csv byte-identical to an
    uninterrupted run's."""
    root, config = reference["root"], reference["config"]
    out = root / "interrupted"
    argv = [*SEMLINK, "run", str(config), "--out", str(out), "--no-cache"]
    log = root / "interrupted.log"
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(log, "w"), env=_env(root),
                            preexec_fn=_sigint_as_at_a_terminal)
    _wait_for(lambda: "kbsc-b @ 8 [tdl-a]: training" in log.read_text(), proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(600) == 130, log.read_text()
    line = _one_line(log.read_text(), "interrupted:")
    assert f"{out} keeps 0 of 24 finished points and 1 trained codec" in line, line
    resume = line.split("continue with: ", 1)[1]
    assert shlex.split(resume)[1:] == [*argv[3:], "--resume"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["n_points"] == 24
    assert not (out / ".semlink.lock").exists()

    proc = subprocess.Popen([*argv, "--resume"], stdout=subprocess.DEVNULL, stderr=open(log, "w"), env=_env(root),
                            preexec_fn=_sigint_as_at_a_terminal)
    _wait_for(lambda: _journal(out) >= 2, proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(600) == 130, log.read_text()
    text = log.read_text()
    assert "kbsc-a @ 16 [tdl-a]: loaded checkpoint" in text and "kbsc-a @ 16 [tdl-a]: training" not in text
    line = _one_line(text, "interrupted:")
    kept = _journal(out)
    assert 2 <= kept and f"keeps {kept} of 24 finished points and 2 trained codecs" in line, line

    done = _cli(*argv[3:], "--resume", env=_env(root))
    assert done.returncode == 0, done.stderr
    assert "training" not in done.stderr
    for name in ("results.csv", "comparisons.csv"):
        assert (out / name).read_bytes() == (reference["run"] / name).read_bytes(), name
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


def test_sigterm_stops_a_ber_sweep_with_143_and_it_resumes(tmp_path):
    """SIGTERM (a batch scheduler's stop): status 143, one line; --resume completes the sweep with the
    rows of an uninterrupted one."""
    args = ["phy", "ber", "--snr-db", "0:8:0.5", "--uncoded", "--flat", "--channel", "rayleigh", "--batch-size",
            "3000", "--max-iter", "1", "--seed", "4"]
    out = tmp_path / "ber"
    log = tmp_path / "ber.log"
    proc = subprocess.Popen([*SEMLINK, *args, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=open(log, "w"),
                            env=_env(tmp_path))
    _wait_for(lambda: _journal(out) >= 1, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(600) == 143, log.read_text()
    line = _one_line(log.read_text(), "interrupted:")
    assert f"{out} keeps" in line and "of 17 finished points" in line and line.endswith("--resume"), line
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"
    assert _cli(*args, "--out", out, "--resume", env=_env(tmp_path)).returncode == 0
    assert _cli(*args, "--out", tmp_path / "whole", env=_env(tmp_path)).returncode == 0
    assert (out / "results.csv").read_bytes() == (tmp_path / "whole" / "results.csv").read_bytes()


def _private_tmpfs_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True, timeout=60)
    return probe.returncode == 0


@needs_fashion
@pytest.mark.slow
def test_a_full_disk_while_saving_a_codec_is_one_line_and_the_run_resumes(reference):
    """A real ENOSPC: the run folder on a 3 MB tmpfs (in a private mount namespace) holds the knowledge
    base but not a 4 MB codec. One line, status 2, no temporary file left; with space freed, --resume
    completes the run with the results of an uninterrupted one."""
    if not _private_tmpfs_available():
        pytest.skip("no private mount namespace (unshare -rm) for a small tmpfs here")
    root = reference["root"]
    mount = root / "small-disk"
    mount.mkdir()
    out = mount / "run"
    run = shlex.join([*SEMLINK, "run", str(reference["config"]), "--out", str(out), "--no-cache"])
    script = (f"mount -t tmpfs -o size=3000k tmpfs {mount} && {{ {run} 2> {root}/full.err; echo $? > {root}/full.rc; "
              f"find {out} -name '*.tmp' > {root}/full.tmp; mount -o remount,size=64m {mount} && "
              f"{run} --resume 2> {root}/resume.err; echo $? > {root}/resume.rc; "
              f"cp {out}/results.csv {root}/full-results.csv; }}")
    subprocess.run(["unshare", "-rm", "sh", "-c", script], env=_env(root), timeout=1200, check=True)
    line = _one_line((root / "full.err").read_text())
    assert (root / "full.rc").read_text().strip() == "2"
    assert "No space left on device" in line and "model.safetensors" in line and "--resume" in line, line
    assert (root / "full.tmp").read_text() == ""  # nothing half-written
    assert (root / "resume.rc").read_text().strip() == "0", (root / "resume.err").read_text()
    assert (root / "full-results.csv").read_bytes() == (reference["run"] / "results.csv").read_bytes()
