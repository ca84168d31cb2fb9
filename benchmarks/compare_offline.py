"""Wall time of the whole comparison run (``configs/compare_offline.toml``) on this machine.

Runs ``semlink run configs/compare_offline.toml`` from scratch in a temporary folder (features come
from the feature cache when present; trained codecs are *not* reused: a fresh codec cache, so deep
JSCC and KBSC training are included) and prints the wall time against its target, the time spent
per system (from the run's ``timings.csv``) and training's share.

    python benchmarks/compare_offline.py [--keep DIR] [--config configs/compare_offline.toml]

Target (issue 17): <= 20 minutes on 2 free cores, training included.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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
        stamps = re.findall(r"\[semlink (\d\d):(\d\d):(\d\d)\] (.*)", done.stderr)
        # Codecs train one after another: each one's time runs from its "training" line to the next
        # codec's, the last one's to the first line about points (progress lines in between are skipped).
        def clock(stamp) -> int:
            return int(stamp[0]) * 3600 + int(stamp[1]) * 60 + int(stamp[2])

        starts = [i for i, stamp in enumerate(stamps) if stamp[3].endswith(": training")]
        ends = starts[1:] + [next((i for i, stamp in enumerate(stamps) if stamp[3].startswith("points")), len(stamps) - 1)]
        training = [(stamps[i][3].removesuffix(": training"), (clock(stamps[j]) - clock(stamps[i])) % 86400)
                    for i, j in zip(starts, ends)]
        timings = pd.read_csv(out / "timings.csv")
        results = pd.read_csv(out / "results.csv")
        print(f"compare_offline: {len(results)} rows, wall time {wall / 60:.1f} min "
              f"(target <= {TARGET_S / 60:.0f} min: {'MET' if wall <= TARGET_S else 'NOT MET'})")
        print(f"  training: {sum(s for _, s in training) / 60:.1f} min over {len(training)} codecs")
        for name, seconds in training:
            print(f"    {name:40s} {seconds:5d} s")
        per_system = timings.groupby("system")["seconds"].agg(["sum", "count"]).sort_values("sum", ascending=False)
        print("  evaluation per system (seconds over all its points):")
        for system, row in per_system.iterrows():
            print(f"    {system:40s} {row['sum']:7.1f} s  ({int(row['count'])} points)")


if __name__ == "__main__":
    main()
