"""The report's BER/BLER waterfalls: the rows of BER sweeps (no ``system``), overlaid across runs.

BER and BLER (and any other metric of those rows) on a log axis against Es/N0 or Eb/N0 (buttons
switch the axis; the default is Eb/N0 when a sweep was given in Eb/N0), one row of panels per
channel. A curve is one run's link; its legend names the link settings that differ between curves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from semlink.sim.report_columns import (
    LINK_COLUMNS,
    as_text,
    format_value,
    is_missing,
    metric_info,
    plotted_metrics,
)
from semlink.sim.report_figures import (
    SNR_LABEL,
    Lines,
    ReportFigure,
    Styles,
    finish_layout,
    hover_text,
    panel_grid,
    split_rows,
)

__all__ = ["ber_figures"]

EBNO_LABEL = "Eb/N0 [dB]"

_LINK_FORMATS = {
    "csi": "CSI {}", "interpolation": "{} interpolation", "equalizer": "{} equaliser", "decoder": "{} decoder",
    "bp_iterations": "{} BP iterations", "delay_spread_ns": "{} ns", "speed_mps": "{} m/s",
}


def _link_label(row: dict[str, Any], columns: Sequence[str]) -> str:
    """A short description of a BER curve's link from the ``columns`` that differ between curves."""
    parts = []
    for column in columns:
        value = row.get(column)
        if column == "code_k":
            parts.append("uncoded" if is_missing(value) else
                         f"LDPC ({format_value(value)},{format_value(row.get('code_n'))})")
        elif column in ("code_n", "code_rate") and "code_k" in columns:
            continue  # said by the code
        elif is_missing(value):
            continue
        elif column == "modulation":
            parts.append(str(value).upper())
        elif column == "ofdm":
            parts.append("OFDM" if bool(value) else "flat")
        else:
            parts.append(_LINK_FORMATS.get(column, column + " {}").format(format_value(value)))
    return ", ".join(parts)


def _log_axis(values: pd.Series) -> dict[str, Any]:
    """A log axis labelled at the decades when the values span more than one (minor labels clutter it)."""
    positive = values[values > 0]
    span = math.log10(positive.max() / positive.min()) if len(positive) else 0.0
    return {"type": "log", "exponentformat": "power", **({"dtick": 1} if span > 1.2 else {})}


def ber_figures(results: pd.DataFrame, styles: Styles, prefer_ebno: bool = False) -> list[ReportFigure]:
    """BER/BLER (and any other metric of BER-sweep rows) against SNR or Eb/N0, one panel row per channel."""
    if "system" in results.columns:
        results = results[results["system"].map(is_missing)]
    rows = results[[c for c in results.columns if c != "system"]]
    if rows.empty or not {"ber", "bler"} & set(rows.columns) or "snr_db" not in rows.columns:
        return []
    rows = rows[rows[[c for c in ("ber", "bler") if c in rows.columns]].notna().any(axis=1)]
    if rows.empty:
        return []
    if "channel" not in rows.columns:
        rows = rows.assign(channel="")
    link_columns = [c for c in LINK_COLUMNS if c in rows.columns]
    differing = [c for c in link_columns if as_text(rows[c]).nunique() > 1]
    if "code_n" in differing and "code_k" not in differing:
        differing.insert(0, "code_k")
    metrics = plotted_metrics(rows, ["run", "channel", *link_columns])
    channels = list(dict.fromkeys(rows["channel"]))
    multi_run = rows["run"].nunique() > 1
    axes = ["snr_db"] + (["ebno_db"] if "ebno_db" in rows.columns and rows["ebno_db"].notna().all() else [])
    x_axis = "ebno_db" if prefer_ebno and "ebno_db" in axes else "snr_db"
    titles = [f"{ch} · {metric_info(m).label}" if ch else metric_info(m).label for ch in channels for m in metrics]
    fig = panel_grid(len(channels), len(metrics), titles, shared_y=False)
    lines = Lines(fig, styles, multi_run)
    xs: dict[str, list[list[float]]] = {axis: [] for axis in axes}
    for r, channel in enumerate(channels, start=1):
        for c, metric in enumerate(metrics, start=1):
            info = metric_info(metric)
            in_panel = rows[(rows["channel"] == channel) & rows[metric].notna()]
            for part in split_rows(in_panel, ["run", *link_columns]):
                part = part.sort_values(x_axis)
                records = part.to_dict("records")
                label = _link_label(records[0], differing) or "link"
                y = [None if info.log_y and v <= 0 else v for v in part[metric]]  # a log axis cannot show zero
                lines.add(records[0]["run"], label, label, part[x_axis].tolist(), y,
                          [hover_text(rec, metrics) for rec in records], r, c)
                for axis in axes:
                    xs[axis].append(part[axis].astype(float).tolist())
            fig.update_yaxes(title_text=info.label, row=r, col=c, **_log_axis(in_panel[metric]) if info.log_y else {})
    labels = {"snr_db": SNR_LABEL, "ebno_db": EBNO_LABEL}
    bottom = [f"xaxis{'' if i == 1 else i}.title.text" for i in range((len(channels) - 1) * len(metrics) + 1,
                                                                        len(channels) * len(metrics) + 1)]
    for c in range(1, len(metrics) + 1):
        fig.update_xaxes(title_text=labels[x_axis], row=len(channels), col=c)
    fig.update_xaxes(showgrid=True)
    if len(axes) > 1:
        buttons = [{"label": f"x: {'Eb/N0' if axis == 'ebno_db' else 'Es/N0'}", "method": "update",
                    "args": [{"x": xs[axis]}, {key: labels[axis] for key in bottom}]} for axis in axes]
        if x_axis == "ebno_db":
            buttons.reverse()
        fig.update_layout(updatemenus=[{"type": "buttons", "direction": "right", "buttons": buttons,
                                        "x": 1.0, "xanchor": "right", "y": 1.0, "yanchor": "bottom", "pad": {"b": 30},
                                        "showactive": True}])
    finish_layout(fig, " / ".join(metric_info(m).label for m in metrics) + " waterfall", len(channels),
            "run · link" if multi_run else "link")
    return [ReportFigure(fig.layout.title.text, fig, "fig-waterfall", True)]
