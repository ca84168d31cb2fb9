"""Paired comparisons between systems evaluated on the same queries at the same (channel, SNR).

With common random numbers (:func:`semlink.seeding.channel_seed`) every system at one (channel,
SNR) sends the same queries through the same channel realisations where the shapes allow, so the
difference of two systems is best judged *paired*, query by query: Newcombe's interval for the
top-1 accuracy difference (:func:`semlink.metrics.paired_difference_ci`) and a paired t interval for
the PSNR difference. Pairs are formed within a budget (systems without a budget, such as ``raw``,
are compared with every budget).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from semlink.metrics import paired_difference_ci, paired_mean_difference_ci

__all__ = ["paired_comparisons"]


def _budget(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def paired_comparisons(frame: pd.DataFrame, points: Sequence[Any], run_dir: Any) -> pd.DataFrame:
    """One row per pair of points at the same (channel, SNR) whose per-query outcomes were stored."""
    done = set()
    if len(frame):
        done = {(r["system"], _budget(r["budget"]), r["variant"], r["channel"], r["snr_db"])
                for r in frame[["system", "budget", "variant", "channel", "snr_db"]].to_dict("records")}
    groups: dict[tuple, list[tuple[Any, dict[str, Any]]]] = {}
    for point in points:
        p = point.params
        if p["channel"] == "none" or (p["system"], p["budget"], p["variant"], p["channel"], p["snr_db"]) not in done:
            continue
        outcome = run_dir.read_per_query(point.key)
        if outcome is not None and "top1_hit" in outcome:
            groups.setdefault((p["channel"], p["snr_db"]), []).append((p, outcome))
    rows = []
    for (channel, snr_db), members in groups.items():
        for i, (a, qa) in enumerate(members):
            for b, qb in members[i + 1 :]:
                if a["budget"] is not None and b["budget"] is not None and a["budget"] != b["budget"]:
                    continue
                if len(qa["top1_hit"]) != len(qb["top1_hit"]):
                    continue
                row: dict[str, Any] = {
                    "channel": channel, "snr_db": snr_db,
                    "system_a": a["system"], "budget_a": a["budget"], "variant_a": a["variant"],
                    "system_b": b["system"], "budget_b": b["budget"], "variant_b": b["variant"],
                    "n_queries": len(qa["top1_hit"]),
                }
                diff, low, high = paired_difference_ci(qa["top1_hit"], qb["top1_hit"])
                row.update(top1_diff=diff, top1_diff_ci_low=low, top1_diff_ci_high=high)
                if "psnr_db" in qa and "psnr_db" in qb:
                    mean, low, high = paired_mean_difference_ci(qa["psnr_db"], qb["psnr_db"])
                    row.update(psnr_diff_db=mean, psnr_diff_ci_low=low, psnr_diff_ci_high=high)
                rows.append(row)
    return pd.DataFrame(rows)
