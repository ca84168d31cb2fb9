"""Atomic file writes, file checksums and the run manifest (config, versions, seed, git commit).

Nothing is written half: every writer goes to a temporary file in the same folder, flushes and
fsyncs it, then renames it over the target (atomic on POSIX).
"""

from __future__ import annotations

import contextlib
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
    finally:
        if tmp.exists():
            tmp.unlink()


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


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape results (absent ones left out)."""
    versions: dict[str, str] = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def git_commit(path: str | os.PathLike[str] | None = None) -> str | None:
    """The commit of the git checkout holding ``path`` (default: this package), or None."""
    where = Path(path) if path else Path(__file__).resolve().parent
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
