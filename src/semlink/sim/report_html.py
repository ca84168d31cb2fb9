"""The report page: header, config differences, figures, sortable tables, each run's manifest.

Everything is in one HTML file, its body and plotly.js packed inside it (:mod:`semlink.sim.report_packing`;
:func:`report_text` unpacks a page for reading it without a browser); a little CSS and JavaScript of
its own sort and filter the tables and resize figures in sections opened later. Nothing is fetched
when the page is viewed.
"""

from __future__ import annotations

import datetime
import html
import json
import math
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from semlink.sim.report_columns import (
    as_text,
    format_value,
    is_missing,
    metric_info,
    ordered_columns,
    plotted_metrics,
)
from semlink.sim.report_packing import DEFERRED_SCRIPT, pack_body, plotly_js, report_text

__all__ = ["config_differences", "flatten_config", "html_table", "plotly_js", "render_page", "report_text",
           "resolved_config"]

MAX_TABLE_ROWS = 10_000
PLOT_CONFIG = {"displaylogo": False, "responsive": True, "scrollZoom": False,
               "toImageButtonOptions": {"format": "svg", "scale": 1}}

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1d2330;
       background: #fafbfc; line-height: 1.4; }
main { max-width: 1400px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 1.6em; margin: 0.4em 0 0.1em; } h2 { font-size: 1.25em; margin-top: 1.8em;
  border-bottom: 1px solid #d8dde6; padding-bottom: 4px; } h3 { font-size: 1.05em; }
.meta { color: #5a6474; margin: 0 0 0.8em; } .warn { color: #b42318; font-weight: 600; }
nav { font-size: 0.92em; background: #eef1f6; padding: 6px 10px; border-radius: 6px; }
nav a { margin-right: 14px; color: #1f4fbf; text-decoration: none; }
.figure { background: white; border: 1px solid #e2e6ee; border-radius: 6px; margin: 14px 0; padding: 4px; }
.scroll { display: inline-block; max-width: 100%; vertical-align: top; overflow: auto; max-height: 70vh; border: 1px solid #e2e6ee; border-radius: 6px; background: white; }
table { border-collapse: collapse; font-size: 12px; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 8px; border-bottom: 1px solid #eef0f4; white-space: nowrap; text-align: left; }
thead th { position: sticky; top: 0; background: #e9edf4; z-index: 1; }
table.sortable thead th { cursor: pointer; user-select: none; }
table.sortable thead th[data-order="asc"]::after { content: " \\25B2"; }
table.sortable thead th[data-order="desc"]::after { content: " \\25BC"; }
tbody tr:nth-child(even) { background: #f7f8fb; } tbody tr:hover { background: #fff6d6; }
td.num { text-align: right; } table.wrap td { white-space: normal; }
details { margin: 10px 0; background: white; border: 1px solid #e2e6ee; border-radius: 6px; padding: 6px 10px; }
summary { cursor: pointer; font-weight: 600; }
pre { font-size: 12px; background: #f4f6fa; padding: 8px; overflow: auto; max-height: 60vh; }
input.filter { margin: 6px 0; padding: 4px 8px; width: 320px; font-size: 13px; }
dl.manifest { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; font-size: 13px; }
dl.manifest dt { color: #5a6474; } dl.manifest dd { margin: 0; font-family: ui-monospace, monospace; }
"""

SCRIPT = """
(function () {
  function cellKey(row, index) {
    var cell = row.cells[index];
    if (!cell) { return ""; }
    return cell.hasAttribute("data-v") ? parseFloat(cell.getAttribute("data-v")) : cell.textContent;
  }
  document.querySelectorAll("table.sortable thead th").forEach(function (th) {
    th.addEventListener("click", function () {
      var table = th.closest("table"), body = table.tBodies[0];
      var index = Array.prototype.indexOf.call(th.parentNode.children, th);
      var ascending = th.getAttribute("data-order") !== "asc";
      th.parentNode.querySelectorAll("th").forEach(function (h) { h.removeAttribute("data-order"); });
      th.setAttribute("data-order", ascending ? "asc" : "desc");
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = cellKey(a, index), y = cellKey(b, index), d;
        var nx = typeof x === "number" && !isNaN(x), ny = typeof y === "number" && !isNaN(y);
        if (nx && ny) { d = x - y; } else if (nx) { d = -1; } else if (ny) { d = 1; }
        else { d = String(x).localeCompare(String(y), undefined, {numeric: true}); }
        return ascending ? d : -d;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  document.querySelectorAll("input.filter").forEach(function (input) {
    input.addEventListener("input", function () {
      var query = input.value.toLowerCase();
      document.getElementById(input.getAttribute("data-table")).querySelectorAll("tbody tr").forEach(function (r) {
        r.style.display = r.textContent.toLowerCase().indexOf(query) >= 0 ? "" : "none";
      });
    });
  });
  document.querySelectorAll("details").forEach(function (d) {
    d.addEventListener("toggle", function () {
      if (d.open && window.Plotly) {
        d.querySelectorAll(".js-plotly-plot").forEach(function (p) { window.Plotly.Plots.resize(p); });
      }
    });
  });
})();
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _show(value: Any) -> str:
    """A config value as text: strings bare, everything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(", ", ": "), default=str)


def flatten_config(value: Any, prefix: str = "") -> dict[str, str]:
    """Nested config → ``{"link.channel.name": "awgn", "systems[kbsc].channel_uses": "16", ...}``.

    Lists of tables are keyed by each entry's ``name`` (else ``type``) where those are distinct,
    otherwise by position; lists of plain values stay one value.

    >>> flatten_config({"link": {"csi": "ls"}, "systems": [{"type": "raw"}], "snr_db": [0, 10]})
    {'link.csi': 'ls', 'systems[raw].type': 'raw', 'snr_db': '[0, 10]'}
    """
    if isinstance(value, dict):
        if not value:
            return {prefix: "{}"} if prefix else {}
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(flatten_config(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        names = [v.get("name") or v.get("type") for v in value]
        if any(n is None for n in names) or len(set(map(str, names))) != len(names):
            names = list(range(len(value)))
        out = {}
        for name, item in zip(names, value):
            out.update(flatten_config(item, f"{prefix}[{name}]"))
        return out
    return {prefix: _show(value)}


def _manifest_facts(manifest: dict[str, Any]) -> dict[str, str]:
    facts = {key: manifest.get(key) for key in ("git_commit", "status", "platform") if key in manifest}
    flat = {f"manifest: {k}": _show(v) for k, v in facts.items()}
    for group in ("versions", "executor"):
        if isinstance(manifest.get(group), dict):
            flat.update({f"manifest: {k}": v for k, v in flatten_config(manifest[group], group).items()})
    return flat


def _missing(flat: dict[str, str], key: str) -> str:
    """What a run has instead of ``key``: a parent set to a plain value, entries below it, or nothing."""
    for cut in range(len(key) - 1, 0, -1):
        if key[cut] in ".[" and key[:cut] in flat:
            return f"({key[:cut]} = {flat[key[:cut]]})"
    if any(k.startswith((key + ".", key + "[")) for k in flat):
        return "(entries below)"
    return "(absent)"


def resolved_config(run: Any) -> dict[str, Any]:
    """The run's config with its defaults filled in (the manifest's ``resolved_config``), else as given."""
    resolved = run.manifest.get("resolved_config")
    return resolved if isinstance(resolved, dict) else run.config


def config_differences(runs: Sequence[Any]) -> pd.DataFrame:
    """The config keys (and manifest facts: commit, versions, status, executor) whose values differ.

    Values are the resolved ones where a run recorded them (a default left out in one config and
    written in another is no difference). One row per differing key, one column per run; a key a run
    lacks reads ``(absent)``.
    """
    flats = []
    for run in runs:
        flat = flatten_config(resolved_config(run))
        flat.update(_manifest_facts(run.manifest))
        flats.append(flat)
    keys = list(dict.fromkeys(k for flat in flats for k in flat))
    rows = []
    for key in keys:
        values = [flat[key] if key in flat else _missing(flat, key) for flat in flats]
        if len(set(values)) > 1:
            rows.append({"key": key, **{run.label: v for run, v in zip(runs, values)}})
    return pd.DataFrame(rows, columns=["key", *[run.label for run in runs]])


def _cell(value: Any, numeric: bool = True) -> str:
    text = _esc(format_value(value))
    if not numeric or isinstance(value, bool) or is_missing(value):
        return f"<td>{text}</td>"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return f"<td>{text}</td>"
    raw = "Infinity" if number == math.inf else "-Infinity" if number == -math.inf else repr(number)
    return f'<td class="num" data-v="{raw}">{text}</td>'


def html_table(frame: pd.DataFrame, table_id: str, max_rows: int = MAX_TABLE_ROWS, filterable: bool = True,
               numeric: bool = True, wrap: bool = False) -> str:
    """A sortable (click a header) and filterable HTML table of ``frame``, values as :func:`format_value`
    shows them; ``numeric=False`` keeps every cell text (left-aligned, sorted as text), ``wrap`` lets long
    cells wrap."""
    shown = frame.head(max_rows)
    header = "".join(f'<th title="{_esc(metric_info(c).label)}">{_esc(c)}</th>' for c in frame.columns)
    body = "\n".join("<tr>" + "".join(_cell(v, numeric) for v in row) + "</tr>" for row in shown.itertuples(index=False))
    parts = []
    if filterable:
        parts.append(f'<input class="filter" type="search" placeholder="filter rows (any text)" '
                     f'data-table="{_esc(table_id)}">')
    if len(frame) > len(shown):
        parts.append(f'<p class="warn">showing the first {len(shown)} of {len(frame)} rows</p>')
    classes = "sortable wrap" if wrap else "sortable"
    parts.append(f'<div class="scroll"><table class="{classes}" id="{_esc(table_id)}"><thead><tr>{header}</tr></thead>'
                 f"<tbody>\n{body}\n</tbody></table></div>")
    return "\n".join(parts)


def _run_contents(run: Any) -> str:
    """What a run holds, in a few words: its systems, or its link."""
    frame = run.results
    if frame.empty:
        return "no rows yet"
    if "system" in frame.columns:
        names = as_text(frame["system"]) + frame.get("variant", pd.Series("", index=frame.index)).map(
            lambda v: "" if is_missing(v) else f" [{v}]")
        return ", ".join(dict.fromkeys(names))
    link = run.config.get("link", {}) if isinstance(run.config.get("link"), dict) else {}
    code = link.get("code")
    code_text = "uncoded" if code == "uncoded" else f"LDPC ({code[0]},{code[1]})" if isinstance(code, list) else ""
    channel = link.get("channel", {}).get("name", "") if isinstance(link.get("channel"), dict) else ""
    grid = "flat" if "ofdm" in link and link["ofdm"] is None else "OFDM" if link.get("ofdm") else ""
    return ", ".join(str(p) for p in (str(link.get("modulation", "")).upper(), code_text, channel, grid,
                                     f"CSI {link['csi']}" if link.get("csi") else "") if p)


def _runs_table(runs: Sequence[Any]) -> str:
    rows = []
    for run in runs:
        m = run.manifest
        wall = m.get("wall_seconds") if isinstance(m.get("wall_seconds"), dict) else {}
        seconds = wall.get("total")
        rows.append({
            "run": run.label, "folder": str(run.path), "kind": run.kind, "contents": _run_contents(run),
            "status": m.get("status", "?"), "rows": len(run.results), "points": m.get("n_points"),
            "created (UTC)": str(m.get("created_utc") or "").replace("T", " ").removesuffix("+00:00"),
            "git commit": str(m.get("git_commit") or "")[:12],
            "seed": m.get("seed"), "executor": (m.get("executor") or {}).get("name") if isinstance(
                m.get("executor"), dict) else m.get("executor"),
            "wall time [s]": round(float(seconds), 1) if seconds is not None else None,
            "phases [s]": ", ".join(f"{k} {float(v):.1f}" for k, v in (wall.get("phases") or {}).items()),
            "host": m.get("host"),
        })
    return html_table(pd.DataFrame(rows), "runs-table", filterable=False, wrap=True)


def _differences_section(runs: Sequence[Any]) -> str:
    if len(runs) < 2:
        return "<p>One run: nothing to compare.</p>"
    kinds = list(dict.fromkeys(run.kind for run in runs))
    parts = []
    if len(kinds) > 1:
        parts.append(f"<p>The runs are of different kinds ({', '.join(map(_esc, kinds))}); configs are compared "
                     "within each kind.</p>")
    for kind in kinds:
        group = [run for run in runs if run.kind == kind]
        if len(group) < 2:
            continue
        diff = config_differences(group)
        heading = f"<h3>{_esc(kind)} runs: {', '.join(_esc(r.label) for r in group)}</h3>" if len(kinds) > 1 else ""
        if diff.empty:
            parts.append(f"{heading}<p>Their configs and manifests (commit, versions) are identical.</p>")
        else:
            same = "" if diff["key"].str.startswith("manifest: ").any() else (
                " Their git commit, package versions and executor are the same.")
            parts.append(f"{heading}<p>{len(diff)} config keys or manifest facts differ.{same}</p>"
                         + html_table(diff, f"diff-{kinds.index(kind)}", filterable=False, numeric=False))
    return "\n".join(parts) or "<p>No two runs of the same kind: nothing to compare.</p>"


def _run_details(run: Any, index: int) -> str:
    m = run.manifest
    wall = m.get("wall_seconds") if isinstance(m.get("wall_seconds"), dict) else {}
    facts = {"folder": str(run.path.resolve()), "kind": run.kind, "status": m.get("status"),
             "command": m.get("command"), "created (UTC)": m.get("created_utc"), "git commit": m.get("git_commit"),
             "seed": m.get("seed"), "executor": _show(m.get("executor")), "points": m.get("n_points"),
             "rows": len(run.results), "host": m.get("host"), "threads": _show(m.get("threads")) if m.get("threads")
             else None, "platform": m.get("platform"),
             "wall time": (f"{float(wall['total']):.1f} s (" + ", ".join(
                 f"{k} {float(v):.1f} s" for k, v in (wall.get("phases") or {}).items()) + ")") if wall.get("total")
             is not None else None}
    dl = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc('' if v is None else v)}</dd>" for k, v in facts.items())
    versions = m.get("versions") if isinstance(m.get("versions"), dict) else {}
    version_text = ", ".join(f"{_esc(k)} {_esc(v)}" for k, v in versions.items())
    timing = ""
    if "seconds" in run.timings.columns and len(run.timings):
        t = run.timings["seconds"]
        timing = (f"<p>Point evaluation: {t.sum():.1f} s over {len(t)} points (median {t.median():.2f} s, "
                  f"slowest {t.max():.2f} s).</p>")
    config = json.dumps(resolved_config(run), indent=2, sort_keys=False, default=str)
    state = "" if m.get("status") == "complete" else f' <span class="warn">({_esc(m.get("status", "?"))})</span>'
    return (f'<details id="run-{index}"><summary>{_esc(run.label)} — {_esc(run.kind)}{state}</summary>'
            f'<dl class="manifest">{dl}</dl><p><b>Versions:</b> {version_text or "not recorded"}</p>{timing}'
            f"<details><summary>Resolved config (defaults filled in)</summary><pre>{_esc(config)}</pre></details>"
            "</details>")


def _figure_html(figure: Any) -> str:
    import plotly.io as pio

    div = pio.to_html(figure.figure, full_html=False, include_plotlyjs=False, div_id=figure.anchor,
                      config=PLOT_CONFIG, default_width="100%")
    div = re.sub(r"<script(\s+type=\"text/javascript\")?>", f'<script type="{DEFERRED_SCRIPT}">', div)
    return f'<div class="figure">{div}</div>'


def render_page(runs: Sequence[Any], results: pd.DataFrame, comparisons: pd.DataFrame, title: str | None,
                generated: datetime.datetime) -> str:
    """The whole page for ``runs`` (:class:`semlink.sim.report.Run`) and their tables, each concatenated over
    the runs with a ``run`` column (:func:`semlink.sim.report.concat_tables`)."""
    from semlink import __version__
    from semlink.sim.report_figures import Styles, experiment_figures
    from semlink.sim.report_training import training_figures
    from semlink.sim.report_waterfall import ber_figures

    labels = [run.label for run in runs]
    styles = Styles(labels)
    prefer_ebno = any(run.kind == "BER sweep" and run.config.get("ebno_db") is not None for run in runs)
    figures = (ber_figures(results, styles, prefer_ebno) + experiment_figures(results, styles)
               + training_figures(runs, styles))
    primary = [f for f in figures if f.primary]
    secondary = [f for f in figures if not f.primary]

    title = title or ("semlink report: " + ", ".join(labels))
    incomplete = [r.label for r in runs if r.manifest.get("status") != "complete"]
    nav = [("runs", "Runs"), ("differences", "What differs"), ("figures", "Figures"), ("results", "Results")]
    if not comparisons.empty:
        nav.append(("comparisons", "Paired comparisons"))
    nav.append(("details", "Run details"))

    body = [f"<h1>{_esc(title)}</h1>",
            f'<p class="meta">Generated {generated.strftime("%Y-%m-%d %H:%M:%S UTC")} by semlink {_esc(__version__)} '
            f"from {len(runs)} run{'s' if len(runs) != 1 else ''}: {_esc(', '.join(labels))}. "
            "Lines: colour = system or link, dash and marker = run; click a legend entry to hide it "
            "in every panel, hover a point for its row.</p>"]
    if incomplete:
        body.append(f'<p class="warn">Not complete (partial results): {_esc(", ".join(incomplete))}</p>')
    for run in runs:
        for warning in run.manifest.get("warnings") or []:
            body.append(f'<p class="warn">{_esc(run.label)}: {_esc(warning)}</p>')
    body.append("<nav>" + "".join(f'<a href="#{a}">{_esc(t)}</a>' for a, t in nav) + "</nav>")
    body += ['<section id="runs"><h2>Runs</h2>', _runs_table(runs), "</section>"]
    body += ['<section id="differences"><h2>What differs between the runs</h2>', _differences_section(runs),
             "</section>"]
    body.append('<section id="figures"><h2>Figures</h2>')
    if not figures:
        body.append("<p>No metric to plot (no rows with SNR and a metric).</p>")
    else:
        body.append("<p>" + " · ".join(f'<a href="#{_esc(f.anchor)}">{_esc(f.title)}</a>' for f in figures) + "</p>")
    body += [_figure_html(f) for f in primary]
    if secondary:
        body.append(f"<details><summary>More metrics ({len(secondary)} figures)</summary>")
        body += [_figure_html(f) for f in secondary]
        body.append("</details>")
    body.append("</section>")
    metrics = plotted_metrics(results, ["run", "system", "budget", "variant", "channel"])
    results = results[ordered_columns(results.columns, metrics)]
    body += ['<section id="results"><h2>Results</h2>',
             f"<p>{len(results)} rows, {len(results.columns)} columns (all runs, one tidy table; "
             "click a header to sort).</p>", html_table(results, "results-table"), "</section>"]
    if not comparisons.empty:
        body += ['<section id="comparisons"><h2>Paired comparisons</h2>',
                 "<p>Differences between systems on the same queries and channel realisations, with 95 % "
                 "intervals (system a minus system b).</p>", html_table(comparisons, "comparisons-table"),
                 "</section>"]
    body += ['<section id="details"><h2>Run details</h2>',
             *(_run_details(run, i) for i, run in enumerate(runs)), "</section>"]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{CSS}</style></head>\n"
        f"{pack_body(chr(10).join(body), SCRIPT)}</html>\n"
    )
