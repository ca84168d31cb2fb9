"""Atomic file writes, file checksums, output-path checks and the run manifest (config, versions,
seed, git commit).

Nothing is written half: every writer goes to a temporary file in the same folder, flushes and
fsyncs it, then renames it over the target (atomic on POSIX); a failed write (a full disk, a kill)
removes its temporary file and leaves the target as it was, and raises an :class:`OSError` naming
the target (also when the library that wrote reported it otherwise, e.g. safetensors or FAISS). :func:`check_output_folder` and
:func:`check_output_file` refuse, before any work, an output path that cannot be written.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from semlink.errors import SemlinkError

TRACKED_PACKAGES = (
    "semlink",
    "torch",
    "torchvision",
    "sionna-no-rt",
    "numpy",
    "faiss-cpu",
    "faiss-gpu-cu12",
    "open-clip-torch",
    "onnxruntime",
    "pydantic",
    "pyarrow",
)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; a results file is as shareable as any other
        os.replace(tmp, target)
    except OSError as err:
        if err.filename is None or str(err.filename) == str(tmp):  # name the file the user knows, not ours
            err.filename = str(target)
        raise
    except Exception as err:
        failure = _file_system_failure(err)
        if failure is None:
            raise
        failure.filename = str(target)
        raise failure from err
    finally:
        if tmp.exists():
            tmp.unlink()


_FILE_SYSTEM_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EIO)


def _file_system_failure(err: Exception) -> OSError | None:
    """The :class:`OSError` a library's write failure names in its message (safetensors raises
    ``SafetensorError``, FAISS ``RuntimeError``, each quoting the system's error text), else None: so a
    full disk is one kind of error whichever library was writing."""
    text = str(err)
    for code in _FILE_SYSTEM_ERRNOS:
        if os.strerror(code) in text:
            return OSError(code, os.strerror(code))
    return None


def write_bytes_atomic(target: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(target: str | os.PathLike[str], text: str) -> None:
    write_bytes_atomic(target, text.encode("utf-8"))


def write_json_atomic(target: str | os.PathLike[str], obj: Any) -> None:
    write_text_atomic(target, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


_SHA256_MEMO: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | os.PathLike[str], *, memoise: bool = False) -> str:
    """Hex SHA-256 of a file's bytes, read in 4 MiB chunks.

    ``memoise=True`` remembers the digest per (resolved path, size, mtime): for naming large files
    that are read but never rewritten, such as model weights, whose identity is asked for again
    and again. Integrity checks must not memoise: a rewrite of the same size within one tick of
    the file-system clock would go unseen.
    """
    key = None
    if memoise:
        resolved = Path(path).resolve()
        st = resolved.stat()
        key = (str(resolved), st.st_size, st.st_mtime_ns)
        if key in _SHA256_MEMO:
            return _SHA256_MEMO[key]
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    digest = h.hexdigest()
    if key is not None:
        _SHA256_MEMO[key] = digest
    return digest


def describe_os_error(err: OSError) -> str:
    """One line for a failed file operation: why, and on which file.

    >>> describe_os_error(OSError(28, "No space left on device", "/runs/x/results.csv"))
    'No space left on device: /runs/x/results.csv'
    """
    # A library's own wording of a full disk or a refused write is the system's, made longer: use the system's.
    reason = os.strerror(err.errno) if err.errno in _FILE_SYSTEM_ERRNOS else err.strerror
    reason = reason or str(err) or type(err).__name__
    names = [str(n) for n in (err.filename, err.filename2) if n is not None]
    return f"{reason}: {' -> '.join(names)}" if names else reason


def check_output_folder(path: str | os.PathLike[str], what: str = "--out") -> Path:
    """Refuse, before any work, a folder that cannot be written: a file in its place or on its path,
    or a place where this process may not write. A missing folder, and missing parents, are fine
    (they are created when written).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise SemlinkError(f"{what} {path} is a file, not a folder; give a folder path (or move the file away)")
    _check_creatable(path, path, what)
    return path


def check_output_file(path: str | os.PathLike[str], what: str = "--out", example: str = "out.dat") -> Path:
    """:func:`check_output_folder` for a file: refuse a folder in its place, a file on its path, or a
    folder where this process may not write (``example`` names a file in the message)."""
    path = Path(path)
    if path.is_dir():
        raise SemlinkError(f"{what} {path} is a folder, not a file; give a file path such as {path / example}")
    _check_creatable(path.parent, path, what)
    return path


def _check_creatable(folder: Path, path: Path, what: str) -> None:
    """The nearest existing folder on the way to ``folder`` must be writable (``path`` is named)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise SemlinkError(f"{what} {path} cannot be made: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        read_only = bool(os.statvfs(existing).f_flag & os.ST_RDONLY)
        reason = "the file system is read-only" if read_only else "permission denied"
        inside = "" if existing == path else f" (in {existing})"
        raise SemlinkError(f"{what} {path} cannot be written: {reason}{inside}; choose another place")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape results (absent ones left out)."""
    versions: dict[str, str] = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


_PACKAGE_COMMIT: list[str | None] = []  # this package's commit, read once: the code this process runs


def git_commit(path: str | os.PathLike[str] | None = None) -> str | None:
    """The commit of the git checkout holding ``path``, or None. Default: this package's checkout, read
    at the first call and kept, so a run that outlives a commit still names the code it runs."""
    if path is None:
        if not _PACKAGE_COMMIT:
            _PACKAGE_COMMIT.append(git_commit(Path(__file__).resolve().parent))
        return _PACKAGE_COMMIT[0]
    where = Path(path)
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def build_manifest(config: dict[str, Any], seed: int, **extra: Any) -> dict[str, Any]:
    """The manifest every results folder carries: resolved config, versions, seed, git commit."""
    import datetime

    return {
        "config": config,
        "seed": int(seed),
        "versions": package_versions(),
        "git_commit": git_commit(),
        "platform": platform.platform(),
        "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        **extra,
    }
