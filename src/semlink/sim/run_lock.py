"""One writer per run folder: a lock file that the operating system releases when its holder dies.

:class:`RunLock` creates ``<folder>/.semlink.lock``, holds an exclusive ``flock`` on it and writes
into it who holds it (pid, host, start time, command line). A second process that asks for the
same folder is refused at once, with one line naming the holder.

When is a lock stale? When nobody holds its ``flock``: the kernel drops the locks of a process
that exits, however it exits (SIGKILL and power loss included), so a lock file left by a killed
run is taken over by the next one, which says whose it was. File systems that cannot ``flock``
(some network and FUSE mounts) fall back to the recorded pid: the lock is stale when it was
taken on this host and no process has that pid any more; a lock taken on another host is never
presumed stale (the message names it, to be deleted by hand once that run is gone).

Within one process the lock is re-entrant (a run and a resume in one Python session share it)
until :meth:`RunLock.release`, which deletes the file.

>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> lock = RunLock(folder)
>>> lock.acquire() is None, lock.held
(True, True)
>>> lock.release(); lock.held
False
"""

from __future__ import annotations

import datetime
import errno
import json
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semlink.errors import SemlinkError

__all__ = ["LOCK_FILE", "LockHolder", "RunLock"]

LOCK_FILE = ".semlink.lock"

_HELD: dict[str, int] = {}
"""Folders this process holds: resolved lock path → the lock file's open descriptor."""

_NO_FLOCK = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or held) a lock, as its file says."""

    pid: int | None
    host: str | None
    started_utc: str | None
    command: str | None

    @classmethod
    def read(cls, path: Path) -> LockHolder:
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            info = None
        if not isinstance(info, dict):
            return cls(None, None, None, None)
        pid = info.get("pid")
        return cls(pid if isinstance(pid, int) else None, info.get("host"), info.get("started_utc"),
                   info.get("command"))

    def describe(self) -> str:
        if self.pid is None:
            return "a semlink process (it has not written its details yet)"
        text = f"pid {self.pid} on host {self.host}, started {self.started_utc}"
        return text + (f": {self.command}" if self.command else "")


def _me() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["semlink", *sys.argv[1:]]) if sys.argv else None,
    }


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


class RunLock:
    """The lock of the run folder ``folder`` (see the module docstring)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.path = Path(folder) / LOCK_FILE

    @property
    def _key(self) -> str:
        return str(self.path.resolve())

    @property
    def held(self) -> bool:
        """Whether this process holds the lock."""
        return self._key in _HELD

    def acquire(self) -> LockHolder | None:
        """Take the lock, or raise :class:`SemlinkError` naming its holder. Returns the holder of a
        stale lock that was taken over (None when there was none). The folder must exist."""
        if self.held:
            return None
        for _ in range(10):  # retried only when the file is replaced between open and lock
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as err:
                raise SemlinkError(f"cannot create the lock file {self.path}: {err.strerror}") from None
            try:
                taken = self._lock(fd)
            except BaseException:
                os.close(fd)
                raise
            if taken is None:  # lost a race with a release: try again on the new file
                os.close(fd)
                continue
            _HELD[self._key] = fd
            return taken if taken.pid is not None else None
        raise SemlinkError(f"could not take the lock {self.path}: it keeps being replaced by other processes")

    def _lock(self, fd: int) -> LockHolder | None:
        """Lock the open file ``fd``: its previous holder's details (all None if it was fresh),
        None if the file was replaced meanwhile; raises when another process holds it."""
        import fcntl

        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise self._busy(LockHolder.read(self.path)) from None
        except OSError as err:
            if err.errno not in _NO_FLOCK:
                raise
            return self._lock_by_pid(fd)
        try:
            if os.fstat(fd).st_ino != os.stat(self.path).st_ino:
                return None
        except FileNotFoundError:
            return None
        previous = LockHolder.read(self.path)
        self._write(fd)
        return previous

    def _lock_by_pid(self, fd: int) -> LockHolder | None:
        """Fallback without ``flock``: the recorded pid decides (see the module docstring)."""
        previous = LockHolder.read(self.path)
        if previous.pid is not None and previous.pid != os.getpid():
            if previous.host != socket.gethostname():
                raise SemlinkError(
                    f"{self.path.parent} is in use by {previous.describe()} (this file system cannot lock "
                    f"files, and a lock from another host cannot be checked); if that run is gone, delete "
                    f"{self.path}"
                )
            if _pid_alive(previous.pid):
                raise self._busy(previous)
        self._write(fd)
        return previous

    def _busy(self, holder: LockHolder) -> SemlinkError:
        return SemlinkError(
            f"{self.path.parent} is in use by another semlink run ({holder.describe()}); wait for it to "
            "finish, or choose another --out folder"
        )

    def _write(self, fd: int) -> None:
        data = (json.dumps(_me(), indent=2) + "\n").encode("utf-8")
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        os.fsync(fd)

    def release(self) -> None:
        """Give the lock up and delete its file (nothing if this process does not hold it)."""
        fd = _HELD.pop(self._key, None)
        if fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass  # a read-only folder by now: the kernel lock still goes with the descriptor
        os.close(fd)
