"""Matplotlib plots of results tables (written atomically as PNG)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from semlink.io import atomic_path  # noqa: E402


def _save(fig, path: str | os.PathLike[str]) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=130, bbox_inches="tight")
    plt.close(fig)


def plot_waterfall(frame: pd.DataFrame, path: str | os.PathLike[str], x: str = "snr_db", title: str = "") -> None:
    """BER and BLER against ``x`` on a log y axis, one line per (channel, modulation, code)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    group_cols = [c for c in ("channel", "modulation", "code_k", "code_n", "csi") if c in frame.columns]
    groups = frame.groupby(group_cols, dropna=False) if group_cols else [((), frame)]
    for _, part in groups:
        part = part.sort_values(x)
        first = part.iloc[0]
        code = "uncoded" if pd.isna(first.get("code_k")) else f"LDPC ({int(first['code_k'])},{int(first['code_n'])})"
        label = f"{first.get('channel', '')}, {str(first.get('modulation', '')).upper()}, {code}"
        if "csi" in part.columns:
            label += f", CSI {first['csi']}"
        for ax, metric in zip(axes, ("ber", "bler")):
            values = part[metric].where(part[metric] > 0)  # zeros cannot be drawn on a log axis
            ax.semilogy(part[x], values, marker="o", label=label)
    xlabel = "Eb/N0 [dB]" if x == "ebno_db" else "Es/N0 per channel symbol [dB]"
    for ax, metric in zip(axes, ("BER", "BLER")):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    _save(fig, path)


def plot_accuracy(
    frame: pd.DataFrame,
    path: str | os.PathLike[str],
    metric: str = "top1_accuracy",
    ci: Sequence[str] = ("top1_ci_low", "top1_ci_high"),
    title: str = "",
) -> None:
    """Retrieval accuracy against SNR with its confidence band, one line per (system, channel)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    group_cols = [c for c in ("system", "channel", "channel_uses") if c in frame.columns]
    for _, part in frame.groupby(group_cols, dropna=False):
        part = part.sort_values("snr_db")
        finite = part[part["snr_db"].abs() < 1e9]
        first = part.iloc[0]
        label = str(first.get("system", ""))
        if "channel_uses" in part.columns and first["channel_uses"] > 0:
            label += f" ({int(first['channel_uses'])} channel uses)"
        if len(finite) == 0:  # no channel at all: the noiseless upper bound, a horizontal line
            ax.axhline(part[metric].iloc[0], linestyle="--", color="gray", label=f"{label} bound")
            continue
        (line,) = ax.plot(finite["snr_db"], finite[metric], marker="o", label=label)
        if len(ci) == 2 and all(c in finite.columns for c in ci):
            ax.fill_between(finite["snr_db"], finite[ci[0]], finite[ci[1]], alpha=0.15, color=line.get_color())
    ax.set_xlabel("SNR (Es/N0 per channel use) [dB]")
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title)
    _save(fig, path)
