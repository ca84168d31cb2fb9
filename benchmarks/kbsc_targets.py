"""KBSC targets (issue 8): the trained analog codec against the raw-feature kNN-1 bound, over training seeds.

The setup is ``configs/kbsc_targets.toml``: the full Fashion-MNIST split (80 % of the training
split trains, 10 % + 10 % validate; 500 queries + 500 knowledge-base items per class),
EfficientNet-Lite0 at 64 px, the ``robust`` recipe, ``[train] seeds`` codecs per (system, channel).
Two runs of ``semlink run`` (:func:`semlink.sim.experiment.run_experiment`):

- ``flat``: the config as written: AWGN and flat Rayleigh block fading, perfect CSI, k = 256 and 128;
- ``tdla``: the same setup with the link of ``configs/kbsc_offline.toml`` (OFDM, 3GPP TDL-A,
  estimated CSI), k = 256 only.

Every seed sees the same data split, knowledge base, queries and channel draws (common random
numbers per channel and SNR), so the spread across seeds is the training variance alone. The
bound is the ``noiseless`` system: the sent feature itself, nearest knowledge-base item.

Targets (mean over the training seeds):

=================================================  ======  =====================
figure                                             SNR     target
=================================================  ======  =====================
AWGN, k = 256 (128 channel uses)                   -7 dB   >= 0.95 x bound
AWGN, k = 256                                      10 dB   >= 0.99 x bound
AWGN, k = 128 (64 channel uses)                    -7 dB   >= 0.90 x bound
flat Rayleigh block fading, perfect CSI, k = 256   -7 dB   >= 0.85 x bound
OFDM TDL-A, estimated CSI (offline link), k = 256  10 dB   >= bound - 0.05
=================================================  ======  =====================

Each line prints the mean, the standard deviation and the range across seeds, the bound, the
ratio, the target and PASS/FAIL, and the mean cosine between decoded and sent feature (how
faithfully the feature itself is rebuilt), plus per codec the epoch kept and whether
it collapsed. The default codec is class-aware (the robust recipe's ``class_weight = 1``), so it
can pass the raw-feature bound, which bounds only codecs that rebuild the feature; ``--label-free
PART`` also trains that part with ``class_weight = 0`` and prints, under each target, the
label-free figure and the difference on lines of their own (like with like). Trained codecs are
cached under ``--out``/codecs and reused by a later run with the same settings.

    python benchmarks/kbsc_targets.py                  # 3 seeds, the full setup (hours on 2 CPU cores)
    python benchmarks/kbsc_targets.py --seeds 1 --parts flat
    python benchmarks/kbsc_targets.py --quick          # a small smoke run: figures NOT comparable to targets
    python benchmarks/kbsc_targets.py --class-weight 0 # the label-free loss (TrainSettings.class_weight)
    python benchmarks/kbsc_targets.py --label-free flat  # and, on lines of their own, the label-free codecs
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "kbsc_targets.toml"
OFFLINE = ROOT / "configs" / "kbsc_offline.toml"
PARTS = ("flat", "tdla")

# (part, system, channel, snr_db, kind, threshold): "ratio" holds mean / bound >= threshold,
# "gap" holds mean >= bound - threshold.
TARGETS = [
    ("flat", "kbsc-k256", "awgn", -7.0, "ratio", 0.95),
    ("flat", "kbsc-k256", "awgn", 10.0, "ratio", 0.99),
    ("flat", "kbsc-k128", "awgn", -7.0, "ratio", 0.90),
    ("flat", "kbsc-k256", "rayleigh", -7.0, "ratio", 0.85),
    ("tdla", "kbsc-k256", "tdl-a", 10.0, "gap", 0.05),
]


def part_config(part: str, seeds: int, quick: bool, class_weight: float | None = None):
    """The validated :class:`ExperimentConfig` of one part (see the module docstring)."""
    from semlink.sim.experiment_config import ExperimentConfig, load_experiment, validate

    config: dict[str, Any] = load_experiment(CONFIG).model_dump(mode="json")
    config["train"]["seeds"] = seeds
    trained = [s for s in config["systems"] if s["type"] == "kbsc"]
    if class_weight is not None:
        for system in trained:
            system["train"]["class_weight"] = class_weight
    if part == "tdla":
        config["name"] = "kbsc_targets_tdla"
        config["link"] = load_experiment(OFFLINE).model_dump(mode="json")["link"]
        config["channels"] = None
        config["systems"] = [s for s in config["systems"] if s.get("name") in ("kbsc-k256", None)]
    if quick:  # a smoke run: small data, two epochs, the target SNRs only
        config["data"].update(train_per_class=300, test_per_class=100)
        for system in trained:
            system["train"].update(epochs=2, patience=2)
        config["eval"]["snr_db"] = [-7.0, 10.0]
    return validate(ExperimentConfig, config)


def figures(frame, system: str, channel: str, snr_db: float) -> dict[str, Any] | None:
    """Mean, spread and per-seed training facts of one (system, channel, SNR) point of a run."""
    rows = frame[(frame["system"] == system) & (frame["channel"] == channel) & (frame["snr_db"] == snr_db)]
    per_seed = rows[rows["variant"].fillna("").str.startswith("seed ")]
    if per_seed.empty:  # one training seed: the plain row
        per_seed = rows[rows["variant"].fillna("") == ""]
    if per_seed.empty:
        return None
    values = per_seed["top1_accuracy"].astype(float)
    return {
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if len(values) > 1 else math.nan,
        "min": float(values.min()),
        "max": float(values.max()),
        "cosine": float(per_seed["feature_cosine"].astype(float).mean()),
        "n": len(values),
        "best_epochs": [int(e) for e in per_seed.get("best_epoch", [])],
        "collapsed": [bool(c) for c in per_seed.get("collapsed", [])],
    }


def bound_of(frame) -> float:
    row = frame[frame["system"] == "noiseless"]
    return float(row["top1_accuracy"].iloc[0])


LABEL_FREE = "label-free"


def target_lines(frames: dict[str, Any], label_free: dict[str, Any] | None = None) -> tuple[list[str], int]:
    """One line per target (the verdict); where ``label_free`` holds the same part trained with
    ``class_weight = 0``, a line of its own under it with its figures and the difference."""
    lines = [f"{'figure':44s} {'mean':>7s} {'± std':>7s} {'min..max':>13s} {'bound':>6s} {'ratio':>6s}  "
             f"{'target':20s} {'result':6s} cosine"]
    missed = 0
    for part, system, channel, snr, kind, threshold in TARGETS:
        if part not in frames:
            continue
        bound = bound_of(frames[part])
        got = figures(frames[part], system, channel, snr)
        if got is None:
            continue
        ok = got["mean"] / bound >= threshold if kind == "ratio" else got["mean"] >= bound - threshold
        missed += not ok
        want = f">= {threshold:.2f} x bound" if kind == "ratio" else f">= bound - {threshold:.2f}"
        name = f"{system} {channel} @ {snr:+.0f} dB ({got['n']} seed{'s' if got['n'] > 1 else ''})"
        lines.append(_figure_line(name, got, bound) + f"  {want:20s} {'PASS' if ok else 'FAIL':6s} {got['cosine']:.3f}")
        other = None if label_free is None or part not in label_free else figures(label_free[part], system, channel, snr)
        if other is not None:
            lines.append(_figure_line(f"  same, {LABEL_FREE} (class_weight = 0)", other, bound_of(label_free[part]))
                         + f"  {'(not a target)':20s} {'':6s} {other['cosine']:.3f}")
            lines.append(f"  {'difference, default - label-free':42s} {got['mean'] - other['mean']:+7.4f}"
                         f"{'':67s}{got['cosine'] - other['cosine']:+.3f}")
    return lines, missed


def _figure_line(name: str, got: dict[str, Any], bound: float) -> str:
    return (f"{name:44s} {got['mean']:7.4f} {got['std']:7.4f} {got['min']:6.4f}..{got['max']:6.4f} "
            f"{bound:6.4f} {got['mean'] / bound:6.3f}")


def curve_lines(frames: dict[str, Any]) -> list[str]:
    """Every (system, channel): mean ± std over seeds per SNR, kept epochs and collapse flags."""
    lines = []
    for part, frame in frames.items():
        lines.append(f"[{part}] bound (noiseless, raw-feature kNN-1) {bound_of(frame):.4f}")
        trained = frame[frame["system"] != "noiseless"]
        for (system, channel), group in trained.groupby(["system", "channel"], sort=False):
            cells, kept = [], None
            for snr in sorted(set(group["snr_db"])):
                got = figures(frame, system, channel, snr)
                if got is None:
                    continue
                spread = "" if math.isnan(got["std"]) else f"±{got['std']:.3f}"  # one seed: no spread
                cells.append(f"{snr:+.0f}: {got['mean']:.3f}{spread}")
                kept = got
            lines.append(f"  {system} {channel}  " + "  ".join(cells))
            if kept is not None:
                lines.append(f"    kept epoch per seed {kept['best_epochs']}, collapsed {kept['collapsed']}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per codec (the target: >= 3)")
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--quick", action="store_true",
                        help="small data and 2 epochs: checks the pipeline; figures are not comparable to targets")
    parser.add_argument("--class-weight", type=float, default=None,
                        help="the kbsc entries' train class_weight (0: label-free loss; default: the recipe's, 1)")
    parser.add_argument("--label-free", nargs="*", default=[], choices=PARTS, metavar="PART",
                        help="also train these parts with class_weight = 0 and print each target's label-free "
                             "figure and the difference on a line of its own")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "kbsc_targets")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    import torch

    from semlink.sim.experiment import run_experiment

    if args.threads:
        torch.set_num_threads(args.threads)

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    def run(part: str, class_weight: float | None):
        cfg = part_config(part, args.seeds, args.quick, class_weight)
        tag = f"{'-quick' if args.quick else ''}{f'-cw{class_weight:g}' if class_weight is not None else ''}"
        folder = args.out / f"{part}{tag}-seeds{args.seeds}"
        tic = time.perf_counter()
        frame = run_experiment(cfg, folder, resume=folder.exists(), log=log, progress=False,
                               cache_dir=args.out / "codecs")
        log(f"{part}: {time.perf_counter() - tic:.0f} s ({folder})")
        return frame

    frames = {part: run(part, args.class_weight) for part in args.parts}
    label_free = {part: run(part, 0.0) for part in args.label_free}
    if args.quick:
        print("QUICK RUN: small data and 2 epochs; the figures below check the pipeline, not the targets.")
    print("\n".join(curve_lines(frames)))
    if label_free:
        print(f"{LABEL_FREE} (class_weight = 0):")
        print("\n".join(curve_lines(label_free)))
    print()
    lines, missed = target_lines(frames, label_free)
    print("\n".join(lines))
    print(f"{missed} target(s) missed")


if __name__ == "__main__":
    main()
