"""``semlink report``: runs load into one tidy table, the page overlays them, is self-contained and
opens in headless Chromium without console errors; bad input is refused.

The browser check drives Debian's ``chromium`` over the DevTools protocol on a pipe
(``--remote-debugging-pipe``: JSON messages ending in NUL on file descriptors 3 and 4; standard
library only): it collects console errors (``Runtime.consoleAPICalled`` of type error/assert),
uncaught exceptions (``Runtime.exceptionThrown``), browser log errors (``Log.entryAdded``: failed
loads, blocked content) and every request the page makes (``Network.requestWillBeSent``), counts
the plotly figures that rendered, and takes a screenshot (``Page.captureScreenshot``).
"""

from __future__ import annotations

import base64
import fcntl
import html.parser
import json
import math
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semlink.cli import main
from semlink.errors import SemlinkError
from semlink.metrics import binomial_ci
from semlink.sim.report import Run, load_runs, read_runs, write_report
from semlink.sim.report_columns import metric_info, plotted_metrics
from semlink.sim.report_html import config_differences, report_text
from semlink.sim.runner import SECONDS, RunDirectory, make_points, run_points

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--remote-debugging-pipe",
)


# ---------------------------------------------------------------- the browser check (DevTools over a pipe)


@dataclass
class PageCheck:
    """What headless Chromium saw when it opened a page."""

    errors: list[str] = field(default_factory=list)  # console errors, uncaught exceptions, log errors
    requests: list[str] = field(default_factory=list)  # every URL the page requested
    plots: int = 0  # plotly figure divs in the page
    plots_rendered: int = 0  # of those, the ones plotly drew (an SVG inside)
    screenshot: bytes = b""


class _DevTools:
    """A DevTools protocol session with a Chromium started with ``--remote-debugging-pipe``."""

    def __init__(self, user_data_dir: str, width: int, height: int) -> None:
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def plumb() -> None:  # in the child: the protocol pipes on fds 3 (commands in) and 4 (replies out)
            read_end = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
            write_end = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}", f"--window-size={width},{height}",
             "about:blank"],
            preexec_fn=plumb, close_fds=False, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self._stderr, start_new_session=True,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def stderr_tail(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")[-2000:]

    def _receive(self, deadline: float) -> dict | None:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._from_child], [], [], left)
            if not ready:
                return None
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise RuntimeError(f"chromium closed the DevTools pipe; its stderr:\n{self.stderr_tail()}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30.0):
        self._next_id += 1
        message: dict = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline)
            if reply is None:
                raise TimeoutError(f"no reply to {method} within {timeout} s; chromium's stderr:\n{self.stderr_tail()}")
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method} failed: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if any(e.get("method") == method for e in self.events):
                return True
            event = self._receive(deadline)
            if event is None:
                return False
            self.events.append(event)

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (event := self._receive(deadline)) is not None:
            self.events.append(event)

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # chromium and the helpers it started, nothing else
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        for fd in (self._to_child, self._from_child):
            os.close(fd)
        self._stderr.close()


PLOTS_JS = ("(() => { const divs = document.querySelectorAll('.plotly-graph-div'); return JSON.stringify("
            "{total: divs.length, rendered: Array.prototype.filter.call(divs, d => d.querySelector('.main-svg')).length,"
            " unpacking: document.documentElement.dataset.report === 'unpacking'});"
            " })()")


def open_in_chromium(page: Path, screenshot: Path | None = None, width: int = 1400, height: int = 900,
                     full_page: bool = False, timeout: float = 90.0) -> PageCheck:
    """Open ``page`` in headless Chromium; return its console errors, requests, rendered plots, screenshot."""
    check = PageCheck()
    with tempfile.TemporaryDirectory(prefix="semlink-chromium-") as profile:
        tools = _DevTools(profile, width, height)
        try:
            target = tools.call("Target.createTarget", {"url": "about:blank"}, timeout=timeout)["targetId"]
            session = tools.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Runtime", "Log", "Network", "Page"):
                tools.call(f"{domain}.enable", session=session)
            tools.call("Emulation.setDeviceMetricsOverride",
                       {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session)
            tools.call("Page.navigate", {"url": page.resolve().as_uri()}, session)
            if not tools.wait_for("Page.loadEventFired", timeout):
                raise TimeoutError(f"{page} did not finish loading within {timeout} s")
            deadline = time.monotonic() + timeout
            while True:  # plotly draws after the load event; wait until every figure has its SVG
                counts = json.loads(tools.call("Runtime.evaluate", {"expression": PLOTS_JS}, session)["result"]["value"])
                check.plots, check.plots_rendered = counts["total"], counts["rendered"]
                done = check.plots_rendered >= check.plots and not counts["unpacking"]  # a packed page: body first
                if done or time.monotonic() > deadline:
                    break
                tools.drain(0.2)
            tools.drain(0.5)  # late errors (e.g. from a resize after the first draw)
            shot: dict = {"format": "png"}
            if full_page:
                size = tools.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
                shot.update(captureBeyondViewport=True,
                            clip={"x": 0, "y": 0, "width": width, "height": min(size["height"], 16000), "scale": 1})
            check.screenshot = base64.b64decode(tools.call("Page.captureScreenshot", shot, session)["data"])
        finally:
            tools.close()
    for event in tools.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            check.errors.append("console: " + " ".join(str(a.get("value", a.get("description", "")))
                                                       for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            check.errors.append("exception: " + str(details.get("exception", {}).get("description", details.get("text"))))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            check.errors.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
        elif method == "Network.requestWillBeSent":
            check.requests.append(params["request"]["url"])
    if screenshot is not None:
        screenshot.write_bytes(check.screenshot)
    return check


# ---------------------------------------------------------------- runs made for the tests


class _ExperimentEvaluator:
    """Rows shaped like `semlink run`'s, from a smooth accuracy model and real Wilson intervals (fast)."""

    def __init__(self, gain_db: float) -> None:
        self.gain_db = gain_db

    def __call__(self, point):
        p = point.params
        rng = np.random.default_rng(point.seed)
        uses = p["budget"] or (640 if p["system"] == "raw" else 0)
        snr = p["snr_db"] + self.gain_db
        accuracy = 0.8 if math.isinf(snr) else 0.1 + 0.7 / (1 + math.exp(-(snr - 3) / 2)) * min(1.0, uses / 128 + 0.3)
        n = 200
        hits = int(rng.binomial(n, min(accuracy, 1.0)))
        low, high = binomial_ci(hits, n)
        row = {"ebno_db": None, "noiseless": math.isinf(p["snr_db"]), "channel_uses": uses,
               "channel_uses_sent": float(uses), "cbr": uses / 784, "top1_accuracy": hits / n, "top1_ci_low": low,
               "top1_ci_high": high, "n_queries": n, "feature_cosine": 0.5 + accuracy / 2, "link": "analog",
               "csi": "perfect", SECONDS: 0.01}
        if p["system"] == "bpg+ldpc":
            row.update(link="digital", modulation=p["variant"].split()[0], code_rate=0.5,
                       psnr_db=12 + 10 * accuracy, ebno_db=p["snr_db"] - 1.0)
        return row


def _experiment_run(out: Path, name: str, channels: list[str], gain_db: float) -> Path:
    grid = []
    for system, budgets, variants in (("kbsc", [32, 128], [""]), ("raw", [None], [""]),
                                      ("bpg+ldpc", [128], ["qpsk r=1/2", "16qam r=1/2"])):
        for budget in budgets:
            for variant in variants:
                grid += [{"system": system, "budget": budget, "variant": variant, "channel": ch, "snr_db": float(s)}
                         for ch in channels for s in (-4, 0, 4, 8, math.inf)]
    grid.append({"system": "noiseless", "budget": None, "variant": "", "channel": "none", "snr_db": math.inf})
    config = {"name": name, "seed": 1, "channels": [{"name": c} for c in channels],
              "systems": [{"type": "kbsc", "channel_uses": [32, 128]}, {"type": "raw"}, {"type": "bpg+ldpc"},
                          {"type": "noiseless"}], "eval": {"snr_db": [-4, 0, 4, 8]}}
    run_points(make_points(1, grid), _ExperimentEvaluator(gain_db), out, config=config, seed=1, progress=False)
    comparisons = [{"channel": channels[0], "snr_db": 0.0, "system_a": "kbsc", "budget_a": 128, "variant_a": "",
                    "system_b": "raw", "budget_b": None, "variant_b": "", "n_queries": 200, "top1_diff": -0.05,
                    "top1_diff_ci_low": -0.1, "top1_diff_ci_high": 0.0}]
    RunDirectory(out).write_tables(comparisons, name="comparisons")
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Two real BER sweeps (uncoded on Es/N0, LDPC on Eb/N0) and two experiment runs (different configs)."""
    from semlink.config import validate
    from semlink.sim.ber import run_ber_sweep
    from semlink.sim.config import BerSweepConfig

    root = tmp_path_factory.mktemp("runs")
    uncoded = validate(BerSweepConfig, {"snr_db": [0, 3, 6], "batch_size": 200, "max_iter": 1,
                                        "link": {"code": "uncoded", "ofdm": None}})
    coded = validate(BerSweepConfig, {"ebno_db": [0, 1.5, 3], "batch_size": 50, "max_iter": 1,
                                      "link": {"code": [64, 128], "ofdm": None, "bp_iterations": 5}})
    run_ber_sweep(uncoded, root / "ber-uncoded", progress=False)
    run_ber_sweep(coded, root / "ber-ldpc", progress=False)
    return {
        "ber-uncoded": root / "ber-uncoded", "ber-ldpc": root / "ber-ldpc",
        "exp-a": _experiment_run(root / "exp-a", "awgn-only", ["awgn"], 0.0),
        "exp-b": _experiment_run(root / "exp-b", "awgn-rayleigh", ["awgn", "rayleigh"], -3.0),
    }


@pytest.fixture(scope="module")
def report(runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    write_report(list(runs.values()), out)
    return out


class _Links(html.parser.HTMLParser):
    """Every src/href attribute of every element (script bodies are not parsed as tags)."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.plot_ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [value for name, value in attrs if name in ("src", "href", "data", "action") and value]
        if tag == "div" and "plotly-graph-div" in (dict(attrs).get("class") or ""):
            self.plot_ids.append(dict(attrs)["id"])


# ---------------------------------------------------------------- tests


def test_load_runs_concatenates_runs_into_one_tidy_table(runs):
    frame = load_runs([runs["ber-uncoded"], runs["exp-a"], runs["exp-b"]])
    parts = [pd.read_parquet(runs[k] / "results.parquet") for k in ("ber-uncoded", "exp-a", "exp-b")]
    assert len(frame) == sum(len(p) for p in parts)
    assert frame.columns[0] == "run"
    assert list(frame["run"].drop_duplicates()) == ["ber-uncoded", "awgn-only", "awgn-rayleigh"]  # folder, config name
    assert set(frame.columns) == {"run"} | set().union(*(p.columns for p in parts))
    ber_rows, exp_rows = frame[frame["run"] == "ber-uncoded"], frame[frame["run"] == "awgn-rayleigh"]
    assert ber_rows["system"].isna().all() and exp_rows["ber"].isna().all()  # a column a run lacks is empty
    np.testing.assert_array_equal(ber_rows["ber"].to_numpy(float), parts[0]["ber"].to_numpy(float))
    assert set(exp_rows["channel"]) == {"awgn", "rayleigh", "none"}
    assert math.isinf(exp_rows["snr_db"].max())
    relabelled = load_runs([runs["exp-a"], runs["exp-b"]], labels=["A", "B"])
    assert list(relabelled["run"].drop_duplicates()) == ["A", "B"]


def test_labels_fall_back_to_folder_names_when_config_names_repeat(runs, tmp_path):
    copy = tmp_path / "exp-a-again"
    shutil.copytree(runs["exp-a"], copy)
    assert [r.label for r in read_runs([runs["exp-a"], copy])] == ["exp-a", "exp-a-again"]


def test_metrics_come_from_the_columns_present():
    frame = pd.DataFrame({
        "run": ["r"] * 4, "system": ["s"] * 4, "channel": ["awgn"] * 4, "snr_db": [0.0, 5.0, 0.0, 5.0],
        "variant": ["a", "a", "b", "b"], "top3_accuracy": [0.1, 0.2, 0.3, 0.4], "top3_ci_low": [0.0] * 4,
        "top3_ci_high": [0.5] * 4, "brand_new_metric": [1.0, 2.0, 3.0, 4.0], "code_k": [64.0] * 4,
        "best_epoch": [3.0, 3.0, 5.0, 5.0], "n_queries": [10, 20, 10, 20], "seed": [1, 2, 3, 4],
        "collapsed": [False, False, True, True],
    })
    assert plotted_metrics(frame, ["run", "system", "variant", "channel"]) == ["top3_accuracy", "brand_new_metric"]
    assert metric_info("top3_accuracy").ci == ("top3_ci_low", "top3_ci_high")
    assert metric_info("brand_new_metric").label == "brand new metric"


def test_config_differences_name_the_keys_that_differ(runs):
    a, b = read_runs([runs["exp-a"], runs["exp-b"]])
    diff = config_differences([a, b]).set_index("key")
    assert diff.loc["name"].tolist() == ["awgn-only", "awgn-rayleigh"]
    assert diff.loc["channels[rayleigh].name"].tolist() == ["(absent)", "rayleigh"]
    assert "seed" not in diff.index and "systems[raw].type" not in diff.index
    # a key one run sets to a plain value and the other fills with entries is shown as such
    one = Run("one", Path("one"), {"config": {"channels": None}}, pd.DataFrame())
    two = Run("two", Path("two"), {"config": {"channels": [{"name": "awgn", "speed_mps": 0.0}]}}, pd.DataFrame())
    nested = config_differences([one, two]).set_index("key")
    assert nested.loc["channels"].tolist() == ["null", "(entries below)"]
    assert nested.loc["channels[awgn].speed_mps"].tolist() == ["(channels = null)", "0.0"]
    ber_a, ber_b = read_runs([runs["ber-uncoded"], runs["ber-ldpc"]])
    keys = set(config_differences([ber_a, ber_b])["key"])
    assert {"link.code", "snr_db", "ebno_db", "batch_size", "link.bp_iterations"} <= keys


def test_report_overlays_every_run_and_system_in_one_self_contained_file(report, runs):
    text = report_text(report)  # the page with its packed body unpacked
    parser = _Links()
    parser.feed(text)
    external = [link for link in parser.links if link.lower().startswith(("http:", "https:", "//"))]
    assert external == [], external
    for name in ("ber-uncoded", "ber-ldpc", "awgn-only", "awgn-rayleigh"):  # run labels
        assert name in text
    for system in ("kbsc", "raw", "bpg+ldpc", "noiseless", "qpsk r=1/2", "16qam r=1/2"):
        assert f"{system}" in text
    # BER/BLER; top-1 accuracy vs SNR and vs channel uses (kbsc has two budgets); PSNR vs SNR (bpg+ldpc has one
    # budget: no channel-use figure); feature cosine (it changes with SNR); nothing for constant columns
    anchors = ["fig-waterfall", "fig-top1_accuracy-snr", "fig-top1_accuracy-uses", "fig-psnr_db-snr",
               "fig-feature_cosine-snr"]
    assert parser.plot_ids == anchors
    assert text.count("Plotly.newPlot(") == len(anchors)
    assert text.count('class="sortable') == 5  # runs, differences (experiments, BER sweeps), results, comparisons
    assert "channels[rayleigh].name" in text and "link.code" in text  # the config differences
    assert f"{runs['exp-a'].resolve()}" in text  # each run's folder in its details


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup.sh installs it)")
def test_report_opens_in_headless_chromium_without_console_errors(report, tmp_path):
    shot = tmp_path / "report.png"
    check = open_in_chromium(report, shot)
    assert check.errors == [], check.errors
    assert check.plots == 5 and check.plots_rendered == check.plots
    assert [url for url in check.requests if not url.startswith(("file:", "data:", "blob:", "about:"))] == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1400, 900)
        assert len(image.convert("L").getcolors(1 << 16) or []) > 20  # drawn, not a blank page


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup.sh installs it)")
def test_the_browser_check_sees_console_errors_exceptions_and_requests(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>console.error('boom'); undefinedFunction();</script>"
                    "<img src='http://127.0.0.1:9/x.png'></body></html>")
    check = open_in_chromium(page)
    assert any("boom" in e for e in check.errors)
    assert any("undefinedFunction" in e for e in check.errors)
    assert "http://127.0.0.1:9/x.png" in check.requests


def test_bad_input_is_refused_with_a_clear_message(runs, tmp_path):
    not_a_run = tmp_path / "plots"
    not_a_run.mkdir()
    (not_a_run / "accuracy.png").write_bytes(b"")
    with pytest.raises(SemlinkError, match=r"plots is not a semlink run folder: it has no manifest.json.*results"):
        write_report([not_a_run], tmp_path / "r.html")
    (not_a_run / "manifest.json").write_text("{}")
    with pytest.raises(SemlinkError, match=r"no results.parquet or results.csv"):
        write_report([not_a_run], tmp_path / "r.html")
    with pytest.raises(SemlinkError, match="does not exist"):
        write_report([tmp_path / "missing"], tmp_path / "r.html")
    with pytest.raises(SemlinkError, match="no run folders given"):
        write_report([], tmp_path / "r.html")
    with pytest.raises(SemlinkError, match="is a folder; give the report's file name"):
        write_report([runs["exp-a"]], tmp_path)
    with pytest.raises(SemlinkError, match="given twice"):
        write_report([runs["exp-a"], runs["exp-a"]], tmp_path / "r.html")
    with pytest.raises(SemlinkError, match="1 labels for 2 runs"):
        write_report([runs["exp-a"], runs["exp-b"]], tmp_path / "r.html", labels=["x"])
    assert not (tmp_path / "r.html").exists()


def test_cli_writes_the_report_and_refuses_zero_runs(runs, tmp_path, capsys):
    out = tmp_path / "sub" / "report.html"
    with pytest.raises(SystemExit) as done:
        main(["report", str(runs["ber-uncoded"]), str(runs["exp-a"]), "--out", str(out), "--title", "Lab meeting"])
    assert done.value.code == 0 and out.is_file()
    assert "<title>Lab meeting</title>" in out.read_text(encoding="utf-8")  # the title stays readable unpacked
    assert not list(out.parent.glob(".*.tmp")), "written atomically: no temporary file left"
    with pytest.raises(SystemExit) as done:
        main(["report", "--out", str(tmp_path / "x.html")])
    assert done.value.code == 2
    assert "error: no run folders given" in capsys.readouterr().err
