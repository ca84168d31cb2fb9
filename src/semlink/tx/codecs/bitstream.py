"""Byte- and bit-level helpers shared by the codec wrappers.

- ``ue7``: BPG's variable-length unsigned integer (big-endian groups of 7 bits, the high bit of
  each byte set when more bytes follow), used in the BPG-style header and as a length prefix.
- ``leb128``: AV1's variable-length unsigned integer (little-endian groups of 7 bits), read to
  walk AV1 OBUs.
- :class:`BitReader`: MSB-first bit reader with HEVC's ``u(n)``, ``ue(v)`` and ``se(v)``.
- Annex-B helpers: split a byte stream at start codes, and convert between a NAL unit's escaped
  payload (EBSP, with emulation-prevention bytes) and its raw payload (RBSP).

Every reader raises :class:`TruncatedData` (never anything else) when the data ends early or a
value is out of range, so parsers of received, possibly corrupted bytes can catch one exception.
"""

from __future__ import annotations

import re

__all__ = [
    "TruncatedData",
    "write_ue7",
    "read_ue7",
    "read_leb128",
    "BitReader",
    "split_annexb",
    "ebsp_to_rbsp",
    "rbsp_to_ebsp",
]

_START_CODE = re.compile(b"\x00\x00\x01")
_EMULATION = re.compile(b"\x00\x00\x03")
_NEEDS_ESCAPE = re.compile(b"\x00\x00(?=[\x00-\x03])")


class TruncatedData(Exception):
    """The bytes end before the field being read, or a field is malformed."""


def write_ue7(value: int) -> bytes:
    """BPG ``ue7``: ``value >= 0`` as big-endian 7-bit groups, continuation bit 0x80 on all but the last."""
    if value < 0:
        raise ValueError(f"ue7 encodes integers >= 0, got {value}")
    groups = [value & 0x7F]
    value >>= 7
    while value:
        groups.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(groups))


def read_ue7(data: bytes, pos: int, max_bytes: int = 5) -> tuple[int, int]:
    """Read one ``ue7`` at ``pos``; returns ``(value, next_pos)``. At most ``max_bytes`` bytes."""
    value = 0
    for i in range(max_bytes):
        if pos + i >= len(data):
            raise TruncatedData("ue7 runs past the end of the data")
        byte = data[pos + i]
        if i == 0 and byte == 0x80:
            raise TruncatedData("ue7 with a leading zero group")  # not the shortest form
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, pos + i + 1
    raise TruncatedData(f"ue7 longer than {max_bytes} bytes")


def read_leb128(data: bytes, pos: int, max_bytes: int = 8) -> tuple[int, int]:
    """Read one AV1 ``leb128`` at ``pos``; returns ``(value, next_pos)``."""
    value = 0
    for i in range(max_bytes):
        if pos + i >= len(data):
            raise TruncatedData("leb128 runs past the end of the data")
        byte = data[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos + i + 1
    raise TruncatedData(f"leb128 longer than {max_bytes} bytes")


class BitReader:
    """MSB-first bits of ``data`` (HEVC/AV1 order)."""

    def __init__(self, data: bytes, bit_pos: int = 0) -> None:
        self._data = data
        self.pos = bit_pos

    @property
    def bits_left(self) -> int:
        return 8 * len(self._data) - self.pos

    def u(self, n: int) -> int:
        """``u(n)``: ``n`` bits as an unsigned integer."""
        if n > self.bits_left:
            raise TruncatedData(f"need {n} bits, {self.bits_left} left")
        value = 0
        for _ in range(n):
            byte = self._data[self.pos >> 3]
            value = (value << 1) | ((byte >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value

    def ue(self) -> int:
        """``ue(v)``: Exp-Golomb unsigned (at most 32 leading zeros)."""
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 32:
                raise TruncatedData("Exp-Golomb code with more than 32 leading zeros")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        """``se(v)``: Exp-Golomb signed (1 -> 1, 2 -> -1, 3 -> 2, ...)."""
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def split_annexb(stream: bytes) -> list[bytes]:
    """NAL units (header + EBSP) of an Annex-B byte stream; zero bytes before start codes dropped."""
    starts = [m.end() for m in _START_CODE.finditer(stream)]
    units = []
    for i, begin in enumerate(starts):
        end = starts[i + 1] - 3 if i + 1 < len(starts) else len(stream)
        unit = stream[begin:end].rstrip(b"\x00") if i + 1 < len(starts) else stream[begin:end]
        if unit:
            units.append(unit)
    return units


def ebsp_to_rbsp(ebsp: bytes) -> bytes:
    """Drop the emulation-prevention byte of every ``00 00 03`` (H.265 7.4.2)."""
    return _EMULATION.sub(b"\x00\x00", ebsp)


def rbsp_to_ebsp(rbsp: bytes) -> bytes:
    """Insert ``03`` after every ``00 00`` followed by a byte <= 3 or ending the data (H.265 7.4.2).

    The result never contains a start code (``00 00 0x``, x <= 2), so a NAL unit of any content,
    corrupted or not, stays exactly one NAL unit in an Annex-B stream. (A single trailing ``00``,
    which no intact RBSP has, reads as a trailing zero of the stream and is lost: harmless.)
    """
    out = _NEEDS_ESCAPE.sub(b"\x00\x00\x03", rbsp)
    if out.endswith(b"\x00\x00"):
        out += b"\x03"
    return out
