"""Wall time of the whole comparison run (``configs/compare_offline.toml``) on this machine.

Runs ``semlink run configs/compare_offline.toml`` from scratch in a temporary folder (features come
from the feature cache when present; trained codecs are *not* reused: a fresh codec cache, so deep
JSCC and KBSC training are included) and prints the wall time against its target, its phases, each
codec's training time (codecs train side by side: these overlap) and the time spent per system
(from the run's ``timings.csv``).

    python benchmarks/compare_offline.py [--keep DIR] [--config configs/compare_offline.toml]

Target (issue 17): <= 20 minutes on 2 free cores, training included.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from jscc_quality import costs_from_run  # noqa: E402  (one reading of a run's costs)

TARGET_S = 20 * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(Path(__file__).parents[1] / "configs" / "compare_offline.toml"))
    parser.add_argument("--keep", help="write the run here instead of a temporary folder")
    args = parser.parse_args()
    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.keep) if args.keep else Path(tmp) / "run"
        command = [sys.executable, "-m", "semlink.cli", "run", args.config, "--out", str(out),
                   "--cache", str(Path(tmp) / "codecs")]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            print(done.stderr[-3000:])
            raise SystemExit(f"the run failed (status {done.returncode})")
        costs = costs_from_run(out)  # phases from the manifest, each codec's training from its checkpoint
        pool = json.loads((out / "manifest.json").read_text()).get("training") or {}
        timings = pd.read_csv(out / "timings.csv")
        results = pd.read_csv(out / "results.csv")
        print(f"compare_offline: {len(results)} rows, wall time {wall / 60:.1f} min "
              f"(target <= {TARGET_S / 60:.0f} min: {'MET' if wall <= TARGET_S else 'NOT MET'})")
        print("  phases: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in (costs["phases_s"] or {}).items()))
        print(f"  training: {len(costs['training_s'])} codecs; {pool.get('side_by_side', 0)} side by side, "
              f"{pool.get('at_once', 1)} at a time at {pool.get('threads_per_codec', '?')} thread(s) each, the "
              "others in the run's process; seconds per codec:")
        for name, seconds in costs["training_s"].items():
            print(f"    {name:40s} {seconds:7.1f} s")
        per_system = timings.groupby("system")["seconds"].agg(["sum", "count"]).sort_values("sum", ascending=False)
        print("  evaluation per system (seconds over all its points):")
        for system, row in per_system.iterrows():
            print(f"    {system:40s} {row['sum']:7.1f} s  ({int(row['count'])} points)")


if __name__ == "__main__":
    main()
