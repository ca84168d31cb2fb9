"""Progress that reads the same in a terminal and in a log file: bars, timestamped lines, or nothing.

Three modes (:data:`MODES`): ``bar`` (a tqdm bar, redrawn in place: for a terminal), ``lines``
(one timestamped line per training epoch and one every ``interval_s`` seconds or ``every``
points of an evaluation: for a log file or a pipe), ``none``. ``auto`` (or None) picks ``bar``
when stderr is a terminal and ``lines`` otherwise. :func:`progress_mode` sets the mode for a block
(``semlink run --progress``, :func:`semlink.run`); code that reports progress asks
:func:`current_mode` and never decides for itself.

Every line starts like the run's log lines, ``[semlink HH:MM:SS]``, so a piped log interleaves
them in order. Training and evaluation share one line format:

>>> clock = iter([0.0, 4.0, 10.0]).__next__
>>> lines = []
>>> bar = EpochProgress("kbsc @ 16 [awgn]", epochs=3, metric="val top-1", mode="lines", write=lines.append,
...                     clock=clock)
>>> bar.epoch(0, loss=0.51234, value=0.4)
>>> bar.epoch(1, loss=0.30001, value=0.55)
>>> print("\\n".join(lines))
kbsc @ 16 [awgn] epoch 1/3: loss 0.5123, val top-1 0.4000, elapsed 4 s, ETA ≤ 8 s
kbsc @ 16 [awgn] epoch 2/3: loss 0.3, val top-1 0.5500, elapsed 10 s, ETA ≤ 5 s
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from semlink.errors import choice_error

__all__ = [
    "MODES", "EpochProgress", "PointProgress", "current_mode", "emit", "format_seconds", "progress_mode",
    "resolve_mode",
]

MODES = ("auto", "bar", "lines", "none")
"""What ``--progress`` accepts; ``auto``: ``bar`` on a terminal, ``lines`` otherwise."""

_MODE: str | None = None  # the mode set by progress_mode(); None: auto


def resolve_mode(mode: str | bool | None = None) -> str:
    """``bar`` | ``lines`` | ``none`` for ``mode`` (None or ``auto``: the block's mode, else by stderr).

    ``True`` and ``False`` are the older switch (``True``: a bar, ``False``: nothing).
    """
    if mode is True:
        return "bar"
    if mode is False:
        return "none"
    if mode is None or mode == "auto":
        if _MODE is not None:
            return _MODE
        return "bar" if _isatty(sys.stderr) else "lines"
    if mode not in MODES:
        raise choice_error("progress", mode, MODES)
    return mode


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


def current_mode() -> str:
    """The mode in force: the enclosing :func:`progress_mode`, else ``auto`` resolved against stderr."""
    return resolve_mode(None)


@contextlib.contextmanager
def progress_mode(mode: str | bool | None) -> Iterator[str]:
    """Within the block, progress is shown as ``mode`` (``auto`` | ``bar`` | ``lines`` | ``none``)."""
    global _MODE
    before = _MODE
    _MODE = None
    resolved = resolve_mode(mode)
    _MODE = resolved
    try:
        yield resolved
    finally:
        _MODE = before


def emit(message: str) -> None:
    """Write one progress or log line to stderr, ``[semlink HH:MM:SS] message``, flushed."""
    print(f"[semlink {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def format_seconds(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 01 min`` (whole seconds; ``?`` when unknown).

    >>> format_seconds(42.4), format_seconds(185), format_seconds(7260)
    ('42 s', '3 min 05 s', '2 h 01 min')
    """
    if seconds is None or not math.isfinite(seconds):
        return "?"
    total = int(round(max(seconds, 0.0)))
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{total // 60} min {total % 60:02d} s"
    return f"{total // 3600} h {total % 3600 // 60:02d} min"


def _number(value: float) -> str:
    return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"


class _Bar:
    """A tqdm bar on stderr (imported only when a bar is shown)."""

    def __init__(self, total: int, desc: str) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=desc, leave=False, file=sys.stderr)

    def update(self, n: int, postfix: dict[str, str] | None = None) -> None:
        if postfix:
            self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(n)

    def close(self) -> None:
        self.bar.close()


class EpochProgress:
    """Training progress: one line per epoch (``lines``), a bar (``bar``) or nothing (``none``).

    ``what`` names the codec (``"kbsc @ 16 [awgn]"``), ``epochs`` the most epochs the training
    may run, ``metric`` the validation metric's name (``"val top-1"``, ``"val PSNR [dB]"``). The ETA
    assumes every remaining epoch runs at the mean epoch time so far; early stopping
    (``patience``) can end training sooner, hence ``ETA ≤``.
    """

    def __init__(self, what: str, epochs: int, metric: str = "val", mode: str | bool | None = None,
                 write: Callable[[str], None] = emit, clock: Callable[[], float] = time.monotonic) -> None:
        self.what, self.epochs, self.metric = what, int(epochs), metric
        self.mode = resolve_mode(mode)
        self.write, self.clock = write, clock
        self.started = clock()
        self._bar = _Bar(self.epochs, what) if self.mode == "bar" else None

    def epoch(self, index: int, loss: float, value: float, **extra: float) -> None:
        """Epoch ``index`` (0-based) ended with training ``loss`` and validation ``value``; ``extra``:
        further numbers for the line (``lr=3e-4``)."""
        if self.mode == "none":
            return
        if self._bar is not None:
            self._bar.update(1, {"loss": _number(loss), self.metric: _number(value)})
            return
        elapsed = self.clock() - self.started
        done = index + 1
        remaining = max(self.epochs - done, 0) * elapsed / done
        parts = [f"loss {_number(loss)}", f"{self.metric} {value:.4f}"]
        parts += [f"{name} {_number(float(v))}" for name, v in extra.items()]
        self.write(f"{self.what} epoch {done}/{self.epochs}: {', '.join(parts)}, elapsed {format_seconds(elapsed)}, "
                   f"ETA ≤ {format_seconds(remaining)}")

    def close(self, note: str = "") -> None:
        """End of training; ``note`` (e.g. ``"stopped early: no gain for 20 epochs"``) is written as a line."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if note and self.mode == "lines":
            self.write(f"{self.what}: {note} after {format_seconds(self.clock() - self.started)}")


class PointProgress:
    """Evaluation progress over ``total`` points: a line when ``interval_s`` seconds have passed since the
    last one or ``every`` points were done (``lines``), a bar (``bar``) or nothing (``none``).

    Each line says how many points are done, the elapsed time and an ETA from the mean time per point
    so far, and what the last point was (``note``).
    """

    def __init__(self, total: int, what: str = "points", mode: str | bool | None = None, interval_s: float = 10.0,
                 every: int | None = None, write: Callable[[str], None] = emit,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.what = int(total), what
        self.mode = resolve_mode(mode)
        self.interval_s, self.every = float(interval_s), every
        self.write, self.clock = write, clock
        self.done = 0
        self.started = self.last_line = clock()
        self._since_line = 0
        self._bar = _Bar(self.total, what) if self.mode == "bar" and self.total else None
        if self.mode == "lines" and self.total:
            self.write(f"{what}: {self.total} to evaluate")

    def update(self, n: int = 1, note: str = "") -> None:
        self.done += n
        if self.mode == "none":
            return
        if self._bar is not None:
            self._bar.update(n)
            return
        self._since_line += n
        now = self.clock()
        due = now - self.last_line >= self.interval_s or (self.every is not None and self._since_line >= self.every)
        if due and self.done < self.total:
            self._line(now, note)

    def _line(self, now: float, note: str) -> None:
        elapsed = now - self.started
        eta = (self.total - self.done) * elapsed / self.done if self.done else math.nan
        percent = 100.0 * self.done / self.total if self.total else 100.0
        text = (f"{self.what}: {self.done}/{self.total} ({percent:.0f} %), elapsed {format_seconds(elapsed)}, "
                f"ETA {format_seconds(eta)}")
        self.write(text + (f"; last: {note}" if note else ""))
        self.last_line, self._since_line = now, 0

    def close(self) -> None:
        """The closing line (``lines``: ``points: 30/30 done in 1 min 10 s``)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.mode == "lines" and self.total:
            self.write(f"{self.what}: {self.done}/{self.total} done in {format_seconds(self.clock() - self.started)}")

    def __enter__(self) -> PointProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
