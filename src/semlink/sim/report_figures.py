"""The report's interactive figures (plotly) of experiments, and the plot machinery they share.

Experiment rows (they name a ``system``): one figure per metric against SNR, one panel per
(channel, budget); systems without a budget (``raw``) appear in every budget's panel and the
no-channel bound is a flat line; noiseless evaluations (``snr_db = inf``) sit at the "∞" tick. A
metric with a 95 % interval gets a band. Where systems differ in channel uses, each primary metric
also gets a figure against channel uses at a few SNRs. BER sweeps: :mod:`semlink.sim.report_waterfall`.

Colour tells the system (or link) apart, dash and marker the run; the legend toggles a line in
every panel, and hovering a point shows its row (identity, context and metrics).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from semlink.sim.report_columns import (
    BOUND_NOTE,
    as_text,
    bound_passed,
    format_value,
    is_missing,
    log_ticks,
    metric_info,
    plotted_metrics,
)

__all__ = ["Lines", "ReportFigure", "Styles", "experiment_figures", "finish_layout", "hover_text", "panel_grid", "split_rows"]

DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "cross", "triangle-down", "pentagon")
SNR_LABEL = "SNR (Es/N0 per channel use) [dB]"
PANEL_HEIGHT = 300
MAX_HOVER_METRICS = 3


@dataclass
class ReportFigure:
    """A figure of the report: ``anchor`` is its HTML id; ``primary`` ones are shown open."""

    title: str
    figure: go.Figure
    anchor: str
    primary: bool = True


@dataclass
class Styles:
    """Consistent styles across figures: a colour per line key, a dash and marker per run."""

    runs: Sequence[str]
    colors: dict[str, str] = field(default_factory=dict)

    def color(self, key: str) -> str:
        if key not in self.colors:
            palette = qualitative.Plotly + qualitative.Dark24
            self.colors[key] = palette[len(self.colors) % len(palette)]
        return self.colors[key]

    def dash(self, run: str) -> str:
        return DASHES[list(self.runs).index(run) % len(DASHES)] if run in self.runs else "solid"

    def symbol(self, run: str) -> str:
        return SYMBOLS[list(self.runs).index(run) % len(SYMBOLS)] if run in self.runs else "circle"


def compact(value: Any) -> Any:
    """A plotted number with 5 significant digits (the page carries every point once more in its table)."""
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.5g}")
    return value


def compact_list(values: Sequence[Any]) -> list[Any]:
    return [compact(float(v)) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in values]


def hover_text(row: dict[str, Any], metrics: Sequence[str]) -> str:
    """The hover box of one point: run, identity, channel uses and the figure's metrics (HTML-escaped).

    The results table below the figures holds every column; the box names the point and its value.
    """
    def line(name: str, value: Any) -> str:
        return f"{html.escape(name)}: {html.escape(format_value(value))}"

    lines = [f"<b>{html.escape(str(row.get('run', '')))}</b>"]
    identity = [html.escape(format_value(row[c])) for c in ("system", "variant", "channel")
                if not is_missing(row.get(c))]
    if not is_missing(row.get("budget")):
        identity.insert(1, f"{html.escape(format_value(row['budget']))} uses")
    snr = row.get("snr_db")
    if not is_missing(snr):
        identity.append("noiseless" if math.isinf(float(snr)) else f"{format_value(snr)} dB")
    lines.append(" · ".join(identity))
    if not is_missing(row.get("ebno_db")) and not math.isinf(float(row["ebno_db"])):
        lines.append(line("Eb/N0 [dB]", row["ebno_db"]))
    context = [line(c, row[c]) for c in ("channel_uses", "cbr", "modulation", "code_k", "code_n")
               if not is_missing(row.get(c))]
    if context:
        lines.append(", ".join(context))
    for name in list(metrics)[:MAX_HOVER_METRICS]:
        value = row.get(name)
        if is_missing(value):
            continue
        info = metric_info(name)
        text = f"<b>{line(info.label, value)}</b>"
        if info.ci and not is_missing(row.get(info.ci[0])) and not is_missing(row.get(info.ci[1])):
            text += f" [{format_value(row[info.ci[0]])}, {format_value(row[info.ci[1]])}]"
        lines.append(text)
    return "<br>".join(lines)


def _budgetless(frame: pd.DataFrame) -> pd.Series:
    return frame["budget"].map(is_missing) if "budget" in frame.columns else pd.Series(True, index=frame.index)


def _system_label(row: dict[str, Any]) -> str:
    label = str(row.get("system", ""))
    if not is_missing(row.get("variant")):
        label += f" [{row['variant']}]"
    if is_missing(row.get("budget")) and not is_missing(row.get("channel_uses")) and float(row["channel_uses"]) > 0:
        label += f" ({format_value(row['channel_uses'])} uses)"
    return label


def split_rows(frame: pd.DataFrame, keys: Sequence[str]) -> list[pd.DataFrame]:
    """Rows split by ``keys`` (missing values form their own group), in order of first appearance."""
    keys = [k for k in keys if k in frame.columns]
    if not keys:
        return [frame]
    return [part for _, part in frame.groupby([as_text(frame[k]) for k in keys], sort=False)]


def _snr_ticks(snrs: Sequence[float], x_inf: float | None, panels: int = 1) -> dict[str, Any]:
    """SNR ticks at the evaluated SNRs (thinned so labels never crowd), ``∞`` for noiseless, never rotated
    (a rotated ``∞`` reads as an ``8``)."""
    values = sorted(set(snrs))
    step = max(1, math.ceil(len(values) / max(4, 16 // max(panels, 1))))
    values = values[::step]
    text = [format_value(v) for v in values]
    if x_inf is not None:
        values, text = values + [x_inf], text + ["∞"]
    return {"tickmode": "array", "tickvals": values, "ticktext": text, "tickangle": 0}


AXIS_STYLE = {"showgrid": True, "gridcolor": "#e5e9f0", "zeroline": False, "linecolor": "#b8c0cc",
              "ticks": "outside", "tickcolor": "#b8c0cc", "automargin": True}


def finish_layout(fig: go.Figure, title: str, rows: int, legend_title: str) -> None:
    # No plotly template: a template is ~7 kB of JSON per figure; these few settings give the same look.
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left"}, template=None,
        height=110 + PANEL_HEIGHT * rows, margin={"l": 70, "r": 20, "t": 80, "b": 60},
        legend={"title": {"text": legend_title}, "font": {"size": 11}, "groupclick": "togglegroup"},
        hoverlabel={"font": {"size": 11}, "align": "left"}, font={"size": 12, "color": "#2a3f5f"},
        plot_bgcolor="white", paper_bgcolor="white", colorway=list(qualitative.Plotly),
    )
    fig.update_xaxes(**AXIS_STYLE)
    fig.update_yaxes(**AXIS_STYLE)


def panel_grid(rows: int, cols: int, titles: Sequence[str], shared_y: bool = True,
               present: Sequence[Sequence[bool]] | None = None) -> go.Figure:
    """A grid of panels; ``present[r][c]`` False leaves that cell without axes (``titles``: the present ones)."""
    specs = [[{} if present is None or present[r][c] else None for c in range(cols)] for r in range(rows)]
    return make_subplots(
        rows=rows, cols=cols, subplot_titles=list(titles), shared_yaxes=shared_y, shared_xaxes=True, specs=specs,
        horizontal_spacing=0.06 if cols > 1 else 0.02, vertical_spacing=min(0.12, 0.35 / rows) if rows > 1 else 0.1,
    )


class Lines:
    """Adds the traces of one figure, each line shown once in the legend however many panels it is in."""

    def __init__(self, fig: go.Figure, styles: Styles, multi_run: bool) -> None:
        self.fig, self.styles, self.multi_run, self.seen = fig, styles, multi_run, set()

    def name(self, run: str, label: str) -> str:
        return f"{run} · {label}" if self.multi_run else label

    def add(self, run: str, color_key: str, label: str, x: list, y: list, text: list, row: int, col: int,
            mode: str = "lines+markers", error: tuple[list, list] | None = None) -> None:
        name = self.name(run, label)
        trace = go.Scatter(
            x=compact_list(x), y=compact_list(y), text=text, hovertemplate="%{text}<extra></extra>", mode=mode,
            name=name, legendgroup=name,
            showlegend=name not in self.seen, connectgaps=False,
            line={"color": self.styles.color(color_key), "dash": self.styles.dash(run), "width": 2},
            marker={"symbol": self.styles.symbol(run), "size": 7},
        )
        if error is not None:
            trace.error_y = {"type": "data", "symmetric": False, "array": compact_list(error[0]),
                             "arrayminus": compact_list(error[1]),
                             "thickness": 1.2, "width": 3}
        self.fig.add_trace(trace, row=row, col=col)
        self.seen.add(name)

    def band(self, run: str, color_key: str, label: str, x: list, low: list, high: list, row: int, col: int) -> None:
        if len(x) < 2:
            return
        self.fig.add_trace(go.Scatter(
            x=compact_list(list(x) + list(x)[::-1]), y=compact_list(list(high) + list(low)[::-1]), fill="toself",
            mode="lines",
            line={"width": 0}, fillcolor=self.styles.color(color_key), opacity=0.15, hoverinfo="skip",
            legendgroup=self.name(run, label), showlegend=False,
        ), row=row, col=col)


def _ci(part: pd.DataFrame, metric: str) -> tuple[str, str] | None:
    ci = metric_info(metric).ci
    if ci and all(c in part.columns for c in ci) and part[list(ci)].notna().all().all():
        return ci
    return None


def _metric_vs_snr(exp: pd.DataFrame, metric: str, styles: Styles, multi_run: bool,
                   all_metrics: Sequence[str]) -> go.Figure | None:
    info = metric_info(metric)
    data = exp[exp[metric].notna()]
    on_air, bound = data[data["channel"] != "none"], data[data["channel"] == "none"]
    if on_air.empty:
        return None
    channels = list(dict.fromkeys(on_air["channel"]))
    budgeted = on_air[~_budgetless(on_air)]
    budgets = sorted({float(b) for b in budgeted["budget"]}) or [None]
    # A panel only where a system has that budget on that channel: never one of reference lines alone.
    present = [[budget is None or bool(((budgeted["channel"] == ch) & (budgeted["budget"] == budget)).any())
                for budget in budgets] for ch in channels]
    finite_snrs = [float(s) for s in on_air["snr_db"] if math.isfinite(float(s))]
    has_inf = len(finite_snrs) < len(on_air)
    low, high = (min(finite_snrs), max(finite_snrs)) if finite_snrs else (0.0, 0.0)
    x_inf = high + max(2.0, 0.12 * (high - low)) if has_inf else None
    titles = [f"{ch}" + (f" · {format_value(b)} channel uses" if b is not None else "")
              for r, ch in enumerate(channels) for c, b in enumerate(budgets) if present[r][c]]
    fig = panel_grid(len(channels), len(budgets), titles, present=present)
    lines = Lines(fig, styles, multi_run)
    for r, channel in enumerate(channels, start=1):
        for c, budget in enumerate(budgets, start=1):
            if not present[r - 1][c - 1]:
                continue
            in_channel = on_air[on_air["channel"] == channel]
            in_panel = in_channel if budget is None else in_channel[
                _budgetless(in_channel) | (in_channel["budget"] == budget)]
            for part in split_rows(in_panel, ["run", "system", "variant", "budget"]):
                part = part.assign(_x=part["snr_db"].map(lambda s: x_inf if math.isinf(float(s)) else float(s)))
                part = part.sort_values("_x")
                records = part.to_dict("records")
                first = records[0]
                label, key = _system_label(first), _system_label({**first, "budget": None, "channel_uses": None})
                points = [{"x": rec["_x"], "y": rec[metric], "text": hover_text(rec, [metric]), "up": None,
                           "down": None, "finite": rec["_x"] != x_inf} for rec in records]
                ci = _ci(part, metric)
                if ci:
                    finite_recs = [rec for rec, p in zip(records, points) if p["finite"]]
                    lines.band(first["run"], key, label, [rec["_x"] for rec in finite_recs],
                               [rec[ci[0]] for rec in finite_recs], [rec[ci[1]] for rec in finite_recs], r, c)
                    for rec, p in zip(records, points):  # the noiseless point gets an error bar, not a band
                        if not p["finite"]:
                            p["up"], p["down"] = rec[ci[1]] - rec[metric], rec[metric] - rec[ci[0]]
                flags = [p["finite"] for p in points]
                if any(flags) and not all(flags):  # break the line before the noiseless point
                    points.insert(flags.index(False), {"x": None, "y": None, "text": "", "up": None, "down": None})
                error = ([p["up"] for p in points], [p["down"] for p in points]) if ci and not all(flags) else None
                lines.add(first["run"], key, label, [p["x"] for p in points], [p["y"] for p in points],
                          [p["text"] for p in points], r, c, error=error)
            x_span = [low, x_inf if x_inf is not None else high]
            for rec in bound.to_dict("records"):
                lines.add(rec["run"], _system_label(rec), f"{_system_label(rec)} (no channel)", x_span,
                          [rec[metric]] * 2, [hover_text(rec, [metric])] * 2, r, c, mode="lines")
    fig.update_xaxes(**_snr_ticks(finite_snrs, x_inf, len(budgets)))
    for c in range(1, len(budgets) + 1):
        row = max((r for r in range(len(channels)) if present[r][c - 1]), default=None)
        if row is not None:
            fig.update_xaxes(title_text="SNR [dB]", row=row + 1, col=c)
    for r in range(1, len(channels) + 1):
        col = next((c for c in range(len(budgets)) if present[r - 1][c]), 0)
        fig.update_yaxes(title_text=info.label, row=r, col=col + 1)
    fig.update_yaxes(range=list(info.y_range) if info.y_range else None, type="log" if info.log_y else None)
    title = f"{info.label} vs SNR (Es/N0 per channel use" + ("; ∞ = noiseless)" if has_inf else ")")
    finish_layout(fig, title, len(channels), "run · system" if multi_run else "system")
    passed = bound_passed(on_air, bound, metric)
    if passed:  # a note under the title, where a reader looks before reading the line as a bound
        note = "<br>".join(html.escape(part) for part in BOUND_NOTE.format(names=", ".join(passed)).split("\n"))
        fig.update_layout(title_text=f"{title}<br><span style='font-size:11px;color:#7a4d00'>{note}</span>",
                          margin={"t": 140}, title_y=0.985, title_yanchor="top")
    return fig


def _pick_snrs(frame: pd.DataFrame, count: int = 3) -> list[float]:
    """Up to ``count`` finite SNRs held by the most runs, spread over their range, then ∞ if present."""
    snrs = frame["snr_db"].astype(float)
    finite = frame[snrs.map(math.isfinite)]
    picks: list[float] = []
    if not finite.empty:
        runs_per_snr = finite.groupby(finite["snr_db"].astype(float))["run"].nunique()
        common = sorted(runs_per_snr[runs_per_snr == runs_per_snr.max()].index)
        if len(common) <= count:
            picks = list(common)
        else:
            picks = sorted({common[round(i * (len(common) - 1) / (count - 1))] for i in range(count)})
    return picks + ([math.inf] if (~snrs.map(math.isfinite)).any() else [])


def _metric_vs_uses(exp: pd.DataFrame, metric: str, styles: Styles, multi_run: bool,
                    all_metrics: Sequence[str]) -> go.Figure | None:
    if "channel_uses" not in exp.columns:
        return None
    info = metric_info(metric)
    data = exp[exp[metric].notna()]
    bound = data[data["channel"] == "none"]
    data = data[(data["channel"] != "none") & (pd.to_numeric(data["channel_uses"], errors="coerce") > 0)]
    if data.empty or data["channel_uses"].nunique() < 2:
        return None
    channels = list(dict.fromkeys(data["channel"]))
    snrs = _pick_snrs(data)
    titles = [f"{ch} · " + ("noiseless" if math.isinf(s) else f"SNR {format_value(s)} dB") for ch in channels for s in snrs]
    fig = panel_grid(len(channels), len(snrs), titles)
    lines = Lines(fig, styles, multi_run)
    uses = data["channel_uses"].astype(float)
    x_span = [uses.min(), uses.max()]
    for r, channel in enumerate(channels, start=1):
        for c, snr in enumerate(snrs, start=1):
            at = data[(data["channel"] == channel) & (data["snr_db"].astype(float) == snr)]
            for part in split_rows(at, ["run", "system", "variant"]):
                part = part.sort_values("channel_uses")
                records = part.to_dict("records")
                key = _system_label({**records[0], "budget": None, "channel_uses": None})
                ci = _ci(part, metric)
                error = None
                if ci:
                    error = ((part[ci[1]] - part[metric]).tolist(), (part[metric] - part[ci[0]]).tolist())
                lines.add(records[0]["run"], key, key, part["channel_uses"].astype(float).tolist(),
                          part[metric].tolist(), [hover_text(rec, [metric]) for rec in records], r, c, error=error)
            for rec in bound.to_dict("records"):
                lines.add(rec["run"], _system_label(rec), f"{_system_label(rec)} (no channel)", x_span,
                          [rec[metric]] * 2, [hover_text(rec, [metric])] * 2, r, c, mode="lines")
    # Labels at the budgets, thinned so none overlaps (a log axis crowds neighbouring budgets).
    ticks = log_ticks(uses, min_ratio=1.5 if len(snrs) <= 4 else 2.0)
    span = [math.log10(uses.min()) - 0.12, math.log10(uses.max()) + 0.12]  # every point inside, markers whole
    fig.update_xaxes(type="log", showgrid=True, tickmode="array", tickvals=ticks, range=span,
                     ticktext=[format_value(t) for t in ticks], tickangle=0)
    for c in range(1, len(snrs) + 1):
        fig.update_xaxes(title_text="channel uses per image", row=len(channels), col=c)
    for r in range(1, len(channels) + 1):
        fig.update_yaxes(title_text=info.label, row=r, col=1)
    fig.update_yaxes(range=list(info.y_range) if info.y_range else None, type="log" if info.log_y else None)
    finish_layout(fig, f"{info.label} vs channel uses per image", len(channels), "run · system" if multi_run else "system")
    return fig


def experiment_figures(results: pd.DataFrame, styles: Styles) -> list[ReportFigure]:
    """Figures of the rows that name a system: each metric vs SNR, primary ones also vs channel uses."""
    if "system" not in results.columns:
        return []
    exp = results[results["system"].map(lambda v: not is_missing(v))]
    if exp.empty or "snr_db" not in exp.columns or "channel" not in exp.columns:
        return []
    for column in ("variant", "budget"):
        if column not in exp.columns:
            exp = exp.assign(**{column: None})
    multi_run = exp["run"].nunique() > 1
    metrics = plotted_metrics(exp, ["run", "system", "budget", "variant", "channel"])
    figures = []
    for metric in metrics:
        info = metric_info(metric)
        for suffix, build in (("snr", _metric_vs_snr), ("uses", _metric_vs_uses)):
            if suffix == "uses" and not info.primary:
                continue
            fig = build(exp, metric, styles, multi_run, metrics)
            if fig is not None:
                title = fig.layout.title.text.split("<br>")[0]  # without a note under it
                figures.append(ReportFigure(title, fig, f"fig-{metric}-{suffix}", info.primary))
    return figures
