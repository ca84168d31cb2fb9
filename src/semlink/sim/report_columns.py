"""What the columns of a results table are, for the report: identity, metrics (with labels), context.

Results rows are self-describing (:mod:`semlink.sim.runner`), so the report reads their roles from
the columns present rather than from a fixed list: known metrics get a label, a confidence band and
an axis range from :data:`KNOWN_METRICS` (``topK_accuracy`` for any K, ``bleu_*``); any other
numeric column that changes along a line (with SNR) is treated as a metric too, labelled by its name.

>>> metric_info("top5_accuracy").label, metric_info("top5_accuracy").ci
('top-5 accuracy', ('top5_ci_low', 'top5_ci_high'))
>>> metric_info("bleu_corrected").label
'BLEU (corrected texts)'
>>> metric_info("my_new_metric").label
'my new metric'
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = [
    "BOUND_NOTE", "bound_passed", "log_ticks", "CONTEXT_COLUMNS", "IDENTITY_COLUMNS", "KNOWN_METRICS", "LINK_COLUMNS", "MetricInfo", "as_text", "format_value",
    "is_missing", "metric_info", "ordered_columns", "plotted_metrics",
]

IDENTITY_COLUMNS = ("run", "system", "budget", "variant", "channel", "snr_db", "ebno_db", "noiseless")
"""The columns that name a row (``run`` is added by :func:`semlink.sim.report.load_runs`)."""

LINK_COLUMNS = (
    "link", "modulation", "code_k", "code_n", "code_rate", "csi", "interpolation", "equalizer", "decoder",
    "ofdm", "delay_spread_ns", "speed_mps", "bp_iterations",
)
"""Link settings that tell one BER curve from another (those present and differing are used)."""

CONTEXT_COLUMNS = (
    "channel_uses", "channel_uses_sent", "cbr", "modulation", "code_k", "code_n", "csi", "codec",
    "n_queries", "n_bits", "n_bit_errors", "n_blocks", "n_block_errors",
)
"""Columns shown when hovering a point, besides its identity and metrics."""

# Numeric columns that are never metrics: axes, counts, seeds, settings, interval ends.
_NOT_METRICS = re.compile(
    r"^(seed|train_\w+|budget|snr_db|ebno_db|channel_uses|channel_uses_with_padding|cbr|bits_per_symbol"
    r"|best_epoch|best_val_accuracy|full_val_accuracy|n_\w+|\w+_ci_low|\w+_ci_high|\w+_diff_ci_\w+)$"
)


@dataclass(frozen=True)
class MetricInfo:
    """How to show one metric: ``label`` (axis title), ``ci`` (columns of its 95 % interval),
    ``y_range`` (fixed axis range or None), ``log_y``, ``primary`` (shown open in the report;
    the rest go under "more metrics")."""

    name: str
    label: str
    ci: tuple[str, str] | None = None
    y_range: tuple[float, float] | None = None
    log_y: bool = False
    primary: bool = False


KNOWN_METRICS: dict[str, MetricInfo] = {m.name: m for m in (
    MetricInfo("psnr_db", "PSNR [dB]", primary=True),
    MetricInfo("ssim", "SSIM", y_range=(0, 1.02), primary=True),
    MetricInfo("ms_ssim", "MS-SSIM", y_range=(0, 1.02), primary=True),
    MetricInfo("lpips", "LPIPS (lower is better)", primary=True),
    MetricInfo("bleu_received", "BLEU (received texts)", y_range=(0, 101), primary=True),
    MetricInfo("bleu_corrected", "BLEU (corrected texts)", y_range=(0, 101), primary=True),
    MetricInfo("ber", "BER", log_y=True, primary=True),
    MetricInfo("bler", "BLER", log_y=True, primary=True),
    MetricInfo("feature_cosine", "cosine of decoded and sent features"),
    MetricInfo("feature_mse", "MSE of decoded features"),
    MetricInfo("code_block_failure_rate", "code-block failure rate", y_range=(0, 1.02)),
    MetricInfo("image_failure_rate", "image failure rate", y_range=(0, 1.02)),
    MetricInfo("fallback_rate", "fallback rate (receiver's stand-in image)", y_range=(0, 1.02)),
    MetricInfo("fit_rate", "images that fit the budget", y_range=(0, 1.02)),
    MetricInfo("mean_quality", "mean codec quality"),
    MetricInfo("mean_payload_bits", "mean payload [bits]"),
    MetricInfo("channel_uses_sent", "channel uses sent per image (mean)"),
)}

_TOPK = re.compile(r"^top(\d+)_accuracy$")
_BLEU = re.compile(r"^bleu_(\w+)$")


def metric_info(name: str) -> MetricInfo:
    """The display settings of a metric column (a generic label for names not in the catalogue)."""
    if name in KNOWN_METRICS:
        return KNOWN_METRICS[name]
    if match := _TOPK.match(name):
        k = match.group(1)
        return MetricInfo(name, f"top-{k} accuracy", ci=(f"top{k}_ci_low", f"top{k}_ci_high"), y_range=(0, 1.02),
                          primary=True)
    if match := _BLEU.match(name):
        return MetricInfo(name, f"BLEU ({match.group(1).replace('_', ' ')})", y_range=(0, 101), primary=True)
    return MetricInfo(name, name.replace("_", " "))


def _sort_key(name: str) -> tuple[int, int, str]:
    """Accuracies first (top-1, top-5, ...), then the catalogue's order, then other names alphabetically."""
    if match := _TOPK.match(name):
        return 0, int(match.group(1)), name
    order = list(KNOWN_METRICS)
    return (1, order.index(name), name) if name in order else (2, 0, name)


def is_missing(value: Any) -> bool:
    """None, NaN, pandas' NA or an empty string."""
    if value is None or (isinstance(value, str) and value == ""):
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def as_text(values: pd.Series) -> pd.Series:
    """Values as strings for grouping and comparing, missing ones (None, NaN, "") all as ``""``."""
    return values.map(lambda v: "" if is_missing(v) else str(v)).astype(object)


def plotted_metrics(frame: pd.DataFrame, line_keys: Sequence[str]) -> list[str]:
    """The metric columns of ``frame`` worth a figure, in display order.

    Every primary metric (accuracy, PSNR, SSIM, LPIPS, BLEU, BER, ...) with a value, and every other
    numeric (not boolean) column that is not an axis, count, seed or interval end and takes more than
    one value along some line (rows grouped by ``line_keys``): a setting is constant along a line, a
    measurement changes with SNR.
    """
    names = []
    keys = [k for k in line_keys if k in frame.columns]
    for column in frame.columns:
        if column in IDENTITY_COLUMNS or _NOT_METRICS.match(column):
            continue
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        if values.notna().sum() == 0:
            continue
        if not metric_info(column).primary:  # a secondary metric earns a figure only where it changes
            spread = values.groupby([as_text(frame[k]) for k in keys]).nunique() if keys else values.nunique()
            if not (pd.Series(spread).max() > 1):
                continue
        names.append(column)
    return sorted(names, key=_sort_key)


def ordered_columns(columns: Sequence[str], metrics: Sequence[str]) -> list[str]:
    """Identity columns first, then the metrics (each followed by its interval), then the rest in order."""
    present = list(columns)
    head = [c for c in IDENTITY_COLUMNS if c in present]
    for name in metrics:
        info = metric_info(name)
        head += [c for c in (name, *(info.ci or ())) if c in present and c not in head]
    return head + [c for c in present if c not in head]


def format_value(value: Any) -> str:
    """A cell as a researcher reads it: 4 significant digits, whole numbers without ``.0``, ∞, blanks for NaN."""
    if is_missing(value):
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int) or (hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu"):
        return str(int(value))
    if isinstance(value, float) or (hasattr(value, "dtype") and getattr(value.dtype, "kind", "") == "f"):
        value = float(value)
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.4g}"
    return str(value)


def log_ticks(values: Sequence[float], min_ratio: float = 1.6) -> list[float]:
    """The distinct ``values`` to label on a log axis, each at least ``min_ratio`` times the last kept (and the
    largest always), so labels never overlap.

    >>> log_ticks([8, 10, 16, 32, 64, 100, 128, 640])
    [8.0, 16.0, 32.0, 64.0, 128.0, 640.0]
    """
    ordered = sorted({float(v) for v in values if v and v > 0})
    kept: list[float] = []
    for value in ordered:
        if not kept or value / kept[-1] >= min_ratio:
            kept.append(value)
    if ordered and kept[-1] != ordered[-1]:  # the largest is labelled: it replaces a neighbour too close to it
        kept[-1 if len(kept) > 1 else len(kept):] = [ordered[-1]]
    return kept


BOUND_NOTE = ("{names} above the noiseless line: that line is raw-feature kNN without a channel, the bound of codecs "
              "that rebuild the feature;\na class-aware codec (KBSC's robust recipe) maps features toward their class "
              "and can pass it")
"""Why a system lies above the no-channel line (two lines: ``\\n`` between them)."""


def bound_passed(on_air: pd.DataFrame, bound: pd.DataFrame, metric: str) -> list[str]:
    """Systems whose ``metric`` lies above the no-channel bound of their run at some point beyond chance: the
    95 % intervals do not overlap (the system's lower end above the bound's upper end; values where a row has
    no interval). Accuracies only: the bound is raw-feature kNN."""
    if bound.empty or not metric.startswith("top"):
        return []
    ci = metric_info(metric).ci
    low, high = (ci if ci else (metric, metric))

    def value(rec: dict[str, Any], column: str) -> float:
        return float(rec[metric] if is_missing(rec.get(column)) else rec[column])

    limit = {rec.get("run"): value(rec, high) for rec in bound.to_dict("records")}
    passed = [rec["system"] for rec in on_air.to_dict("records")
              if rec.get("run") in limit and value(rec, low) > limit[rec.get("run")]]
    return list(dict.fromkeys(map(str, passed)))
