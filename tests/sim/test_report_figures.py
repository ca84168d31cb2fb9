"""The report and figures read right: a readable noiseless tick, the whole run's wall time with its phases,
log ticks that do not overlap, lines through a system's budgets, a note where a system passes the raw-feature
line, no panel of reference lines alone, config differences on resolved values, training curves, under 1.5 MB
with plotly.js once, and the page opened in headless Chromium (screenshots kept for a person to look at)."""

from __future__ import annotations

import base64
import gzip
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semlink.metrics import binomial_ci
from semlink.sim.plots import write_run_plots
from semlink.sim.report import read_runs, write_report
from semlink.sim.report_columns import bound_passed, log_ticks
from semlink.sim.report_html import config_differences, report_text
from semlink.sim.runner import RunDirectory, make_points, run_points

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
SHOTS = Path(os.environ.get("SEMLINK_UI_SHOTS", "/work/notes/ui"))


def _accuracy(system: str, budget, channel: str, snr: float) -> float:
    if system == "noiseless":
        return 0.70
    if system == "raw":
        return 0.70 if math.isinf(snr) else 0.70 / (1 + math.exp(-(snr + 2) / 2))
    if system == "kbsc":  # class-aware: above the raw-feature line at high SNR
        return min(0.95, (0.85 if math.isinf(snr) else 0.85 / (1 + math.exp(-(snr - 1) / 2))) * (0.8 + budget / 320))
    return 0.4 / (1 + math.exp(-snr / 3))


def _evaluate(point):
    p = point.params
    rng = np.random.default_rng(point.seed)
    uses = p["budget"] or (640 if p["system"] == "raw" else 0)
    n = 400
    hits = int(rng.binomial(n, _accuracy(p["system"], p["budget"], p["channel"], p["snr_db"])))
    low, high = binomial_ci(hits, n)
    row = {"noiseless": math.isinf(p["snr_db"]), "channel_uses": uses, "cbr": uses / 784,
           "top1_accuracy": hits / n, "top1_ci_low": low, "top1_ci_high": high, "n_queries": n,
           "fft_size": 72, "link": "analog"}
    if p["system"] == "deep-jscc":
        row["psnr_db"] = 15 + 2 * math.log2(uses / 64) + (0 if math.isinf(p["snr_db"]) else p["snr_db"] / 4)
    return row


def _run(out: Path, name: str, ofdm_written: bool) -> Path:
    snrs = [-6, -4, -2, 0, 2, 4, 6, 8, 10, 12, 14, 16, math.inf]
    grid = []
    for system, budgets, channels in (("kbsc", [16, 32, 64], ["awgn", "tdl-a"]), ("deep-jscc", [64, 128], ["awgn"]),
                                      ("raw", [None], ["awgn", "tdl-a"])):
        grid += [{"system": system, "budget": b, "variant": "", "channel": ch, "snr_db": float(s)}
                 for b in budgets for ch in channels for s in snrs]
    grid.append({"system": "noiseless", "budget": None, "variant": "", "channel": "none", "snr_db": math.inf})
    # One run writes the OFDM grid's defaults out, the other leaves them to the defaults: the same link.
    ofdm = {"fft_size": 72, "num_ofdm_symbols": 14} if ofdm_written else {"fft_size": None, "num_ofdm_symbols": None}
    config = {"name": name, "seed": 1, "link": {"ofdm": ofdm}, "systems": [{"type": "kbsc"}]}
    resolved = {**config, "link": {"ofdm": {"fft_size": 72, "num_ofdm_symbols": 14}}}
    manifest = {"resolved_config": resolved, "command": f"semlink run {name}.toml --out {out}", "host": "test-host",
                "wall_seconds": {"total": 612.5, "phases": {"data and features": 30.0, "training": 340.0,
                                                            "evaluation": 70.0, "tables and figures": 172.5}},
                "warnings": ["top5_accuracy is near trivial: k = 5 is at least the 2 classes of the data"]}
    run_points(make_points(1, grid), _evaluate, out, config=config, seed=1, progress="none", manifest=manifest)
    RunDirectory(out).write_manifest(config, 1, status="complete", n_points=len(grid), **manifest)
    curve = out / "checkpoints" / "kbsc__32cu__awgn"
    curve.mkdir(parents=True)
    pd.DataFrame({"epoch": [1, 2, 3], "kept": [False, True, False], "epoch_loss": [3.0, 2.0, 1.9],
                  "val_accuracy": [0.3, 0.6, 0.58]}).to_csv(curve / "training_curve.csv", index=False)
    return out


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("report-runs")
    return [_run(root / "a", "written", True), _run(root / "b", "defaults", False)]


def _figure(html_text: str, anchor: str) -> dict:
    start = html_text.index(f'Plotly.newPlot(                        "{anchor}",')
    body = html_text[start:].split(",", 1)[1].strip()
    decoder = json.JSONDecoder()
    data, end = decoder.raw_decode(body)
    layout, _ = decoder.raw_decode(body[end:].strip().lstrip(",").strip())
    return {"data": data, "layout": layout}


def test_one_runs_report_is_small_and_reads_right(two_runs, tmp_path):
    page = tmp_path / "one.html"
    write_report(two_runs[:1], page)
    assert page.stat().st_size < 1.5e6, page.stat().st_size
    raw = page.read_text(encoding="utf-8")
    assert raw.count('id="plotly-js-gzip"') == 1  # plotly.js once, packed: the page unpacks it
    packed = raw.split('id="plotly-js-gzip" type="application/gzip;base64">', 1)[1].split("<", 1)[0]
    assert gzip.decompress(base64.b64decode(packed)).decode().count("plotly.js (basic - minified)") == 1
    text = report_text(page)  # the body unpacked
    snr = _figure(text, "fig-top1_accuracy-snr")
    layout = snr["layout"]
    assert not layout.get("template")  # no plotly template JSON repeated in every figure
    xaxes = [v for k, v in layout.items() if k.startswith("xaxis")]
    assert all(axis.get("tickangle") == 0 for axis in xaxes)  # "∞" stays upright, never an "8"
    assert all(axis["ticktext"][-1] == "∞" for axis in xaxes)
    assert len(xaxes[0]["ticktext"]) <= 8  # 13 SNRs thinned for 3 panels side by side
    # Panels: (awgn, tdl-a) x budgets (16, 32, 64, 128) hold a system with that budget, never raw alone.
    titles = [a["text"] for a in layout["annotations"] if "channel uses" in a["text"]]
    assert "tdl-a · 128 channel uses" not in titles and "awgn · 128 channel uses" in titles
    assert len(titles) == 7
    # kbsc passes the raw-feature line beyond chance: the note says why
    assert "kbsc above the noiseless line" in layout["title"]["text"] and "class-aware" in layout["title"]["text"]
    uses = _figure(text, "fig-top1_accuracy-uses")["layout"]
    assert uses["xaxis"]["type"] == "log" and uses["xaxis"]["ticktext"] == ["16", "32", "64", "128", "640"]
    kbsc = [t for t in _figure(text, "fig-top1_accuracy-uses")["data"] if t.get("name") == "kbsc"]
    assert kbsc and len(kbsc[0]["x"]) == 3 and kbsc[0]["mode"] == "lines+markers"  # one line through its budgets
    assert "wall time [s]" in text and "612.5" in text and "training 340.0" in text and "compute [s]" not in text
    assert "near trivial" in text and "fig-training" in text


def test_config_differences_compare_resolved_values(two_runs):
    runs = read_runs(two_runs)
    keys = set(config_differences(runs)["key"])
    assert "link.ofdm.fft_size" not in keys and "name" in keys  # 72 written out = 72 by default


def test_log_ticks_and_the_bound_rule():
    assert log_ticks([16, 20, 32, 64, 100, 128, 640]) == [16.0, 32.0, 64.0, 128.0, 640.0]
    assert log_ticks([64, 128], min_ratio=2.2) == [64.0, 128.0]
    rows = pd.DataFrame({"system": ["kbsc", "raw"], "top1_accuracy": [0.8, 0.72], "top1_ci_low": [0.75, 0.66]})
    bound = pd.DataFrame({"system": ["noiseless"], "top1_accuracy": [0.7], "top1_ci_high": [0.74]})
    assert bound_passed(rows, bound, "top1_accuracy") == ["kbsc"]  # raw's 0.72 is within chance of 0.7


def test_matplotlib_figures_label_budgets_and_note_a_passed_bound(two_runs, tmp_path):
    frame = pd.read_parquet(two_runs[0] / "results.parquet").astype({"budget": "float64"})
    write_run_plots(frame, tmp_path, "report test")
    assert (tmp_path / "accuracy_vs_channel_uses_awgn.png").is_file() and (tmp_path / "accuracy_top1_awgn.png").is_file()
    if SHOTS.parent.is_dir():
        SHOTS.mkdir(exist_ok=True)
        for name in ("accuracy_vs_channel_uses_awgn.png", "accuracy_top1_awgn.png"):
            shutil.copy(tmp_path / name, SHOTS / f"matplotlib_{name}")


def _browser_driver():
    """``open_in_chromium`` of tests/sim/test_report.py (the suite's DevTools driver), loaded from its file."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("semlink_report_browser", Path(__file__).with_name("test_report.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module.open_in_chromium


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup.sh installs it)")
def test_the_page_opens_in_chromium_and_a_screenshot_is_kept(two_runs, tmp_path):
    open_in_chromium = _browser_driver()
    page = tmp_path / "report.html"
    write_report(two_runs[:1], page)
    shot = tmp_path / "report.png"
    check = open_in_chromium(page, shot, full_page=True)
    assert check.errors == [] and check.plots_rendered == check.plots >= 5
    assert [u for u in check.requests if not u.startswith(("file:", "data:", "blob:", "about:"))] == []
    if SHOTS.parent.is_dir():
        SHOTS.mkdir(exist_ok=True)
        shutil.copy(shot, SHOTS / "report_full_page.png")
