"""Figures: a line keeps one colour in every figure of a run, and no two lines share one."""

from __future__ import annotations

import math

import pandas as pd

from semlink.sim.plots import _line_colours, _line_label, write_run_plots


def _frame() -> pd.DataFrame:
    rows = []
    systems = [(f"scheme-{i}", None) for i in range(10)] + [("bpg+ldpc", "envelope")]
    systems += [("bpg+ldpc", f"qpsk r=1/{i}") for i in (2, 3)]
    for system, variant in systems:
        image = system.startswith("bpg") or system == "scheme-3"
        for snr in (0.0, 10.0):
            rows.append({"system": system, "variant": variant, "budget": 128, "channel": "awgn", "snr_db": snr,
                         "top1_accuracy": 0.1 + snr / 50, "top1_ci_low": 0.05, "top1_ci_high": 0.4,
                         "psnr_db": 10 + snr if image else math.nan})
    return pd.DataFrame(rows)


def test_lines_never_share_a_colour_even_past_ten_lines():
    frame = _frame()
    enveloped = {"bpg+ldpc"}
    colours = _line_colours(frame, enveloped)
    labels = {_line_label(row) for _, row in frame.iterrows()}
    assert set(colours) == labels
    assert len(set(colours.values())) == len(labels)


def test_run_figures_are_written(tmp_path):
    write_run_plots(_frame(), tmp_path, "colours")
    assert (tmp_path / "accuracy_top1_awgn.png").stat().st_size > 0
    assert (tmp_path / "psnr_awgn.png").stat().st_size > 0
