"""Progress in logs: one line per training epoch and a line every few seconds or points of an evaluation."""

from __future__ import annotations

import re

import pytest

from semlink.errors import SemlinkError
from semlink.progress import (
    EpochProgress,
    PointProgress,
    current_mode,
    format_seconds,
    progress_mode,
    resolve_mode,
)


class Clock:
    """A clock the test moves by hand (progress is about elapsed time, tests are not)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_line_per_epoch_with_loss_metric_elapsed_and_eta():
    clock, lines = Clock(), []
    bar = EpochProgress("deep-jscc @ 64 [awgn]", epochs=10, metric="val PSNR [dB]", mode="lines",
                        write=lines.append, clock=clock)
    for epoch in range(3):
        clock.now += 20.0
        bar.epoch(epoch, loss=0.01 / (epoch + 1), value=20.0 + epoch)
    bar.close("stopped early")
    assert len(lines) == 4
    assert lines[0] == ("deep-jscc @ 64 [awgn] epoch 1/10: loss 0.01, val PSNR [dB] 20.0000, elapsed 20 s, "
                        "ETA ≤ 3 min 00 s")
    # The ETA is the mean epoch time so far times the epochs that may still run.
    assert lines[2].endswith("elapsed 1 min 00 s, ETA ≤ 2 min 20 s")
    assert lines[3] == "deep-jscc @ 64 [awgn]: stopped early after 1 min 00 s"


def test_evaluation_lines_come_every_interval_or_every_n_points_and_a_closing_line():
    clock, lines = Clock(), []
    with PointProgress(100, "points", mode="lines", interval_s=10.0, write=lines.append, clock=clock) as bar:
        for i in range(100):
            clock.now += 1.0  # 1 s per point: a line every 10 points
            bar.update(1, note=f"point {i}")
    assert lines[0] == "points: 100 to evaluate"
    progress = lines[1:-1]
    assert len(progress) == 9  # at 10, 20, ..., 90 points (the 100th is the closing line)
    assert progress[0] == "points: 10/100 (10 %), elapsed 10 s, ETA 1 min 30 s; last: point 9"
    assert lines[-1] == "points: 100/100 done in 1 min 40 s"

    clock, lines = Clock(), []
    bar = PointProgress(10, "sweep", mode="lines", interval_s=1e9, every=3, write=lines.append, clock=clock)
    for _ in range(10):
        bar.update()
    bar.close()
    assert [re.match(r"sweep: (\d+)/", line).group(1) for line in lines[1:-1]] == ["3", "6", "9"]


def test_none_is_silent_and_bar_writes_no_lines():
    lines = []
    for mode in ("none", "bar"):
        bar = PointProgress(5, mode=mode, write=lines.append, interval_s=0.0)
        for _ in range(5):
            bar.update()
        bar.close()
        epochs = EpochProgress("x", 2, mode=mode, write=lines.append)
        epochs.epoch(0, 1.0, 0.5)
        epochs.close("done")
    assert lines == []


def test_auto_is_lines_off_a_terminal_and_a_block_sets_the_mode(capsys):
    assert resolve_mode("auto") == "lines"  # pytest captures stderr: not a terminal
    assert resolve_mode(True) == "bar" and resolve_mode(False) == "none"
    with progress_mode("none"):
        assert current_mode() == "none"
        with progress_mode("bar"):
            assert current_mode() == "bar"
        assert current_mode() == "none"
    assert current_mode() == "lines"
    with pytest.raises(SemlinkError, match="progress 'loud'.*bar, lines, none"):
        resolve_mode("loud")


def test_format_seconds():
    assert [format_seconds(s) for s in (0.4, 59.6, 61, 3600, float("nan"))] == ["0 s", "1 min 00 s", "1 min 01 s",
                                                                               "1 h 00 min", "?"]
