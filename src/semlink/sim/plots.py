"""Matplotlib figures of results tables (PNG for a glance; PDF and SVG for papers; written atomically).

Experiment figures have one file per channel and one panel per channel-use budget: one line per
system with its band — the spread (min to max) across training seeds where a run trained several,
else the 95 % confidence interval — systems without a budget (``raw``) drawn dashed in every panel,
the no-channel bound as a grey line (with a note where a system passes it beyond chance: that line is
raw-feature kNN, not a bound of class-aware codecs). Against channel uses: one line per system through
its budgets, the budgets labelled on the log axis without overlapping.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import pandas as pd  # noqa: E402

from semlink.io import atomic_path  # noqa: E402
from semlink.sim.report_columns import BOUND_NOTE, bound_passed, log_ticks  # noqa: E402
from semlink.systems.base import variant_role  # noqa: E402

__all__ = ["plot_metric_panels", "plot_waterfall", "write_run_plots"]


def _suptitle(fig, title: str) -> None:
    # Above the figure's top edge: at matplotlib's default height it overlaps the panels' own titles;
    # the tight bounding box of _save takes it in.
    if title:
        fig.suptitle(title, y=1.03)


def _save(fig, path: str | os.PathLike[str], formats: Sequence[str] = ("png",)) -> None:
    path = Path(path)
    for fmt in formats:
        with atomic_path(path.with_suffix(f".{fmt}")) as tmp:
            fig.savefig(tmp, format=fmt, dpi=130, bbox_inches="tight")
    plt.close(fig)


def plot_waterfall(frame: pd.DataFrame, path: str | os.PathLike[str], x: str = "snr_db", title: str = "",
                   formats: Sequence[str] = ("png",)) -> None:
    """BER and BLER against ``x`` on a log y axis, one line per (channel, modulation, code, decoder)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    group_cols = [c for c in ("channel", "modulation", "code_k", "code_n", "csi", "decoder") if c in frame.columns]
    groups = frame.groupby(group_cols, dropna=False) if group_cols else [((), frame)]
    for _, part in groups:
        part = part.sort_values(x)
        first = part.iloc[0]
        code = "uncoded" if pd.isna(first.get("code_k")) else f"LDPC ({int(first['code_k'])},{int(first['code_n'])})"
        label = f"{first.get('channel', '')}, {str(first.get('modulation', '')).upper()}, {code}"
        if "csi" in part.columns:
            label += f", CSI {first['csi']}"
        if "decoder" in part.columns and isinstance(first.get("decoder"), str):
            label += f", {first['decoder']}"
        for ax, metric in zip(axes, ("ber", "bler")):
            values = part[metric].where(part[metric] > 0)  # zeros cannot be drawn on a log axis
            ax.semilogy(part[x], values, marker="o", label=label)
    xlabel = "Eb/N0 [dB]" if x == "ebno_db" else "Es/N0 per channel symbol [dB]"
    for ax, metric in zip(axes, ("BER", "BLER")):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    _suptitle(fig, title)
    _save(fig, path, formats)


def _line_label(first: pd.Series) -> str:
    label = str(first.get("system", ""))
    variant = first.get("variant")
    if isinstance(variant, str) and variant:
        label += f" [{variant}]"
    budget = first.get("budget")
    if (budget is None or (isinstance(budget, float) and math.isnan(budget))) and first.get("channel_uses", 0) > 0:
        label += f" ({int(first['channel_uses'])} uses)"
    return label


def _is_budgetless(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _line_colours(rows: pd.DataFrame, enveloped: set[str]) -> dict[str, tuple[float, ...]]:
    """One colour per line label, the same in every panel and never shared: main lines take the
    strong qualitative palette in order of appearance, the members of a family (drawn thin beside the
    member chosen on validation) a lighter one."""
    main, minor = [], []
    keys = ["system", "variant"] if "variant" in rows else ["system"]
    for _, first in rows.drop_duplicates(keys).iterrows():
        label = _line_label(first)
        is_minor = first["system"] in enveloped and variant_role(first.get("variant")) == "option"
        target = minor if is_minor else main
        if label not in target:
            target.append(label)
    strong = list(plt.get_cmap("tab10").colors) + list(plt.get_cmap("Dark2").colors)
    light = list(plt.get_cmap("Set2").colors) + list(plt.get_cmap("Pastel1").colors)
    colours = {label: strong[i % len(strong)] for i, label in enumerate(main)}
    colours.update({label: light[i % len(light)] for i, label in enumerate(minor)})
    return colours


def plot_metric_panels(
    frame: pd.DataFrame,
    path: str | os.PathLike[str],
    metric: str,
    ci: Sequence[str] = (),
    ylabel: str | None = None,
    title: str = "",
    ylim: tuple[float, float] | None = None,
    formats: Sequence[str] = ("png",),
) -> None:
    """``metric`` against SNR, one panel per budget, one line per (system, variant); see the module docstring."""
    if "variant" in frame.columns:  # per-training-seed rows are summarised by their mean row (band: the spread)
        frame = frame[frame["variant"].map(variant_role) != "seed"]
    # Colours come from every line of the run, so a system keeps its colour in every figure.
    every_line = frame[frame["channel"] != "none"]
    frame = frame[frame[metric].notna()] if metric in frame.columns else frame.iloc[0:0]
    if frame.empty:
        return
    spread = (f"{metric}_seed_min", f"{metric}_seed_max")
    bound = frame[frame["channel"] == "none"]
    rows = frame[frame["channel"] != "none"]
    budgets = sorted({b for b in rows["budget"] if not _is_budgetless(b)}) or [None]
    fig, axes = plt.subplots(1, len(budgets), figsize=(5.2 * len(budgets), 4.2), squeeze=False, sharey=True)
    # A family (e.g. an MCS table): the member chosen on validation is the line, the hindsight choice a
    # dashed one (optimistic), each member thin — where every member scored the test queries ([eval]
    # hindsight); otherwise a member has test points only where it was chosen, not a curve of its own.
    roles = rows["variant"].map(variant_role) if "variant" in rows else pd.Series("main", index=rows.index)
    enveloped = set(rows.loc[roles.isin(["selected", "hindsight"]), "system"])
    every_member_scored = set(rows.loc[roles == "hindsight", "system"])
    rows = rows[~((roles == "option") & rows["system"].isin(enveloped - every_member_scored))]
    colours = _line_colours(every_line, enveloped)
    for ax, budget in zip(axes[0], budgets):
        in_panel = rows[rows["budget"].map(_is_budgetless) | (rows["budget"] == budget)] if budget is not None else rows
        for (_, _, budgetless), part in in_panel.groupby(
            [in_panel["system"], in_panel["variant"].fillna(""), in_panel["budget"].map(_is_budgetless)], sort=False
        ):
            part = part.sort_values("snr_db")
            finite = part[part["snr_db"].abs() < 1e9]
            if finite.empty:
                continue
            first = part.iloc[0]
            label = _line_label(first)
            style = {"linestyle": "--"} if budgetless and budget is not None else {}
            role = variant_role(first.get("variant"))
            minor = first["system"] in enveloped and role == "option"
            if minor:
                style.update(linewidth=0.8, alpha=0.5, markersize=2)
            if role == "hindsight":
                style.update(linestyle="--", linewidth=1.0)
            (line,) = ax.plot(finite["snr_db"], finite[metric], marker="o", label=label,
                              color=colours[label], **{"markersize": 3, **style})
            if minor or role == "hindsight":
                continue
            if all(c in finite.columns for c in spread) and finite[spread[0]].notna().all():
                ax.fill_between(finite["snr_db"], finite[spread[0]], finite[spread[1]], alpha=0.25,
                                color=line.get_color(), linewidth=0)
            elif len(ci) == 2 and all(c in finite.columns for c in ci) and finite[ci[0]].notna().all():
                ax.fill_between(finite["snr_db"], finite[ci[0]], finite[ci[1]], alpha=0.12, color=line.get_color(),
                                linewidth=0)
        for _, b in bound.iterrows():
            ax.axhline(b[metric], linestyle=":", color="gray", label=f"{b['system']} (no channel: raw-feature kNN)")
        ax.set_title(f"{int(budget)} channel uses per image" if budget is not None else "")
        ax.set_xlabel("SNR (Es/N0 per channel use) [dB]")
        ax.grid(True, alpha=0.3)
        if ylim:
            ax.set_ylim(*ylim)
    axes[0][0].set_ylabel(ylabel or metric.replace("_", " "))
    handles, labels = {}, []
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    fig.legend([handles[lab] for lab in labels], labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8,
               bbox_to_anchor=(0.5, -0.05 - 0.035 * math.ceil(len(labels) / 4)))
    passed = bound_passed(rows, bound, metric)
    if passed:
        fig.text(0.01, 1.0, BOUND_NOTE.format(names=", ".join(passed)), fontsize=8, color="#7a4d00",
                 va="bottom", ha="left")
    _suptitle(fig, title + ("\n" if passed else ""))
    _save(fig, path, formats)


def plot_versus_channel_uses(frame: pd.DataFrame, path: str | os.PathLike[str], metric: str, snrs: Sequence[float],
                             ylabel: str, title: str = "", formats: Sequence[str] = ("png",)) -> None:
    """``metric`` against the channel-use budget at a few fixed SNRs (one panel each), one line per system."""
    rows = frame[(frame["channel"] != "none") & frame[metric].notna()] if metric in frame.columns else frame.iloc[0:0]
    if rows.empty or not snrs:
        return
    bound = frame[(frame["channel"] == "none") & frame[metric].notna()]
    rows = rows[rows["channel_uses"] > 0]
    if "variant" in rows.columns:  # per-training-seed rows are summarised by their mean row
        rows = rows[rows["variant"].map(variant_role) != "seed"]
    colours = _line_colours(rows, set())
    ticks = log_ticks(rows["channel_uses"], min_ratio=1.5)
    fig, axes = plt.subplots(1, len(snrs), figsize=(4.6 * len(snrs), 4.0), squeeze=False, sharey=True)
    for ax, snr in zip(axes[0], snrs):
        at = rows[rows["snr_db"] == snr]
        # One line per system through its budgets (a system's points belong together).
        for (_, _), part in at.groupby([at["system"], at["variant"].fillna("")], sort=False):
            part = part.sort_values("channel_uses")
            label = _line_label(part.iloc[0])
            budgetless = part["budget"].map(_is_budgetless).all()
            ax.plot(part["channel_uses"], part[metric], marker="s" if budgetless else "o", markersize=4,
                    linestyle="none" if budgetless else "-", label=label, color=colours.get(label))
        for _, b in bound.iterrows():
            ax.axhline(b[metric], linestyle=":", color="gray", label=f"{b['system']} (no channel: raw-feature kNN)")
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FixedFormatter([f"{t:g}" for t in ticks]))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # no crowded minor labels
        ax.set_title(f"SNR {snr:g} dB")
        ax.set_xlabel("channel uses per image")
        ax.grid(True, which="major", alpha=0.3)
    axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(fontsize=7)
    _suptitle(fig, title)
    _save(fig, path, formats)


def _fixed_snrs(frame: pd.DataFrame, count: int = 3) -> list[float]:
    finite = sorted({float(s) for s in frame["snr_db"] if math.isfinite(s)})
    if len(finite) <= count:
        return finite
    picks = [finite[round(i * (len(finite) - 1) / (count - 1))] for i in range(count)]
    return sorted(set(picks))


def write_run_plots(frame: pd.DataFrame, out: Path, title: str, formats: Sequence[str] = ("png",)) -> None:
    """Every figure of an experiment: per channel, accuracy (top-1, top-k) and PSNR vs SNR, and
    accuracy vs channel uses at fixed SNRs when the run has several budgets."""
    if frame.empty:
        return
    topk = next((c for c in frame.columns if c.startswith("top") and c.endswith("_accuracy") and c != "top1_accuracy"), None)
    bound = frame[frame["channel"] == "none"]
    multi_budget = frame["budget"].dropna().nunique() > 1 if "budget" in frame.columns else False
    for channel, part in frame[frame["channel"] != "none"].groupby("channel"):
        part = pd.concat([part, bound])
        plot_metric_panels(part, out / f"accuracy_top1_{channel}.png", "top1_accuracy", ("top1_ci_low", "top1_ci_high"),
                           "top-1 semantic matching accuracy", f"{title}: top-1 accuracy, {channel}", (0, 1.02), formats)
        if topk:
            k = topk.split("_")[0]
            plot_metric_panels(part, out / f"accuracy_{k}_{channel}.png", topk,
                               (topk.replace("accuracy", "ci_low"), topk.replace("accuracy", "ci_high")),
                               f"{k} accuracy", f"{title}: {k} accuracy, {channel}", (0, 1.02), formats)
        if "psnr_db" in part.columns and part["psnr_db"].notna().any():
            plot_metric_panels(part, out / f"psnr_{channel}.png", "psnr_db", (), "PSNR [dB]",
                               f"{title}: PSNR, {channel}", None, formats)
        if multi_budget:
            plot_versus_channel_uses(part, out / f"accuracy_vs_channel_uses_{channel}.png", "top1_accuracy",
                                     _fixed_snrs(part), "top-1 accuracy", f"{title}: {channel}", formats)
