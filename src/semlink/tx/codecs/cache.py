"""Encodes cached by (image content, codec with its options and library version, quality).

A sweep over SNRs and budgets asks for the same (image, quality) pairs again and again;
:class:`EncodeCache` encodes each pair once. Entries live in memory and, with ``directory``, on
disk, so a resumed or repeated run reuses them:

``<directory>/<codec hash>/codec.json``  the codec's :attr:`~ImageCodec.cache_key` (readable)
``<directory>/<codec hash>/q<quality>.bin``  all images encoded at that quality

A ``.bin`` shard is a small binary format (no pickle): magic ``SLENC1\\n``, a record count
(u32), records (16-byte image digest, header bytes u32, side-information bytes u32, encode
seconds f64, payload length u32, payload), and the SHA-256 of all that. Shards are rewritten
whole and atomically (merged with what another process may have written meanwhile); a shard
that fails its checks is ignored with a warning and rebuilt.
"""

from __future__ import annotations

import hashlib
import os
import struct
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from semlink.errors import SemlinkError
from semlink.imaging import image_digest
from semlink.io import write_bytes_atomic, write_text_atomic
from semlink.tx.codecs.base import Encoded, ImageCodec, as_image_list

__all__ = ["EncodeCache", "image_digest"]

_MAGIC = b"SLENC1\n"
_RECORD = struct.Struct("<16sIIdI")


def _codec_hash(codec: ImageCodec) -> str:
    return hashlib.blake2b(codec.cache_key.encode(), digest_size=12).hexdigest()


def _pack(entries: dict[bytes, Encoded]) -> bytes:
    body = bytearray(_MAGIC + struct.pack("<I", len(entries)))
    for digest, enc in sorted(entries.items()):
        body += _RECORD.pack(digest, enc.header_bytes, enc.side_info_bytes, enc.encode_seconds, len(enc.payload))
        body += enc.payload
    return bytes(body) + hashlib.sha256(body).digest()


def _unpack(data: bytes, quality: int) -> dict[bytes, Encoded]:
    body, checksum = data[:-32], data[-32:]
    if not body.startswith(_MAGIC) or hashlib.sha256(body).digest() != checksum:
        raise ValueError("bad magic or checksum")
    (count,) = struct.unpack_from("<I", body, len(_MAGIC))
    pos = len(_MAGIC) + 4
    out = {}
    for _ in range(count):
        digest, header, side, seconds, length = _RECORD.unpack_from(body, pos)
        pos += _RECORD.size
        payload = body[pos : pos + length]
        if len(payload) != length:
            raise ValueError("record runs past the end")
        pos += length
        out[digest] = Encoded(payload, quality, header, side, seconds)
    if pos != len(body):
        raise ValueError("trailing bytes")
    return out


class EncodeCache:
    """Encode through a codec, reusing earlier encodes of the same image at the same quality.

    :param directory: where to keep encodes across runs; ``None`` keeps them in memory only.

    Example::

        cache = EncodeCache("runs/x/encodes")
        encoded = cache.encode(codec, images, quality=30)        # encodes
        encoded = cache.encode(codec, images, quality=30)        # from memory (or disk next run)
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = None if directory is None else Path(directory)
        self._shards: dict[tuple[str, int], dict[bytes, Encoded]] = {}
        self.hits = 0
        self.misses = 0

    def encode(self, codec: ImageCodec, images: Any, quality: int | Sequence[int]) -> list[Encoded]:
        """Like ``codec.encode(images, quality)``; only the (image, quality) pairs not seen before are encoded."""
        image_list = as_image_list(images)
        if isinstance(quality, (Sequence, np.ndarray)) and not isinstance(quality, (str, bytes)):
            qualities = [codec.check_quality(q) for q in quality]
            if len(qualities) != len(image_list):
                raise SemlinkError(f"got {len(qualities)} qualities for {len(image_list)} images")
        else:
            qualities = [codec.check_quality(quality)] * len(image_list)
        key = _codec_hash(codec)
        digests = [image_digest(im) for im in image_list]
        out: list[Encoded | None] = []
        missing: dict[tuple[bytes, int], list[int]] = {}
        for i, (digest, q) in enumerate(zip(digests, qualities)):
            hit = self._shard(codec, key, q).get(digest)
            out.append(hit)
            if hit is None:
                missing.setdefault((digest, q), []).append(i)
        self.hits += len(image_list) - sum(len(v) for v in missing.values())
        if missing:
            firsts = [v[0] for v in missing.values()]
            encoded = codec.encode([image_list[i] for i in firsts], [qualities[i] for i in firsts])
            touched = set()
            for ((digest, q), indices), enc in zip(missing.items(), encoded):
                self._shards[(key, q)][digest] = enc
                touched.add(q)
                for i in indices:
                    out[i] = enc
            self.misses += len(firsts)
            for q in touched:
                self._flush(codec, key, q)
        return out  # type: ignore[return-value]

    def __len__(self) -> int:
        return sum(len(s) for s in self._shards.values())

    # -- disk -------------------------------------------------------------------------------------
    def _path(self, key: str, quality: int) -> Path:
        assert self.directory is not None
        return self.directory / key / f"q{quality}.bin"

    def _read(self, key: str, quality: int) -> dict[bytes, Encoded]:
        if self.directory is None:
            return {}
        path = self._path(key, quality)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            warnings.warn(f"ignoring unreadable encode cache {str(path)!r}: {exc}", RuntimeWarning, stacklevel=4)
            return {}
        try:
            return _unpack(data, quality)
        except (ValueError, struct.error) as exc:
            warnings.warn(f"ignoring corrupt encode cache {str(path)!r} ({exc}); it will be rebuilt",
                          RuntimeWarning, stacklevel=4)
            return {}

    def _shard(self, codec: ImageCodec, key: str, quality: int) -> dict[bytes, Encoded]:
        if (key, quality) not in self._shards:
            self._shards[(key, quality)] = self._read(key, quality)
        return self._shards[(key, quality)]

    def _flush(self, codec: ImageCodec, key: str, quality: int) -> None:
        if self.directory is None:
            return
        shard = self._shards[(key, quality)]
        for digest, enc in self._read(key, quality).items():  # merge what others wrote meanwhile
            shard.setdefault(digest, enc)
        info = self.directory / key / "codec.json"
        if not info.exists():
            write_text_atomic(info, codec.cache_key + "\n")
        write_bytes_atomic(self._path(key, quality), _pack(shard))
