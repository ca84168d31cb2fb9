"""File checksums: sha256_file, with and without its memo."""

from __future__ import annotations

import hashlib
import os

from semlink.io import sha256_file


def test_sha256_file_matches_hashlib(tmp_path) -> None:
    path = tmp_path / "data.bin"
    data = os.urandom(5 << 20)  # more than one 4 MiB chunk
    path.write_bytes(data)
    assert sha256_file(path) == sha256_file(str(path), memoise=True) == hashlib.sha256(data).hexdigest()


def test_memo_is_keyed_by_path_size_and_mtime_and_is_opt_in(tmp_path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"a" * 100)
    first = sha256_file(path, memoise=True)
    stamp = path.stat()
    # Same size, same mtime, other bytes: the memo cannot tell (why integrity checks never memoise)...
    path.write_bytes(b"b" * 100)
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert sha256_file(path, memoise=True) == first
    # ...while the plain call reads the file again.
    assert sha256_file(path) == hashlib.sha256(b"b" * 100).hexdigest() != first
    # A new mtime is a new key.
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000_000))
    assert sha256_file(path, memoise=True) == hashlib.sha256(b"b" * 100).hexdigest()
