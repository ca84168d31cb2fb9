"""Run an external decoder on bytes that may be damaged: a separate process, a time limit, no exceptions.

Decoders (ffmpeg's HEVC decoder, libjpeg, libwebp, libavif/dav1d, OpenJPEG) fed with bytes that
went through a noisy channel may fail, hang or, rarely, crash. They therefore run in a child
process; a crash or a hang only ends that child (:func:`run_isolated` reports it), never the
caller.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

from semlink.errors import MissingResourceError

__all__ = ["ProcessResult", "run_isolated", "find_program"]


@dataclass(frozen=True)
class ProcessResult:
    """What a child process left: ``ok`` when it exited with status 0 within its time limit."""

    returncode: int | None
    stdout: bytes
    stderr: bytes
    timed_out: bool

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def run_isolated(argv: list[str], data: bytes, timeout_s: float, env: dict[str, str] | None = None) -> ProcessResult:
    """Run ``argv`` with ``data`` on stdin; never raises for the child's failures.

    A child that outlives ``timeout_s`` is killed; what it wrote so far is returned with
    ``timed_out=True``. A child that cannot be started gives ``returncode=None``.
    """
    try:
        proc = subprocess.run(
            argv, input=data, capture_output=True, timeout=timeout_s, check=False, env=env
        )
    except subprocess.TimeoutExpired as exc:
        return ProcessResult(None, exc.stdout or b"", exc.stderr or b"", True)
    except OSError as exc:
        return ProcessResult(None, b"", str(exc).encode(), False)
    return ProcessResult(proc.returncode, proc.stdout, proc.stderr, False)


def find_program(name: str, purpose: str) -> str:
    """Absolute path of ``name`` on PATH, else :class:`MissingResourceError` saying how to install it."""
    path = shutil.which(name, path=os.environ.get("PATH", ""))
    if path is None:
        raise MissingResourceError(
            f"{name!r} was not found on PATH; {purpose} needs Debian's x265 and ffmpeg "
            "(apt-get install x265 ffmpeg; scripts/setup.sh installs them)"
        )
    return path
