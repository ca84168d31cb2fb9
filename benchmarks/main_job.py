"""Issue 17's speed targets in one run: the main job on a free machine and with one core busy, side by side.

Runs ``benchmarks/profile_main_job.py`` (the README's main job, ``configs/kbsc_offline.toml``, cold
caches: features, ONNX export and trained codecs from scratch; set-up excluded) twice in fresh
processes: on the machine as it is, then with a CPU-bound process pinned to one core (``--busy``).
Times ``semlink --help`` (median of 5 cold processes). With ``--compare`` it also runs
``benchmarks/compare_offline.py`` (the whole comparison, training included).

    python benchmarks/main_job.py [--compare] [--keep runs/main_job] [--config configs/kbsc_offline.toml]

Targets: main job <= 120 s on 2 free cores; with one core busy <= 2x the free time; compare_offline
<= 20 min on 2 free cores; ``semlink --help`` < 0.5 s. "Free" means nothing else runs: the script
samples the machine's load first and says so when it is not free (figures then read high). The last
line is one JSON object with the figures, their targets and ``"targets_met"``.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"main_job_free_s": 120.0, "busy_over_free": 2.0, "compare_offline_s": 20 * 60.0, "help_s": 0.5}


def _last_json(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise SystemExit(f"no JSON line in the output:\n{text[-2000:]}")


def _profile(config: str, busy: bool, out: str | None = None) -> dict:
    command = [sys.executable, str(ROOT / "benchmarks" / "profile_main_job.py"), "--config", config]
    if busy:
        command.append("--busy")
    if out:
        command += ["--out", out]
    print(f"$ {' '.join(command[1:])}", flush=True)
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"profile_main_job failed (status {done.returncode}):\n{done.stderr[-3000:]}")
    return _last_json(done.stdout)


def _help_seconds() -> float:
    times = []
    for _ in range(5):
        tic = time.perf_counter()
        subprocess.run([sys.executable, "-m", "semlink.cli", "--help"], capture_output=True, check=True, cwd=ROOT)
        times.append(time.perf_counter() - tic)
    return statistics.median(times)


def _compare_seconds() -> float:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "compare_offline.py")], capture_output=True,
                          text=True, cwd=ROOT)
    print(done.stdout, flush=True)
    match = re.search(r"wall time ([\d.]+) min", done.stdout)
    if done.returncode != 0 or match is None:
        raise SystemExit(f"compare_offline failed (status {done.returncode}):\n{done.stderr[-3000:]}")
    return float(match.group(1)) * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "kbsc_offline.toml"))
    parser.add_argument("--compare", action="store_true", help="also time compare_offline (about 20 min or more)")
    parser.add_argument("--keep", default=None, help="keep the free run's folder here (its results are the README's)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from semlink.threads import sample_busy_cores, usable_cpus

    cpus, _ = usable_cpus()
    busy_before = sample_busy_cores(1.0)
    print(f"machine: {cpus} usable CPUs, {busy_before:.2f} cores busy elsewhere before the run"
          + ("" if busy_before < 0.3 else " - NOT free: the 'free' figures below read high"), flush=True)

    free = _profile(args.config, busy=False, out=args.keep)
    busy = _profile(args.config, busy=True)
    help_s = _help_seconds()
    figures = {"main_job_free_s": free["total_s"], "main_job_busy_s": busy["total_s"],
               "busy_over_free": round(busy["total_s"] / free["total_s"], 3), "help_s": round(help_s, 3),
               "threads_free": free["threads"], "threads_busy": busy["threads"],
               "busy_cores_elsewhere_before": round(busy_before, 2)}
    met = {"main_job_free_s": figures["main_job_free_s"] <= TARGETS["main_job_free_s"],
           "busy_over_free": figures["busy_over_free"] <= TARGETS["busy_over_free"],
           "help_s": figures["help_s"] < TARGETS["help_s"]}
    if args.compare:
        figures["compare_offline_s"] = round(_compare_seconds(), 1)
        met["compare_offline_s"] = figures["compare_offline_s"] <= TARGETS["compare_offline_s"]

    print(f"\n{'figure':34s} {'measured':>10s} {'target':>10s}  met")
    rows = [("main job, free machine [s]", "main_job_free_s", "<= 120"),
            ("main job, one core busy [s]", "main_job_busy_s", ""),
            ("busy / free", "busy_over_free", "<= 2"),
            ("semlink --help [s]", "help_s", "< 0.5")]
    if args.compare:
        rows.append(("compare_offline, free machine [s]", "compare_offline_s", "<= 1200"))
    for label, key, target in rows:
        print(f"{label:34s} {figures[key]:>10} {target:>10s}  {'' if key not in met else ('yes' if met[key] else 'NO')}")
    for name, run in (("free", free), ("busy", busy)):
        split = ", ".join(f"{head} {part['seconds']:.0f} s" for head, part in run["split"].items())
        print(f"split ({name}, {run['threads']} threads): {split}")
    print(json.dumps({"benchmark": "main_job", "figures": figures, "targets": TARGETS, "met": met,
                      "targets_met": all(met.values())}))


if __name__ == "__main__":
    main()
