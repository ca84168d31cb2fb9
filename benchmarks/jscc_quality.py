"""Learned vs linear analog codes on Fashion-MNIST: PSNR per budget and SNR, each figure beside its target.

For each channel — flat AWGN with perfect CSI (the JSCC literature's "AWGN") and OFDM TDL-A with LS
channel estimation, both through the real :class:`semlink.phy.AnalogLink` — it fits the linear
analog code (KLT + Lee–Petersen + LMMSE, closed form) and trains deep JSCC (by default one
SNR-adaptive codec for every budget, with the linear skip; ``--variants`` adds the blind codec and
per-budget codecs), then sends ``--test`` test images at every (budget, SNR) and prints mean
per-image PSNR. Training time per codec is wall time and process CPU time (a fairer figure on a
shared machine); the PSNR-against-training-minutes curve is the validation PSNR after each epoch
against CPU minutes.

Targets (issue 18; flat AWGN, perfect CSI):

- deep JSCC ≥ linear analog + 1 dB at every SNR in {-4, 4, 10, 13} dB, at 128 and 392 channel uses;
- 392 uses, 10 dB: deep JSCC ≥ 27 dB;
- TDL-A with LS: deep JSCC's loss to its own flat-AWGN figure at 10 dB ≤ the linear code's;
- training: one codec a few minutes of CPU (the whole ``compare_offline`` ≤ 20 min on 2 cores).

The BPG rows come from the product itself: :func:`bpg_rows` runs ``semlink.run`` with ``bpg+ldpc``
(5G NR transport blocks at every second MCS of 38.214-1, the MCS chosen per SNR on the validation
split: the ``selected`` row), ``bpg+capacity`` (no CSI at the transmitter: a rate chosen on
validation, outage otherwise) and ``bpg+capacity-csit``. The run's queries (the first
``--test / 10`` test images of every class) are the test images of every row here.

The last line is one JSON object with every figure and ``"targets_met"``.

    python benchmarks/jscc_quality.py [--train 59000] [--test 1000] [--budgets 64,128,392]
        [--channels awgn-flat,tdl-a] [--variants adaptive,blind,per-budget] [--max-epochs 8]
    python benchmarks/jscc_quality.py --from-run runs/compare_offline   # the targets on a finished run

``--from-run`` reads the results of a finished ``semlink run`` (``configs/compare_offline.toml``:
deep JSCC and the linear code as the product trains and fits them, the BPG rows chosen on its
validation split, 1000 queries) and checks the same targets on them, training nothing.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

TARGET_SNRS = (-4.0, 4.0, 10.0, 13.0)
TARGET_BUDGETS = (128, 392)
MARGIN_OVER_LINEAR_DB = 1.0
PSNR_392_AT_10_DB = 27.0


BPG_SYSTEMS = ("bpg+ldpc", "bpg+capacity", "bpg+capacity-csit")


#: Issue 18's bound on the whole compare_offline run, training included (2 free cores, cold caches).
RUN_MINUTES = 20


def bpg_rows(channels, budgets, snrs, queries_per_class: int, seed: int, threads: int):
    """``({channel: {system: {budget: {snr: dB}}}}, query_ids)``: the BPG systems through ``semlink.run``
    on the first ``queries_per_class`` test images of every class, the MCS (and the no-CSIT rate)
    chosen on the validation split; ``query_ids`` are those images' indices in the test split."""
    import tempfile

    import numpy as np

    import semlink

    config = {
        "name": "jscc_quality_bpg", "seed": seed, "budgets": list(budgets),
        # The KB half of the test split is the other queries_per_class images of a class.
        "data": {"dataset": "fashion-mnist", "train_per_class": 500, "test_per_class": 2 * queries_per_class},
        "encoder": {"spec": "efficientnet-lite0", "image_size": 64},
        "link": {"csi": "ls", "interpolation": "lin", "decoder": "layered-bp", "ofdm": {}},
        "channels": [{"name": "awgn", "grid": "flat"} if c == "awgn-flat" else {"name": c} for c in channels],
        "systems": [{"type": "bpg+ldpc", "mcs_table": "38.214-1", "mcs": "select",
                     "mcs_indices": list(range(0, 29, 2))},
                    {"type": "bpg+capacity"}, {"type": "bpg+capacity", "csit": True}],
        "eval": {"snr_db": list(snrs), "noiseless": False},
    }
    with tempfile.TemporaryDirectory() as folder:
        table = semlink.run(config, out=folder, figures=False, threads=threads, progress="none", cache=False)
        query_file = next((Path(folder) / "per_query").glob("system=bpg+capacity-csit_*.npz"))
        query_ids = np.load(query_file)["query_id"]
    rows: dict[str, dict] = {}
    for channel in channels:
        name = "awgn" if channel == "awgn-flat" else channel
        rows[channel] = {}
        for system in BPG_SYSTEMS:
            picked = table[(table.system == system) & (table.channel == name)]
            if system != "bpg+capacity-csit":
                picked = picked[picked.variant == "selected"]
            rows[channel][system] = {int(b): {float(s): round(float(picked[(picked.budget == b)
                                                                          & (picked.snr_db == s)].psnr_db.iloc[0]), 2)
                                              for s in snrs} for b in budgets}
    return rows, query_ids


def rows_from_run(folder: str | Path) -> tuple[dict, list[int], list[float]]:
    """``(channels, budgets, snrs)`` of a finished run, shaped as :func:`main` builds them: mean PSNR
    per system, budget and SNR; ``awgn`` on a flat grid is ``awgn-flat``; the BPG families' rows
    are their ``selected`` (validation) rows."""
    import pandas as pd

    table = pd.read_parquet(Path(folder) / "results.parquet")
    table = table[table.snr_db.notna() & (table.snr_db != float("inf")) & table.budget.notna()]
    names = {"deep-jscc": "deep-jscc", "linear-analog": "linear-analog", "bpg+ldpc": "bpg+ldpc",
             "bpg+capacity": "bpg+capacity", "bpg+capacity-csit": "bpg+capacity-csit"}
    channels: dict[str, dict] = {}
    for channel, group in table.groupby("channel"):
        flat = channel == "awgn" and not group.ofdm.fillna(False).astype(bool).any()
        key = "awgn-flat" if flat else channel
        rows: dict[str, dict] = {}
        for system, name in names.items():
            picked = group[group.system == system]
            if "variant" in picked and (picked.variant == "selected").any():
                picked = picked[picked.variant == "selected"]
            if picked.empty:
                continue
            rows[name] = {int(b): {float(s): round(float(v), 2) for s, v in zip(part.snr_db, part.psnr_db)}
                          for b, part in picked.groupby("budget")}
        channels[key] = rows
    return channels, sorted(int(b) for b in table.budget.dropna().unique()), sorted(float(s) for s in table.snr_db.unique())


def costs_from_run(folder: str | Path) -> dict:
    """What a finished run cost: its wall time and phases (``manifest.json``) and each trained codec's
    training seconds (its checkpoint's ``config.json``; closed-form codecs record none)."""
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    codecs = {}
    for config in sorted((folder / "checkpoints").glob("*/config.json")):
        history = json.loads(config.read_text()).get("history") or {}
        seconds = history.get("train_seconds", history.get("seconds"))
        if isinstance(seconds, (int, float)):
            codecs[config.parent.name] = round(float(seconds), 1)
    wall = manifest.get("wall_seconds") or {}
    return {"run_wall_s": wall.get("total"), "phases_s": wall.get("phases"), "training_s": codecs}


def _print_costs(costs: dict) -> None:
    print("\ncosts (this run, this machine):")
    for name, seconds in costs["training_s"].items():
        print(f"  training {name:40s} {seconds:8.1f} s")
    phases = ", ".join(f"{k} {v / 60:.1f} min" for k, v in (costs["phases_s"] or {}).items())
    if costs["run_wall_s"] is not None:
        print(f"  whole run {costs['run_wall_s'] / 60:.1f} min ({phases})")


def _report(results: dict, budgets, snrs) -> None:
    results["targets"] = _targets(results, budgets, snrs)
    met = [t["met"] for t in results["targets"] if t["met"] is not None]
    results["targets_met"] = bool(met) and all(met)
    print("\ntargets:")
    for t in results["targets"]:
        status = "pending" if t["met"] is None else ("met" if t["met"] else "NOT met")
        print(f"  {t['name']}: {t['value']} (target {t['target']}) {status}")
    print(json.dumps(results, default=str))


def _print_table(channel: str, rows: dict, budgets, snrs) -> None:
    header = " ".join(f"{s:>+7.0f}dB" for s in snrs)
    print(f"\n{channel}: mean PSNR (dB)\n{'system':>24} {'uses':>5} {header}")
    for system, table in rows.items():
        for budget in budgets:
            if budget in table:
                cells = " ".join(f"{table[budget].get(s, float('nan')):9.2f}" for s in snrs)
                print(f"{system:>24} {budget:>5} {cells}")


def _link(channel: str, packed: bool):
    from semlink.phy import AnalogLink, AnalogLinkConfig, ChannelConfig, OfdmConfig

    if channel == "awgn-flat":
        return AnalogLink(AnalogLinkConfig(channel=ChannelConfig(name="awgn"), ofdm=None, csi="perfect"))
    cfg = AnalogLinkConfig(channel=ChannelConfig(name=channel), ofdm=OfdmConfig(), csi="ls", interpolation="lin")
    return AnalogLink(cfg, pack_examples=packed)


def _evaluate(codec, test_images, channel: str, budgets, snrs, seed: int) -> dict[int, dict[float, float]]:
    """Mean per-image PSNR at every (budget, SNR); the channel seeded per SNR (common random numbers)."""
    from semlink.seeding import channel_seed, seed_channel
    from semlink.systems.analog_codec import symbol_channel, transmit_images

    link = symbol_channel(_link(channel, packed=False))
    table: dict[int, dict[float, float]] = {}
    for budget in budgets:
        table[budget] = {}
        for snr in snrs:
            seed_channel(channel_seed(seed, channel, snr))
            psnr = transmit_images(codec, test_images, link, snr, channel_uses=budget).psnr_db
            table[budget][snr] = round(float(psnr.mean()), 2)
    return table


def main() -> None:
    from semlink.systems.jscc_training import JsccTrainSettings

    defaults = JsccTrainSettings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budgets", default="64,128,392", help="channel uses per image, comma-separated")
    parser.add_argument("--channels", default="awgn-flat,tdl-a",
                        help="awgn-flat (no grid, perfect CSI) and/or OFDM channels with LS + linear interpolation")
    parser.add_argument("--variants", default="adaptive",
                        help="deep JSCC codecs to train: adaptive (the default codec), blind (snr_adaptive = false), "
                             "plain (adaptive without the linear skip), per-budget (adaptive, one codec per budget)")
    parser.add_argument("--train", type=int, default=59000, help="training images (first N of the train split)")
    parser.add_argument("--val", type=int, default=1000, help="validation images (the last N of the train split)")
    parser.add_argument("--test", type=int, default=1000,
                        help="test images: the first N/10 of every class of the test split (the BPG run's queries)")
    parser.add_argument("--no-bpg", action="store_true", help="skip the BPG rows (and use the first N test images)")
    parser.add_argument("--test-snr-db", default=",".join(str(s) for s in TARGET_SNRS))
    parser.add_argument("--max-epochs", type=int, default=defaults.max_epochs)
    parser.add_argument("--patience", type=int, default=defaults.patience)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--filters", type=int, default=defaults.filters)
    parser.add_argument("--train-snr-db", default=",".join(str(s) for s in defaults.snr_db))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", action="store_true", help="print every epoch")
    parser.add_argument("--from-run", default=None, help="check the targets on a finished run's results instead")
    args = parser.parse_args()
    if args.from_run:
        channels, budgets, snrs = rows_from_run(args.from_run)
        snrs = [s for s in snrs if s in TARGET_SNRS] or snrs
        for channel, rows in channels.items():
            _print_table(channel, rows, budgets, snrs)
        costs = costs_from_run(args.from_run)
        _print_costs(costs)
        _report({"run": str(args.from_run), "budgets": budgets, "snr_db": snrs, "channels": channels,
                 "costs": costs}, budgets, snrs)
        return

    import torch

    from semlink.data import load_dataset
    from semlink.systems.analog_codec import symbol_channel
    from semlink.systems.jscc_training import train_jscc
    from semlink.systems.linear_analog_model import fit_linear_analog

    torch.set_num_threads(args.threads)
    budgets = [int(b) for b in args.budgets.split(",")]
    snrs = [float(s) for s in args.test_snr_db.split(",")]
    channels = args.channels.split(",")
    variants = args.variants.split(",")
    train_split = load_dataset("fashion-mnist", split="train")
    train_images = train_split.images[: args.train]
    val_images = train_split.images[-args.val :]
    test_split = load_dataset("fashion-mnist", split="test")
    bpg: dict = {}
    if args.no_bpg:
        test_images = test_split.images[: args.test]
    else:
        started = time.perf_counter()
        bpg, query_ids = bpg_rows(channels, budgets, snrs, args.test // 10, args.seed, args.threads)
        test_images = test_split.images[query_ids]
        print(f"BPG rows through semlink.run: {time.perf_counter() - started:.0f} s")
    base = dict(max_epochs=args.max_epochs, patience=args.patience, batch_size=args.batch_size, lr=args.lr,
                filters=args.filters, snr_db=tuple(float(s) for s in args.train_snr_db.split(",")))
    print(f"{len(train_images)} train / {len(val_images)} val / {len(test_images)} test images; "
          f"deep JSCC settings {base}; {args.threads} thread(s)")

    results: dict = {"budgets": budgets, "snr_db": snrs, "channels": {}, "training": {}}
    for channel in channels:
        rows: dict[str, dict] = {}
        started = time.perf_counter()
        linear = fit_linear_analog(train_images, max(budgets))
        results["training"][f"linear-analog [{channel}]"] = {"wall_s": round(time.perf_counter() - started, 1)}
        rows["linear-analog"] = _evaluate(linear, test_images, channel, budgets, snrs, args.seed)
        for variant in variants:
            groups = [[b] for b in budgets] if variant == "per-budget" else [budgets]
            settings = JsccTrainSettings(**base, snr_adaptive=variant != "blind", linear_skip=variant != "plain")
            name = {"adaptive": "deep-jscc", "per-budget": "deep-jscc per budget", "blind": "deep-jscc blind",
                    "plain": "deep-jscc no skip"}[variant]
            rows[name] = {}
            for group in groups:
                cpu = time.process_time()
                log = print if args.verbose else None
                codec, history = train_jscc(train_images, val_images, symbol_channel(_link(channel, packed=True)),
                                            group, settings, seed=args.seed, log=log)
                cpu = time.process_time() - cpu
                key = f"{name} @ {','.join(map(str, group))} [{channel}]"
                results["training"][key] = {
                    "wall_s": round(history.train_seconds, 1), "cpu_s": round(cpu, 1), "epochs": len(history.val_psnr),
                    "best_epoch": history.best_epoch,
                    "val_psnr_by_cpu_minute": [[round(s / 60, 2), round(p, 2)]
                                               for s, p in zip(history.cpu_seconds, history.val_psnr)],
                }
                print(f"trained {key}: {len(history.val_psnr)} epochs, best {history.best_epoch}, "
                      f"{history.train_seconds:.0f} s wall, {cpu:.0f} s CPU; validation PSNR (mean over budgets "
                      "and training SNRs) after each epoch, by CPU minute: "
                      + " ".join(f"{m:.1f}:{p:.2f}" for m, p in results["training"][key]["val_psnr_by_cpu_minute"]),
                      flush=True)
                rows[name].update(_evaluate(codec, test_images, channel, group, snrs, args.seed))
        rows.update(bpg.get(channel, {}))
        results["channels"][channel] = rows
        _print_table(channel, rows, budgets, snrs)
    _report(results, budgets, snrs)


def _targets(results: dict, budgets, snrs) -> list[dict]:
    """Every target of the module docstring that the measured rows allow, with its figure."""
    out: list[dict] = []
    flat = results["channels"].get("awgn-flat")
    if flat and "deep-jscc" in flat:
        jscc, linear = flat["deep-jscc"], flat["linear-analog"]
        for budget in (b for b in TARGET_BUDGETS if b in budgets):
            for snr in (s for s in TARGET_SNRS if s in snrs):
                gain = round(jscc[budget][snr] - linear[budget][snr], 2)
                out.append({"name": f"flat AWGN {budget} uses {snr:+.0f} dB: deep-jscc - linear-analog",
                            "value": gain, "target": f">= {MARGIN_OVER_LINEAR_DB}", "met": gain >= MARGIN_OVER_LINEAR_DB})
        if 392 in budgets and 10.0 in snrs:
            value = jscc[392][10.0]
            out.append({"name": "flat AWGN 392 uses 10 dB: deep-jscc", "value": value,
                        "target": f">= {PSNR_392_AT_10_DB}", "met": value >= PSNR_392_AT_10_DB})
        bpg_ldpc, bpg_cap = flat.get("bpg+ldpc"), flat.get("bpg+capacity")
        if 128 in budgets and 10.0 in snrs:
            if bpg_cap is None:
                out.append({"name": "flat AWGN 128 uses 10 dB: deep-jscc - bpg+capacity", "value": None,
                            "target": ">= -1 (old table: bpg+capacity 22.7 dB)", "met": None})
            else:
                gap = round(jscc[128][10.0] - bpg_cap[128][10.0], 2)
                out.append({"name": "flat AWGN 128 uses 10 dB: deep-jscc - bpg+capacity", "value": gap,
                            "target": ">= -1", "met": gap >= -1})
            for snr in (s for s in snrs if s <= 10.0):
                if bpg_ldpc is None:
                    continue
                gap = round(jscc[128][snr] - bpg_ldpc[128][snr], 2)
                out.append({"name": f"flat AWGN 128 uses {snr:+.0f} dB: deep-jscc - bpg+ldpc envelope",
                            "value": gap, "target": ">= 0", "met": gap >= 0})
            if bpg_ldpc is None:
                out.append({"name": "flat AWGN 128 uses, SNR <= 10 dB: deep-jscc - bpg+ldpc envelope", "value": None,
                            "target": ">= 0 (old table: bpg+ldpc 16.2 dB at 10 dB)", "met": None})
        if 392 in budgets and 10.0 in snrs:
            out.append({"name": "flat AWGN 392 uses 10 dB: deep-jscc - bpg+ldpc envelope (printed, no target)",
                        "value": None if bpg_ldpc is None else round(jscc[392][10.0] - bpg_ldpc[392][10.0], 2),
                        "target": "on par in the literature", "met": None})
    for channel, rows in results["channels"].items():
        if channel == "awgn-flat" or not flat or "deep-jscc" not in rows or 10.0 not in snrs:
            continue
        budget = max(budgets)
        losses = {name: round(flat[name][budget][10.0] - rows[name][budget][10.0], 2)
                  for name in ("deep-jscc", "linear-analog")}
        out.append({"name": f"{channel} LS {budget} uses 10 dB: loss to flat AWGN, deep-jscc vs linear-analog",
                    "value": losses, "target": "deep-jscc <= linear-analog",
                    "met": losses["deep-jscc"] <= losses["linear-analog"]})
    wall = (results.get("costs") or {}).get("run_wall_s")
    if wall is not None:
        out.append({"name": "the whole run on this machine, training included [min]", "value": round(wall / 60, 1),
                    "target": f"<= {RUN_MINUTES} (2 free cores, cold)", "met": wall <= RUN_MINUTES * 60})
    return out


if __name__ == "__main__":
    main()
