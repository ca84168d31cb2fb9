"""Faults a user or a machine inflicts on semlink, through the real command line, and what each gives.

Every fault runs ``python -m semlink.cli ...`` in a subprocess against the semlink sources given by
``--src`` (so the same script measures a checkout before and after a change) on a tiny experiment
(Fashion-MNIST, EfficientNet-Lite0 at 32 px, two KBSC codecs and the raw-feature system over
TDL-A/OFDM). It prints one Markdown table: the fault, the exit status, the message (the first
``error:``/``interrupted:`` line, else the last line of stderr), whether stderr held a traceback,
and what was checked afterwards (a resume, identical results, what is on disk), then the count of
tracebacks.

Faults needing a full disk or a read-only folder run in a private mount namespace (``unshare -rm``,
a small tmpfs or a read-only bind mount); permission faults run as the user ``nobody``
(``setpriv``) when this script runs as root. Both are Linux-only; the faults that need them are
reported as skipped where they are unavailable.

    python benchmarks/fault_table.py --src src --work /tmp/faults          # after
    git archive BASE src | tar -x -C /tmp/base
    python benchmarks/fault_table.py --src /tmp/base/src --work /tmp/faults-before

Takes about 10-20 minutes on 2 busy cores (most of it in ~25 small runs).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CONFIG = """
name = "faults"
seed = 3
[data]
dataset = "fashion-mnist"
train_per_class = 20
test_per_class = 60
[encoder]
spec = "efficientnet-lite0"
image_size = 32
cache_dir = "{features}"
[kb]
factory = "{factory}"
[link]
csi = "ls"
[link.ofdm]
[link.channel]
name = "tdl-a"
[[systems]]
type = "kbsc"
name = "kbsc-a"
channel_uses = 16
train = {{ epochs = 2, patience = 2, batch_size = 32 }}
[[systems]]
type = "kbsc"
name = "kbsc-b"
channel_uses = 8
train = {{ epochs = {epochs_b}, patience = 20, batch_size = 16 }}
[[systems]]
type = "raw"
[train]
snr_db = [0, 10]
[eval]
snr_db = {snrs}
noiseless = false
lpips = false
"""

SNRS = [-4, -2, 0, 2, 4, 6, 8, 10]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Bench:
    def __init__(self, src: Path, work: Path) -> None:
        self.src = src.resolve()
        self.work = work.resolve()
        self.rows: list[tuple[str, str, str, str, str]] = []
        self.tracebacks = 0
        self.env = {**os.environ, "PYTHONPATH": str(self.src), "OMP_NUM_THREADS": "1",
                    "SEMLINK_CACHE": str(self.work / "semlink-cache"), "HOME": str(self.work / "home"),
                    "MPLCONFIGDIR": str(self.work / "home" / "mpl")}
        self.env.pop("SEMLINK_DEBUG", None)

    # -- running ---------------------------------------------------------------------------------
    def cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "semlink.cli", *map(str, args)]

    def run(self, argv: list[str], timeout: float = 900, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=timeout, **kw)

    def spawn(self, argv: list[str], log: Path) -> subprocess.Popen:
        # Ctrl-C as at a terminal: a background shell starts jobs with SIGINT ignored, and a Python
        # started so never installs its KeyboardInterrupt handler; the child gets the default back.
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(log, "w"), env=self.env,
                                preexec_fn=_default_sigint)

    def config(self, name: str, *, factory: str = "Flat", epochs_b: int = 20, snrs=SNRS) -> Path:
        path = self.work / f"{name}.toml"
        path.write_text(CONFIG.format(features=self.work / "features", factory=factory, epochs_b=epochs_b,
                                      snrs=json.dumps(snrs)))
        return path

    def record(self, fault: str, status, stderr: str, check: str = "") -> None:
        lines = [line.strip(" │") for line in stderr.splitlines() if line.strip(" │")]
        said = [line for line in lines if line.startswith(("error:", "interrupted:"))]
        raised = [line for line in lines if re.match(r"^[A-Za-z_.]*(Error|Exception)\b", line)]
        message = said[0] if said else (raised[-1] if raised else (lines[-1] if lines else "(nothing)"))
        traceback = "Traceback" in stderr
        (self.work / "stderr").mkdir(exist_ok=True)
        (self.work / "stderr" / f"{len(self.rows):02d}.txt").write_text(f"{fault}\n{status}\n{stderr}")
        self.tracebacks += traceback
        message = message.replace("|", "\\|")
        if len(message) > 220:
            message = message[:217] + "..."
        self.rows.append((fault, str(status), message, "yes" if traceback else "no", check))
        print(f"{fault}: {status} {'TRACEBACK ' if traceback else ''}{message} {check}", file=sys.stderr, flush=True)

    # -- helpers ---------------------------------------------------------------------------------
    @staticmethod
    def wait_for(condition: Callable[[], bool], proc: subprocess.Popen, timeout: float = 600) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if condition():
                return True
            if proc.poll() is not None:
                return False
            time.sleep(0.02)
        return False

    @staticmethod
    def journal_lines(out: Path) -> int:
        path = out / "points.jsonl"
        return len(path.read_text().splitlines()) if path.exists() else 0

    def same_results(self, out: Path) -> str:
        a, b = out / "results.csv", self.reference / "results.csv"
        if not a.exists():
            return "no results.csv"
        return "results identical" if a.read_bytes() == b.read_bytes() else "RESULTS DIFFER"

    def in_namespace(self, script: str, timeout: float = 900) -> subprocess.CompletedProcess:
        return self.run(["unshare", "-rm", "sh", "-c", script], timeout=timeout)

    def as_nobody(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *argv]

    # -- setup -----------------------------------------------------------------------------------
    def setup(self) -> None:
        if self.work.exists():
            shutil.rmtree(self.work)
        for sub in ("home/mpl", "semlink-cache", "features"):
            (self.work / sub).mkdir(parents=True)
        self.work.chmod(0o755)
        self.tiny = self.config("tiny")
        self.reference = self.work / "reference"
        done = self.run(self.cli("run", self.tiny, "--out", self.reference, "--cache", self.work / "codecs"))
        assert done.returncode == 0, done.stderr
        self.features = self.work / "feats.safetensors"
        done = self.run(self.cli("features", "--dataset", "fashion-mnist", "--per-class", "3", "--image-size", "32",
                                 "--out", self.features))
        assert done.returncode == 0, done.stderr
        self.kb = self.work / "kb"
        assert self.run(self.cli("kb", "build", "--features", self.features, "--out", self.kb)).returncode == 0
        self.checkpoint = self.reference / "checkpoints" / "kbsc-a__16cu__tdl-a"
        for path in [self.work, *self.work.rglob("*")]:  # readable by nobody, for the permission faults
            path.chmod(0o777 if path.is_dir() else 0o666)

    def commands(self, folder: Path, file: Path) -> dict[str, tuple[list[str], bool]]:
        """Every command that writes: ``name -> (argv, whether its --out is a file)``; ``folder`` is the
        --out of those that write a folder, ``file`` of those that write a file."""
        return {
            "run": (self.cli("run", self.tiny, "--out", folder, "--no-cache"), False),
            "phy ber": (self.cli("phy", "ber", "--snr-db", "0", "--uncoded", "--flat", "--batch-size", "100",
                                 "--max-iter", "1", "--out", folder), False),
            "features": (self.cli("features", "--dataset", "fashion-mnist", "--per-class", "2", "--image-size",
                                  "32", "--out", file), True),
            "kb build": (self.cli("kb", "build", "--features", self.features, "--out", folder), False),
            "kb query": (self.cli("kb", "query", "--kb", self.kb, "--features", self.features, "--out", file), True),
            "export-onnx": (self.cli("export-onnx", self.checkpoint, "--out", folder), False),
            "report": (self.cli("report", self.reference, "--out", file), True),
        }

    # -- faults ----------------------------------------------------------------------------------
    def interrupt(self, fault: str, when: str, sig: int = signal.SIGINT) -> None:
        out = self.work / fault.replace(" ", "-")
        log = self.work / f"{out.name}.log"
        proc = self.spawn(self.cli("run", self.tiny, "--out", out, "--no-cache"), log)
        if when == "training":
            ready = self.wait_for(lambda: "kbsc-b @ 8 [tdl-a]: training" in log.read_text(), proc)
        else:
            ready = self.wait_for(lambda: self.journal_lines(out) >= 2, proc)
        if sig == signal.SIGKILL:
            proc.kill()
        else:
            proc.send_signal(sig)
        proc.wait(600)
        lines_then = self.journal_lines(out)
        stderr = log.read_text()
        resumed = self.run(self.cli("run", self.tiny, "--out", out, "--no-cache", "--resume"))
        reused = "loaded checkpoint" in resumed.stderr
        check = (f"{'' if ready else 'signal came late; '}{lines_then}/{3 * len(SNRS)} points then; "
                 f"--resume: status {resumed.returncode}, {self.same_results(out)}"
                 + (", kbsc-a reused" if when == "training" and reused else "")
                 + (", TRACEBACK on resume" if "Traceback" in resumed.stderr else ""))
        self.record(fault, proc.returncode, stderr, check)

    def interrupt_pool(self) -> None:
        """Ctrl-C as a terminal sends it (to the whole process group) into a run on a process pool."""
        out = self.work / "sigint-pool"
        log = self.work / "sigint-pool.log"
        argv = self.cli("run", self.tiny, "--out", out, "--no-cache", "--executor", "process", "--workers", "2")
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(log, "w"), env=self.env,
                                start_new_session=True, preexec_fn=_default_sigint)
        ready = self.wait_for(lambda: self.journal_lines(out) >= 2, proc)
        tic = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(300)
            status = str(proc.returncode)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            status = "hung (killed after 300 s)"
        self.record("Ctrl-C (process group) during evaluation on `--executor process`", status, log.read_text(),
                    f"{'' if ready else 'signal came late; '}exited {time.monotonic() - tic:.0f} s after the signal; "
                    f"{self.journal_lines(out)}/{3 * len(SNRS)} points then")

    def interrupt_ber(self) -> None:
        out = self.work / "sigint-ber"
        log = self.work / "sigint-ber.log"
        argv = self.cli("phy", "ber", "--snr-db", "0:8:0.5", "--code", "1024,2048", "--channel", "tdl-a", "--ofdm",
                        "--csi", "ls", "--batch-size", "20", "--max-iter", "3", "--out", out)
        proc = self.spawn(argv, log)
        ready = self.wait_for(lambda: self.journal_lines(out) >= 1, proc)
        proc.send_signal(signal.SIGINT)
        proc.wait(600)
        resumed = self.run([*argv, "--resume"])
        self.record("Ctrl-C during `phy ber`", proc.returncode, log.read_text(),
                    f"{'' if ready else 'signal came late; '}--resume: status {resumed.returncode}")

    def corrupt(self, fault: str, damage: Callable[[Path], None], *, cached: bool = False) -> None:
        out = self.work / fault.split(":")[0]
        if cached:
            cache = self.work / f"{out.name}-cache"
            shutil.copytree(self.work / "codecs", cache)
            entry = next(p for p in cache.iterdir() if json.loads((p / "config.json").read_text())["system"] == "kbsc-a")
            damage(entry)
            done = self.run(self.cli("run", self.tiny, "--out", out, "--cache", cache))
        else:
            shutil.copytree(self.reference, out)
            journal = out / "points.jsonl"
            keep = [line for line in journal.read_text().splitlines() if "system=kbsc-a" not in line]
            journal.write_text("\n".join(keep) + "\n")
            damage(out / "checkpoints" / "kbsc-a__16cu__tdl-a")
            done = self.run(self.cli("run", self.tiny, "--out", out, "--no-cache", "--resume"))
        check = "loaded it: " + self.same_results(out) if done.returncode == 0 else ""
        self.record(fault, done.returncode, done.stderr, check)

    def disk_full(self, fault: str, size_kib: int) -> None:
        mount = self.work / f"tmpfs-{size_kib}"
        mount.mkdir()
        out = mount / "run"
        run = shlex.join(self.cli("run", self.tiny, "--out", out, "--no-cache"))
        script = (f"mount -t tmpfs -o size={size_kib}k tmpfs {mount} && "
                  f"{run} 2> {self.work}/full.err; echo $? > {self.work}/full.rc; "
                  f"ls -a {out} {out}/checkpoints/* > {self.work}/full.ls 2>&1; "
                  f"mount -o remount,size=64m {mount} && {run} --resume 2> {self.work}/resume.err; "
                  f"echo $? > {self.work}/resume.rc; cp {out}/results.csv {self.work}/full-results.csv")
        done = self.in_namespace(script)
        if done.returncode != 0 and not (self.work / "full.rc").exists():
            self.rows.append((fault, "skipped", f"no private tmpfs here: {done.stderr.strip()[:100]}", "", ""))
            return
        listing = (self.work / "full.ls").read_text()
        half = [name for name in listing.split() if name.endswith(".tmp")]
        resumed = (self.work / "resume.rc").read_text().strip()
        same = ((self.work / "full-results.csv").read_bytes() == (self.reference / "results.csv").read_bytes()
                if (self.work / "full-results.csv").exists() else False)
        tb = "Traceback" in (self.work / "resume.err").read_text()
        self.record(fault, (self.work / "full.rc").read_text().strip(), (self.work / "full.err").read_text(),
                    f"{'temporary files left: ' + ', '.join(half) if half else 'no temporary file left'}; after "
                    f"freeing space --resume: status {resumed}, {'results identical' if same else 'RESULTS DIFFER'}"
                    + (", TRACEBACK on resume" if tb else ""))
        for name in ("full.rc", "full.err", "full.ls", "resume.rc", "resume.err", "full-results.csv"):
            (self.work / name).unlink(missing_ok=True)

    def paths(self) -> None:
        base = self.work / "paths"
        base.mkdir()
        base.chmod(0o777)
        # An existing folder on a read-only file system (a read-only bind mount in a private namespace).
        ro = base / "readonly"
        ro.mkdir()
        for name, (argv, is_file) in self.commands(ro, ro / "x.dat").items():
            script = f"mount --bind {ro} {ro} && mount -o remount,bind,ro {ro} {ro} && exec {shlex.join(argv)}"
            done = self.in_namespace(script)
            self.record(f"`{name}`: --out {'in' if is_file else 'is'} a read-only folder", done.returncode,
                        done.stderr)
        # No permission on the parent folder (as the user nobody when run as root).
        locked = base / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        for name, (argv, _) in self.commands(locked / "out", locked / "out.dat").items():
            done = self.run(self.as_nobody(argv))
            self.record(f"`{name}`: --out in a folder without write permission", done.returncode, done.stderr)
        # A file where a folder is expected, and the reverse.
        a_file = base / "a-file"
        a_file.write_text("x")
        a_folder = base / "a-folder"
        a_folder.mkdir()
        for name, (argv, is_file) in self.commands(a_file, a_folder).items():
            done = self.run(argv)
            self.record(f"`{name}`: --out names an existing {'folder' if is_file else 'file'}", done.returncode,
                        done.stderr)
        # A file on the way (its parent is a file), and missing parents (created: status 0 expected).
        for name, (argv, _) in self.commands(a_file / "sub", a_file / "sub.dat").items():
            done = self.run(argv)
            self.record(f"`{name}`: --out under a file", done.returncode, done.stderr)
        for name in self.commands(base, base):
            slug = base / "new" / name.replace(" ", "-")
            argv, _ = self.commands(slug / "deeper", slug / "deeper.dat")[name]
            done = self.run(argv)
            self.record(f"`{name}`: --out with missing parents", done.returncode, done.stderr,
                        "created" if done.returncode == 0 else "")

    def concurrent(self) -> None:
        out = self.work / "shared"
        log = self.work / "first.log"
        first = self.spawn(self.cli("run", self.tiny, "--out", out, "--no-cache"), log)
        self.wait_for(lambda: "knowledge base" in log.read_text(), first)
        other = self.config("hnsw", factory="HNSW32")
        tic = time.monotonic()
        second = self.run(self.cli("run", other, "--out", out, "--no-cache"))
        seconds = time.monotonic() - tic
        first.wait(900)
        manifest = json.loads((out / "manifest.json").read_text())["config"]["kb"]["factory"]
        kb = json.loads((out / "kb" / "kb.json").read_text())["factory"]
        self.record("a second `run` on the same --out", second.returncode, second.stderr,
                    f"returned after {seconds:.0f} s; first run: status {first.returncode}; manifest says {manifest}, "
                    f"kb/kb.json {kb}" + (" (CONSISTENT)" if manifest == kb else " (INCONSISTENT)"))

    def ber_on_a_busy_folder(self) -> None:
        out = self.work / "busy"
        log = self.work / "busy.log"
        first = self.spawn(self.cli("run", self.tiny, "--out", out, "--no-cache"), log)
        self.wait_for(lambda: "knowledge base" in log.read_text(), first)
        second = self.run(self.commands(out, out)["phy ber"][0])
        first.wait(900)
        self.record("`phy ber` into a folder a `run` is writing", second.returncode, second.stderr,
                    f"first run: status {first.returncode}")

    def stale_lock(self) -> None:
        out = self.work / "stale"
        out.mkdir()
        dead = subprocess.Popen(["true"])
        dead.wait()
        (out / ".semlink.lock").write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename,
                                                        "started_utc": "2020-01-01T00:00:00+00:00"}))
        done = self.run(self.cli("run", self.tiny, "--out", out, "--no-cache"))
        took = [line for line in done.stderr.splitlines() if "lock" in line]
        self.record("a stale lock left by a killed run", done.returncode, done.stderr, took[0] if took else "")

    def resume_changes(self) -> None:
        out = self.work / "fewer"
        shutil.copytree(self.reference, out)
        done = self.run(self.cli("run", self.config("fewer", snrs=[0, 10]), "--out", out, "--no-cache", "--resume"))
        rows = len((out / "results.csv").read_text().splitlines()) - 1
        self.record("--resume with fewer SNRs", done.returncode, done.stderr, f"results.csv has {rows} rows (24 before)")
        out = self.work / "epochs"
        shutil.copytree(self.reference, out)
        done = self.run(self.cli("run", self.config("epochs", epochs_b=10), "--out", out, "--no-cache", "--resume"))
        self.record("--resume with another `train.epochs`", done.returncode, done.stderr)
        done = self.run(self.cli("run", self.tiny, "--out", self.work / "empty", "--no-cache", "--resume"))
        self.record("--resume on a folder without a run", done.returncode, done.stderr)
        out = self.work / "manifest"
        shutil.copytree(self.reference, out)
        text = (out / "manifest.json").read_text()
        (out / "manifest.json").write_text(text[: len(text) // 2])
        done = self.run(self.cli("run", self.tiny, "--out", out, "--no-cache", "--resume"))
        self.record("--resume with a truncated manifest.json", done.returncode, done.stderr)
        out = self.work / "journal"
        shutil.copytree(self.reference, out)
        lines = (out / "points.jsonl").read_text().splitlines()
        lines[3] = json.dumps({"not": "a journal entry"})
        (out / "points.jsonl").write_text("\n".join(lines) + "\n")
        done = self.run(self.cli("run", self.tiny, "--out", out, "--no-cache", "--resume"))
        self.record("--resume with a damaged journal line", done.returncode, done.stderr, self.same_results(out))

    def all(self) -> None:
        self.setup()
        self.interrupt("Ctrl-C during training", "training")
        self.interrupt("Ctrl-C during evaluation", "evaluation")
        self.interrupt("SIGTERM during evaluation", "evaluation", signal.SIGTERM)
        self.interrupt("SIGKILL during training", "training", signal.SIGKILL)
        self.interrupt_ber()
        self.interrupt_pool()

        def zero(directory: Path) -> None:
            with open(directory / "model.safetensors", "r+b") as fh:
                fh.seek(100_000)
                fh.write(bytes(400_000))

        def fill(directory: Path) -> None:
            with open(directory / "model.safetensors", "r+b") as fh:
                fh.seek(100_000)
                fh.write(b"\xff" * 400_000)

        def truncate(directory: Path) -> None:
            text = (directory / "config.json").read_text()
            (directory / "config.json").write_text(text[: len(text) // 2])

        def as_list(directory: Path) -> None:
            (directory / "config.json").write_text("[1, 2, 3]\n")

        def unhashed(directory: Path) -> None:
            meta = json.loads((directory / "config.json").read_text())
            meta.pop("sha256", None)
            (directory / "config.json").write_text(json.dumps(meta))

        self.corrupt("zeroed: 400 KB zeroed in model.safetensors, then --resume", zero)
        self.corrupt("ffed: 400 KB of 0xFF in model.safetensors, then --resume", fill)
        self.corrupt("cachezero: 400 KB zeroed in the shared cache's copy, then a new run", zero, cached=True)
        self.corrupt("truncated: checkpoint config.json cut in half, then --resume", truncate)
        self.corrupt("list: checkpoint config.json holds a JSON list, then --resume", as_list)
        self.corrupt("unhashed: checkpoint without checksums (older semlink), then --resume", unhashed)
        self.corrupt("cacheold: shared-cache entry without checksums, then a new run", unhashed, cached=True)
        self.disk_full("full disk while saving a checkpoint (3 MB tmpfs)", 3000)
        self.disk_full("full disk while writing plots and tables (9.5 MB tmpfs)", 9500)
        self.paths()
        self.concurrent()
        self.ber_on_a_busy_folder()
        self.stale_lock()
        self.resume_changes()

    def table(self) -> str:
        lines = ["| fault | status | message | traceback | checked |", "|---|---|---|---|---|"]
        lines += [f"| {' | '.join(row)} |" for row in self.rows]
        lines.append(f"\ntracebacks: {self.tracebacks} of {len(self.rows)} faults")
        return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the semlink sources to test")
    parser.add_argument("--work", type=Path, required=True, help="a scratch folder (emptied first)")
    parser.add_argument("--only", help="run only this method of Bench after setup (e.g. paths)")
    args = parser.parse_args()
    bench = Bench(args.src, args.work)
    if args.only:
        bench.setup()
        getattr(bench, args.only)()
    else:
        bench.all()
    print(bench.table())


if __name__ == "__main__":
    main()
