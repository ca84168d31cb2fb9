"""What several commands share: the executor flag's help, dB lists from the command line, how flags show,
and the guard of commands that write a resumable run folder (``run``, ``phy ber``)."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from semlink.errors import SemlinkError

__all__ = ["EXECUTOR_HELP", "THREADS_HELP", "Interrupted", "invocation", "parse_db_list", "resumable", "show_flags_plainly"]

_ARGV: list[str] | None = None


def invocation() -> list[str]:
    """The arguments ``semlink`` was called with (those given to :func:`semlink.cli.main`)."""
    return list(_ARGV if _ARGV is not None else sys.argv[1:])


def set_invocation(argv: list[str]) -> None:
    global _ARGV
    _ARGV = list(argv)


class Interrupted(Exception):  # noqa: N818 - what the user did, not a failure of semlink
    """A command stopped by a signal (Ctrl-C: SIGINT, or SIGTERM); the message says what was kept.

    :func:`semlink.cli.main` prints ``interrupted: <message>`` and exits with ``128 + signal``
    (130 for Ctrl-C)."""

    def __init__(self, message: str, signal_number: int = 2) -> None:
        super().__init__(message)
        self.signal_number = signal_number


class Terminated(KeyboardInterrupt):
    """SIGTERM turned into an exception (by :func:`semlink.cli.main`), so a run stops as on Ctrl-C."""

    signal_number = 15


@contextmanager
def resumable(out: Path) -> Iterator[None]:
    """Around the work of a command that writes a resumable run folder ``out``: a Ctrl-C (or SIGTERM)
    becomes :class:`Interrupted` saying what ``out`` keeps and the command that continues it; a
    failed file operation (a full disk, a folder made read-only) becomes one line saying the same."""
    from semlink.io import describe_os_error

    try:
        yield
    except KeyboardInterrupt as err:
        raise Interrupted(_kept(out), getattr(err, "signal_number", 2)) from None
    except OSError as err:
        raise SemlinkError(f"{describe_os_error(err)}; {_kept(out)}") from None


def _kept(out: Path) -> str:
    """What the run folder ``out`` keeps, and the command that continues it."""
    from semlink.sim.run_directory import MANIFEST, RunDirectory

    argv = [a for a in invocation() if a != "--resume"]
    if not (out / MANIFEST).is_file():
        return f"nothing was written to {out} yet; start again with: {shlex.join(['semlink', *argv])}"
    try:
        kept = RunDirectory(out).progress()
        plural = "s" if kept.done != 1 or kept.total is not None else ""
        points = f"{kept.done} of {kept.total}" if kept.total is not None else f"{kept.done}"
        codecs = f" and {kept.codecs} trained codec{'s' if kept.codecs != 1 else ''}" if kept.codecs else ""
        what = f"{out} keeps {points} finished point{plural}{codecs}"
    except OSError:
        what = f"{out} keeps what was finished"
    return f"{what}; continue with: {shlex.join(['semlink', *argv, '--resume'])}"


EXECUTOR_HELP = "Where points run: local (this process) | process (a local pool) | ray (a Ray cluster)."
THREADS_HELP = ("Threads of torch, numba and FAISS: a count or auto (default: the CPUs this process may use that "
                "other processes leave free; SEMLINK_THREADS or OMP_NUM_THREADS override auto). With --executor "
                "process or ray: per worker (default 1). The manifest records the choice and why.")


def show_flags_plainly() -> None:
    """Show boolean flags in ``--help`` as flags: ``--resume``, not ``--resume <bool>``.

    Typer (0.2x) prints a ``<bool>`` type beside every flag, as if it took a value; it takes none
    (``--resume true`` is a usage error). A flag's help row then shows no type at all.
    """
    from typer.core import TyperOption

    if getattr(TyperOption, "_semlink_plain_flags", False):
        return
    shown = TyperOption.display_type_rich

    def display_type_rich(self, ctx):
        if getattr(self, "is_flag", False) and not getattr(self, "count", False) and self.metavar is None:
            return None
        return shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich
    TyperOption._semlink_plain_flags = True


def parse_db_list(text: str, name: str) -> list[float]:
    """``"0,2,4"`` or ``"0:10:2"`` (start:stop:step, stop included) → list of floats.

    >>> parse_db_list("0:4:2", "--snr-db")
    [0.0, 2.0, 4.0]
    """
    import math

    text = text.strip()
    try:
        if ":" in text:
            parts = [float(p) for p in text.split(":")]
            if len(parts) != 3 or parts[2] <= 0:
                raise ValueError
            start, stop, step = parts
            count = int(math.floor((stop - start) / step + 1e-9)) + 1
            values = [round(start + i * step, 10) for i in range(max(count, 0))]
        else:
            values = [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise SemlinkError(
            f"{name} {text!r} is not a list of dB values; accepted: '0,2,4' or 'start:stop:step' with step > 0"
        ) from None
    if not values:
        raise SemlinkError(f"{name} {text!r} gives no values; accepted: '0,2,4' or 'start:stop:step'")
    if not all(math.isfinite(v) for v in values):
        raise SemlinkError(f"{name} {text!r} contains non-finite values; every value must be a finite dB number")
    return values
