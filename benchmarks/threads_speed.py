"""KBSC training with 1 thread, 2 threads and the automatic choice, on a free machine and with one core busy.

Each measurement is a fresh process (OpenMP reads its wait policy when torch loads) that trains a
KBSC codec (:func:`semlink.systems.kbsc_training.train_codec`, the robust recipe, k = 256) on random
unit features for a few epochs through the offline default's link (OFDM, TDL-A at 3 m/s, LS with
linear interpolation). The "busy" rows run while a CPU-bound process that this script starts spins
on the last usable CPU, the same conditions side by side in one run. Every process prints its wall
time and its CPU time; ``auto`` is :func:`semlink.threads.apply_threads` with no override.

Target: with the automatic choice, one busy core costs at most 2x the free machine's time (the
5x collapse of two threads on a shared core is avoided).

    python benchmarks/threads_speed.py [--epochs 2] [--train 2048] [--policies passive,default]

Timings on a machine shared with other work are noisy: the script samples the load other
processes put on the CPUs before every measurement and prints it beside the figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _child(threads: str, epochs: int, train: int) -> None:
    import semlink.threads as semlink_threads  # before torch: the wait policy must be in place first

    t_start = time.perf_counter()
    import torch

    from semlink.phy import AnalogLink, AnalogLinkConfig, ChannelConfig, OfdmConfig
    from semlink.systems.kbsc_model import analog_channel
    from semlink.systems.kbsc_recipes import TrainSettings
    from semlink.systems.kbsc_training import train_codec

    choice = semlink_threads.apply_threads(None if threads == "auto" else int(threads))
    cfg = AnalogLinkConfig(channel=ChannelConfig(name="tdl-a", delay_spread_ns=100.0, speed_mps=3.0),
                           ofdm=OfdmConfig(), csi="ls", interpolation="lin")
    channel = analog_channel(AnalogLink(cfg, pack_examples=True))
    g = torch.Generator().manual_seed(0)
    feats = torch.nn.functional.normalize(torch.randn(train + 1000, 1280, generator=g), dim=-1)
    labels = torch.randint(10, (train + 1000,), generator=g)
    settings = TrainSettings(epochs=epochs, patience=epochs, val_size=500)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    train_codec(feats[:train], (feats[train:train + 500], labels[train:train + 500]),
                (feats[train + 500:], labels[train + 500:]), channel, 128, settings, seed=0,
                progress=False, train_labels=labels[:train])
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "threads": choice.threads, "reason": choice.reason,
                      "busy_cores_seen": choice.sources.get("busy_cores"), "setup_s": wall0 - t_start,
                      "wait_policy": choice.applied["omp_wait_policy"]}))


def _measure(threads: str, policy: str, epochs: int, train: int) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "SEMLINK_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS")}
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    if policy != "passive":  # semlink.threads sets PASSIVE unless the user names a policy; name libgomp's default
        env["OMP_WAIT_POLICY"] = "default"  # not a valid value: libgomp keeps its built-in spin-then-sleep
    out = subprocess.run([sys.executable, __file__, "--child", threads, "--epochs", str(epochs),
                          "--train", str(train)], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train", type=int, default=2048, help="random training features (16 batches of 128)")
    parser.add_argument("--threads", default="1,2,auto", help="comma-separated: counts and/or auto")
    parser.add_argument("--policies", default="passive,default",
                        help="OpenMP wait policies: passive (semlink's) and/or default (libgomp's spin-then-sleep)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        _child(args.child, args.epochs, args.train)
        return

    from semlink.threads import sample_busy_cores, usable_cpus

    cpus, sources = usable_cpus()
    burn_cpu = sources["affinity"][-1]
    print(f"usable CPUs: {cpus} (affinity {sources['affinity']}, cgroup quota {sources['cgroup_quota']}); "
          f"training k = 256 through OFDM TDL-A + LS, {args.epochs} epochs of {args.train} random features")
    rows = []
    for load in ("free", "busy"):
        burner = None
        if load == "busy":
            code = f"import os; os.sched_setaffinity(0, {{{burn_cpu}}})\nwhile True: pass"
            burner = subprocess.Popen([sys.executable, "-c", code])
            time.sleep(0.5)
        try:
            for policy in args.policies.split(","):
                for threads in args.threads.split(","):
                    other = sample_busy_cores(0.3)
                    r = _measure(threads, policy, args.epochs, args.train)
                    rows.append({"load": load, "policy": policy, "asked": threads, **r, "load_before": other})
                    print(f"{load:5s} {policy:8s} threads={threads:4s} -> {r['threads']} ({r['reason']}): "
                          f"{r['wall_s']:6.1f} s wall, {r['cpu_s']:6.1f} s CPU  "
                          f"[other processes' load just before: {other:.2f} cores]", flush=True)
        finally:
            if burner is not None:
                burner.kill()
                burner.wait()
    print("\nbusy / free wall-time ratio (target for auto: <= 2):")
    summary = {}
    for policy in args.policies.split(","):
        for threads in args.threads.split(","):
            free = next(r for r in rows if (r["load"], r["policy"], r["asked"]) == ("free", policy, threads))
            busy = next(r for r in rows if (r["load"], r["policy"], r["asked"]) == ("busy", policy, threads))
            ratio = busy["wall_s"] / free["wall_s"]
            summary[f"{policy}/{threads}"] = {"free_s": round(free["wall_s"], 2), "busy_s": round(busy["wall_s"], 2),
                                              "ratio": round(ratio, 2)}
            print(f"  {policy:8s} threads={threads:4s}: {free['wall_s']:6.1f} s -> {busy['wall_s']:6.1f} s  ({ratio:.2f}x)")
    auto = summary.get("passive/auto")
    print(json.dumps({"benchmark": "threads_speed", "cpus": cpus, "results": summary,
                      "target_busy_over_free": 2.0,
                      "targets_met": None if auto is None else auto["ratio"] <= 2.0}))


if __name__ == "__main__":
    main()
