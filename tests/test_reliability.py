"""Nothing lost, nothing silent (library level): the run folder's lock, its manifest and journal, what a
resume may change, and checkpoints verified by checksum, also when the disk fills while writing them."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError
from semlink.sim.experiment import extension_problems
from semlink.sim.run_lock import LOCK_FILE, RunLock
from semlink.sim.runner import MANIFEST, RunDirectory, describe_changes, make_points, run_points
from semlink.systems.checkpoints import CheckpointStore, training_key, verify_checkpoint
from semlink.systems.kbsc_model import KbscCodec, load_codec, save_codec

# -- the lock ------------------------------------------------------------------------------------------


def _holder(folder: Path, *, lock: bool = True) -> subprocess.Popen:
    """A process that takes ``folder``'s lock (or only sleeps) and waits to be killed."""
    code = textwrap.dedent(f"""
        import sys, time
        from semlink.sim.run_lock import RunLock
        if {lock}:
            RunLock({str(folder)!r}).acquire()
        print("ready", flush=True)
        time.sleep(600)
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_a_held_lock_refuses_others_at_once_and_a_killed_holders_lock_is_taken_over(tmp_path):
    holder = _holder(tmp_path)
    try:
        with pytest.raises(SemlinkError, match=rf"in use by another semlink run \(pid {holder.pid} on host "):
            RunLock(tmp_path).acquire()
    finally:
        holder.kill()  # SIGKILL: the lock file stays behind, the kernel drops its flock
        holder.wait()
    assert (tmp_path / LOCK_FILE).exists()
    lock = RunLock(tmp_path)
    previous = lock.acquire()
    assert previous is not None and previous.pid == holder.pid  # stale: taken over, and said whose it was
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert lock.acquire() is None and lock.held  # re-entrant within a process
    lock.release()
    assert not lock.held and not (tmp_path / LOCK_FILE).exists()


def test_without_flock_the_recorded_pid_decides(tmp_path, monkeypatch):
    """File systems that cannot flock: a live pid on this host holds the folder, a dead one does not, and
    a lock from another host is never presumed stale."""
    import fcntl
    import socket

    def no_flock(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    sleeper = _holder(tmp_path, lock=False)
    lock_file = tmp_path / LOCK_FILE
    lock_file.write_text(json.dumps({"pid": sleeper.pid, "host": socket.gethostname(), "started_utc": "x"}))
    try:
        with pytest.raises(SemlinkError, match=f"pid {sleeper.pid}"):
            RunLock(tmp_path).acquire()
    finally:
        sleeper.kill()
        sleeper.wait()
    lock = RunLock(tmp_path)
    assert lock.acquire().pid == sleeper.pid
    lock.release()
    lock_file.write_text(json.dumps({"pid": sleeper.pid, "host": "elsewhere", "started_utc": "x"}))
    with pytest.raises(SemlinkError, match=f"another host.*delete {lock_file}"):
        RunLock(tmp_path).acquire()


# -- the run folder ------------------------------------------------------------------------------------


def test_prepare_writes_the_manifest_first_and_a_stopped_run_says_why(tmp_path):
    out = tmp_path / "run"
    run_dir = RunDirectory(out)
    assert run_dir.prepare({"x": 1}, seed=3, resume=False) == {}
    assert run_dir.lock.held
    assert json.loads((out / MANIFEST).read_text())["status"] == "running"  # before any work
    with pytest.raises(KeyboardInterrupt), run_dir.writing():
        raise KeyboardInterrupt
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["status"] == "interrupted" and not run_dir.lock.held
    assert not (out / LOCK_FILE).exists()

    run_dir.prepare({"x": 1}, seed=3, resume=True)  # a folder with a manifest and no journal resumes
    with pytest.raises(SemlinkError), run_dir.writing():
        raise SemlinkError("no data")
    manifest = json.loads((out / MANIFEST).read_text())
    assert (manifest["status"], manifest["error"]) == ("failed", "no data")


def test_prepare_refuses_an_unusable_folder_before_writing(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    for out, message in ((a_file, "is a file, not a folder"), (a_file / "run", "is a file, not a folder")):
        with pytest.raises(SemlinkError, match=message):
            RunDirectory(out).prepare({}, seed=1, resume=False)
    assert a_file.read_text() == "x"


def test_a_damaged_manifest_or_journal_is_reported_or_redone_not_a_traceback(tmp_path):
    points = make_points(3, [{"snr_db": float(s)} for s in range(4)])

    def evaluate(point):
        return {"value": point.params["snr_db"] * 2}

    full = run_points(points, evaluate, tmp_path / "a", config={}, seed=3)
    # A journal line that is JSON but no entry (and one cut short): skipped, its point redone.
    journal = (tmp_path / "a" / "points.jsonl").read_text().splitlines()
    journal[1] = json.dumps(["not", "an", "entry"])
    (tmp_path / "a" / "points.jsonl").write_text("\n".join(journal) + "\n" + '{"key": "snr_db=9')
    redone = []
    again = run_points(points, lambda p: redone.append(p.index) or evaluate(p), tmp_path / "a", config={}, seed=3,
                       resume=True)
    assert redone == [1] and again.equals(full)
    # A damaged manifest: one line saying what it means.
    manifest = tmp_path / "a" / MANIFEST
    manifest.write_text(manifest.read_text()[:50])
    with pytest.raises(CorruptFileError, match=r"manifest.json is damaged .* new --out folder"):
        run_points(points, evaluate, tmp_path / "a", config={}, seed=3, resume=True)
    manifest.write_text("[1, 2]")
    with pytest.raises(CorruptFileError, match="manifest.json is damaged"):
        run_points(points, evaluate, tmp_path / "a", config={}, seed=3, resume=True)


# -- what a resume may change ----------------------------------------------------------------------------

BASE = {
    "name": "a", "seed": 1, "device": "cpu", "train": {"snr_db": [0.0, 10.0], "seeds": 1},
    "eval": {"snr_db": [0.0, 5.0], "noiseless": True, "batch_size": 100},
    "link": {"channel": {"name": "awgn"}}, "channels": None, "budgets": None,
    "systems": [{"type": "kbsc", "name": "kbsc", "train": {"epochs": 30, "lr": 0.001}}, {"type": "raw", "name": None}],
}


def _changed(**changes):
    tree = json.loads(json.dumps(BASE))
    for path, value in changes.items():
        node = tree
        *parents, last = path.split("__")
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[last] = value
    return tree


def test_a_refused_resume_names_each_changed_key_with_both_values():
    assert extension_problems(BASE, BASE) == []
    grown = _changed(eval__snr_db=[0.0, 5.0, 10.0], name="b")
    grown["systems"].append({"type": "noiseless"})
    assert extension_problems(BASE, grown) == []  # additions only
    assert extension_problems(BASE, _changed(systems__0__train__epochs=20)) == [
        "system 'kbsc' changed (train.epochs: 30 -> 20)"]
    assert extension_problems(BASE, _changed(train__snr_db=[0.0, 5.0], eval__batch_size=50)) == [
        "[eval] changed (batch_size: 100 -> 50)", "[train] changed (snr_db: [0.0, 10.0] -> [0.0, 5.0])"]
    assert extension_problems(BASE, _changed(link__channel__name="rayleigh")) == [
        '[link] changed (channel.name: "awgn" -> "rayleigh")']
    assert extension_problems(BASE, _changed(device="cuda")) == ['[device] changed ("cpu" -> "cuda")']
    assert describe_changes({"a": 1}, {"b": 1}) == "a: 1 -> (absent), b: (absent) -> 1"


# -- checkpoints ---------------------------------------------------------------------------------------


def _codec() -> KbscCodec:
    torch.manual_seed(0)
    codec = KbscCodec(32, 8, hidden_dim=64).eval()
    codec.fit_target_statistics(torch.randn(50, 32))
    return codec


def test_checkpoints_record_and_check_the_sha256_of_their_weights(tmp_path):
    save_codec(_codec(), tmp_path / "ckpt", seed=1)
    weights = tmp_path / "ckpt" / "model.safetensors"
    meta = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert meta["sha256"] == {"model.safetensors": hashlib.sha256(weights.read_bytes()).hexdigest()}
    assert verify_checkpoint(tmp_path / "ckpt")["seed"] == 1
    good = weights.read_bytes()
    for fill in (b"\x00", b"\xff"):  # zeroed weights loaded silently; 0xFF ones blamed the queries' NaN
        weights.write_bytes(good[:1000] + fill * 2000 + good[3000:])
        with pytest.raises(CorruptFileError, match=f"{weights} is damaged: its sha256 .* delete the folder"):
            load_codec(tmp_path / "ckpt")
    weights.write_bytes(good)
    assert load_codec(tmp_path / "ckpt")[1]["seed"] == 1


@pytest.mark.parametrize("text", ['{"kind": "kbsc-co', "[1, 2, 3]", "\udcff"], ids=["truncated", "list", "binary"])
def test_a_damaged_checkpoint_config_is_one_error(tmp_path, text):
    save_codec(_codec(), tmp_path / "ckpt")
    config = tmp_path / "ckpt" / "config.json"
    config.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(CorruptFileError, match=f"{config} is damaged"):
        load_codec(tmp_path / "ckpt")
    store = CheckpointStore(tmp_path)
    with pytest.raises(CorruptFileError, match="is damaged.*--resume"):
        store.locate("ckpt", {"seed": 1})


def test_checkpoints_without_checksums_are_refused_in_a_run_and_retrained_in_the_cache(tmp_path):
    provenance = {"system": "kbsc", "seed": 1}
    cache = tmp_path / "cache"
    run = CheckpointStore(tmp_path / "run" / "checkpoints", cache)
    save_codec(_codec(), run.run_dir / "kbsc", **provenance)
    entry = cache / training_key(provenance)
    shutil.copytree(run.run_dir / "kbsc", entry)
    for folder in (run.run_dir / "kbsc", entry):  # as an older semlink wrote them
        meta = json.loads((folder / "config.json").read_text())
        del meta["sha256"]
        (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CorruptFileError, match="records no sha256.*delete the folder"):
        run.locate("kbsc", provenance)
    fresh = CheckpointStore(tmp_path / "fresh" / "checkpoints", cache)
    logs: list[str] = []
    assert fresh.locate("kbsc", provenance, log=logs.append) is None  # retrain it...
    assert "records no checksums" in logs[0]
    save_codec(_codec(), fresh.run_dir / "kbsc", **provenance)
    fresh.publish("kbsc", provenance)  # ...and the cache entry is replaced by a verifiable one
    assert "sha256" in verify_checkpoint(entry)
    assert [p.name for p in cache.iterdir()] == [entry.name]


def test_a_damaged_cache_entry_is_refused_naming_it_and_no_cache(tmp_path):
    provenance = {"system": "kbsc", "seed": 1}
    cache = tmp_path / "cache"
    entry = cache / training_key(provenance)
    save_codec(_codec(), entry, **provenance)
    weights = entry / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\x00\x00\x00\x01")
    store = CheckpointStore(tmp_path / "run", cache)
    with pytest.raises(CorruptFileError, match=f"{weights} is damaged.*or run with --no-cache"):
        store.locate("kbsc", provenance)
    assert not (tmp_path / "run" / "kbsc").exists()  # nothing copied


@pytest.mark.parametrize("failing", ["model.safetensors", "config.json"])
def test_a_full_disk_while_saving_a_checkpoint_leaves_nothing_half_written(tmp_path, monkeypatch, failing):
    """ENOSPC after half of a file is written: the error names the file; no temporary file is left; the
    folder holds no checkpoint (weights without a config.json count as none: the codec is trained again)."""
    real = Path.write_bytes

    def fill_the_disk(self, data):
        if self.name.startswith(f".{failing}."):
            real(self, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", fill_the_disk)
    with pytest.raises(OSError) as caught:
        save_codec(_codec(), tmp_path / "ckpt" / "kbsc")
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(tmp_path / "ckpt" / "kbsc" / failing)
    left = sorted(p.name for p in (tmp_path / "ckpt" / "kbsc").iterdir())
    assert left == ([] if failing == "model.safetensors" else ["model.safetensors"])
    assert CheckpointStore(tmp_path / "ckpt").locate("kbsc", {}) is None


@pytest.mark.parametrize("raised", [
    RuntimeError("write error in x.faiss: 102355 != 512000 (No space left on device)"),  # FAISS
    ValueError("Error while serializing: I/O error: No space left on device (os error 28)"),  # safetensors-like
])
def test_a_library_failing_on_a_full_disk_is_an_os_error_naming_the_target(tmp_path, raised):
    from semlink.io import atomic_path

    target = tmp_path / "index.faiss"
    with pytest.raises(OSError) as caught, atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise raised
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert caught.value.__cause__ is raised and not list(tmp_path.iterdir())
    with pytest.raises(KeyError), atomic_path(target):  # anything else passes unchanged
        raise KeyError("x")


def test_a_missing_weight_file_is_named(tmp_path):
    save_codec(_codec(), tmp_path / "ckpt")
    (tmp_path / "ckpt" / "model.safetensors").unlink()
    with pytest.raises(MissingResourceError, match="model.safetensors"):
        verify_checkpoint(tmp_path / "ckpt")


# -- resuming a real experiment with fewer points --------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/usr/share/datasets/fashion-mnist"), reason="no Debian Fashion-MNIST")
def test_a_resume_that_drops_finished_points_is_refused_naming_them(tmp_path):
    from semlink.config import validate
    from semlink.sim.experiment import ExperimentConfig, run_experiment

    tree = {
        "name": "raw", "seed": 2,
        "data": {"dataset": "fashion-mnist", "train_per_class": 10, "test_per_class": 10},
        "encoder": {"spec": "efficientnet-lite0", "image_size": 32, "cache_dir": str(tmp_path / "features")},
        "systems": [{"type": "raw"}], "eval": {"snr_db": [0.0, 5.0, 10.0], "noiseless": False, "lpips": False},
    }
    out = tmp_path / "run"
    frame = run_experiment(validate(ExperimentConfig, tree), out, log=lambda m: None)
    assert len(frame) == 3
    results = (out / "results.csv").read_bytes()
    fewer = validate(ExperimentConfig, {**tree, "eval": {**tree["eval"], "snr_db": [0.0]}})
    with pytest.raises(SemlinkError, match=r"drops 2 finished point\(s\) of .* \(raw, awgn, 5 dB; raw, awgn, 10 dB\); put them back"):
        run_experiment(fewer, out, resume=True, log=lambda m: None)
    assert (out / "results.csv").read_bytes() == results  # nothing lost
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["config"]["eval"]["snr_db"] == [0.0, 5.0, 10.0] and manifest["status"] == "complete"
    assert not (out / LOCK_FILE).exists()
