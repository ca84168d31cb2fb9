"""What of a JPEG, WebP, AVIF or JPEG 2000 file crosses the channel, and how the receiver rebuilds the file.

- **JPEG**: the file minus its optional APPn (JFIF, Exif, ...) and COM segments. Header bytes:
  every marker segment before the scan data (DQT, SOF, DHT, SOS, ...) plus SOI and EOI.
  Self-delimiting (EOI).
- **WebP** (lossy, simple format): ``ue7(size)`` + the ``VP8`` bitstream. The 20-byte RIFF/WEBP
  container (sizes only) is rebuilt by the receiver and reported as side information. Header
  bytes: the size prefix and the VP8 frame header (10 bytes: frame tag, start code, dimensions).
- **AVIF**: the AV1 bitstream of the image item (sequence header OBU + frame OBU). The ISOBMFF
  container (``ftyp``, ``meta`` with ``iloc``/``ispe``/``av1C``/``colr``..., the ``mdat`` box
  header, about 270 bytes) and AV1's 2-byte temporal delimiter carry nothing the receiver does
  not know: it rebuilds them from a template, the file of a flat image of the same size and
  pixel format coded with the same settings (the size and pixel format are read from the
  sequence header), with the item and ``mdat`` lengths patched. Reported as side information.
  Header bytes: the sequence header OBU and the OBU headers. Self-delimiting (OBU sizes).
- **JPEG 2000**: the codestream (``.j2k``, no JP2 boxes). Header bytes: main header and
  tile-part headers (SOC ... SOD) and EOC. Self-delimiting (EOC, tile-part lengths).

Parsers here read received, possibly corrupted bytes: they raise only
:class:`~semlink.tx.codecs.bitstream.TruncatedData`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from semlink.tx.codecs.bitstream import BitReader, TruncatedData, read_leb128, read_ue7, write_ue7

__all__ = [
    "jpeg_payload",
    "jpeg_header_bytes",
    "webp_payload",
    "webp_file",
    "WEBP_CONTAINER_BYTES",
    "AvifTemplate",
    "av1_payload",
    "av1_image_format",
    "j2k_header_bytes",
]

# --------------------------------------------------------------------------------------------------
# JPEG
# --------------------------------------------------------------------------------------------------
_SOI, _EOI, _SOS = 0xD8, 0xD9, 0xDA


def _jpeg_segments(data: bytes) -> tuple[list[tuple[int, int, int]], int]:
    """Marker segments ``(marker, start, end)`` before the scan data, and where the scan data starts."""
    if data[:2] != b"\xff\xd8":
        raise TruncatedData("no JPEG SOI marker")
    segments = [(_SOI, 0, 2)]
    pos = 2
    while True:
        if pos + 4 > len(data) or data[pos] != 0xFF:
            raise TruncatedData("JPEG marker expected")
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise TruncatedData("JPEG segment runs past the data")
        segments.append((marker, pos, end))
        pos = end
        if marker == _SOS:
            return segments, pos


def jpeg_payload(file: bytes) -> bytes:
    """The JPEG ``file`` without APPn (0xE0-0xEF) and COM (0xFE) segments."""
    segments, scan = _jpeg_segments(file)
    kept = b"".join(file[s:e] for m, s, e in segments if not (0xE0 <= m <= 0xEF or m == 0xFE))
    return kept + file[scan:]


def jpeg_header_bytes(payload: bytes) -> int:
    """Bytes of ``payload`` that are marker segments (SOI ... SOS) or EOI, i.e. not scan data."""
    _, scan = _jpeg_segments(payload)
    return scan + 2


# --------------------------------------------------------------------------------------------------
# WebP
# --------------------------------------------------------------------------------------------------
#: RIFF header (12 bytes) + ``VP8 `` chunk header (8 bytes), rebuilt by the receiver.
WEBP_CONTAINER_BYTES = 20
_VP8_FRAME_HEADER = 10


def webp_payload(file: bytes) -> tuple[bytes, int]:
    """``(payload, header_bytes)`` of a simple-format lossy WebP file."""
    if file[:4] != b"RIFF" or file[8:16] != b"WEBPVP8 ":
        raise TruncatedData("not a simple-format lossy WebP file")
    (size,) = struct.unpack("<I", file[16:20])
    vp8 = file[20 : 20 + size]
    if len(vp8) != size or 20 + size + (size & 1) != len(file):
        raise TruncatedData("WebP chunk size does not match the file")
    prefix = write_ue7(size)
    return prefix + vp8, len(prefix) + _VP8_FRAME_HEADER


def webp_file(payload: bytes) -> bytes:
    """Rebuild the WebP file from a (received) payload; trailing bytes after the VP8 data are ignored."""
    size, pos = read_ue7(payload, 0, max_bytes=4)
    vp8 = payload[pos : pos + size]
    if len(vp8) < _VP8_FRAME_HEADER:
        raise TruncatedData("VP8 data shorter than its frame header")
    pad = b"\x00" * (len(vp8) & 1)
    chunk = b"VP8 " + struct.pack("<I", len(vp8)) + vp8 + pad
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


# --------------------------------------------------------------------------------------------------
# AVIF / AV1
# --------------------------------------------------------------------------------------------------
_OBU_SEQUENCE_HEADER, _OBU_TEMPORAL_DELIMITER = 1, 2
_TEMPORAL_DELIMITER = b"\x12\x00"


def _obu_at(data: bytes, pos: int) -> tuple[int, int, int, int]:
    """``(type, start, payload_start, end)`` of the OBU at ``pos``; it must carry its size."""
    header = data[pos]
    if header & 0x80 or not header & 0x02:  # forbidden bit, or no obu_has_size_field
        raise TruncatedData("malformed OBU header")
    body = pos + 1 + (1 if header & 0x04 else 0)  # extension byte
    size, body = read_leb128(data, body)
    if body + size > len(data):
        raise TruncatedData("OBU runs past the data")
    return (header >> 3) & 0xF, pos, body, body + size


def _obus(data: bytes) -> list[tuple[int, int, int, int]]:
    out, pos = [], 0
    while pos < len(data):
        out.append(_obu_at(data, pos))
        pos = out[-1][3]
    return out


def av1_payload(item: bytes) -> tuple[bytes, int]:
    """``(payload, header_bytes)`` from an AVIF item's AV1 data: drop the temporal delimiter."""
    kept, header = [], 0
    for kind, start, body, end in _obus(item):
        if kind == _OBU_TEMPORAL_DELIMITER:
            continue
        kept.append(item[start:end])
        header += (end - start) if kind == _OBU_SEQUENCE_HEADER else (body - start)
    return b"".join(kept), header


def av1_image_format(payload: bytes) -> tuple[int, int, bool, int]:
    """``(width, height, monochrome, payload length)`` from a received AV1 payload.

    Reads the reduced still-picture sequence header that libavif writes for a single image
    (AV1 5.5); the payload ends after the first frame OBU (later bytes are padding).
    """
    obus = []
    pos = 0
    while pos < len(payload):  # OBU by OBU: the padding after the picture need not parse
        obus.append(_obu_at(payload, pos))
        pos = obus[-1][3]
        if obus[-1][0] in (3, 6):  # frame header or frame: the picture is complete
            break
    if not obus or obus[0][0] != _OBU_SEQUENCE_HEADER:
        raise TruncatedData("the AV1 payload must start with a sequence header")
    r = BitReader(payload[obus[0][2] : obus[0][3]])
    profile = r.u(3)
    r.u(1)  # still_picture
    if not r.u(1):  # reduced_still_picture_header
        raise TruncatedData("expected a reduced still-picture sequence header")
    r.u(5)  # seq_level_idx[0]
    width_bits, height_bits = r.u(4) + 1, r.u(4) + 1
    width, height = r.u(width_bits) + 1, r.u(height_bits) + 1
    r.u(1)  # use_128x128_superblock
    r.u(1)  # enable_filter_intra
    r.u(1)  # enable_intra_edge_filter
    r.u(1)  # enable_superres
    r.u(1)  # enable_cdef
    r.u(1)  # enable_restoration
    high_bitdepth = r.u(1)
    if profile == 2 and high_bitdepth:
        r.u(1)  # twelve_bit
    monochrome = False if profile == 1 else bool(r.u(1))
    return width, height, monochrome, pos


def _boxes(data: bytes, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    """ISOBMFF boxes in ``data[start:end]`` (32-bit sizes): type -> (box start, box end)."""
    out, pos = {}, start
    while pos + 8 <= end:
        (size,) = struct.unpack(">I", data[pos : pos + 4])
        if size < 8 or pos + size > end:
            raise TruncatedData("malformed box")
        out.setdefault(data[pos + 4 : pos + 8], (pos, pos + size))
        pos += size
    return out


@dataclass(frozen=True)
class AvifTemplate:
    """The receiver-known part of an AVIF file: all bytes before the item data, and where its lengths sit."""

    prefix: bytes  # ftyp + meta + mdat box header (lengths as in the reference file)
    extent_length_at: int  # offset of the item's 4-byte extent_length in iloc
    mdat_size_at: int

    @classmethod
    def from_file(cls, file: bytes) -> tuple[AvifTemplate, bytes]:
        """Split a single-item AVIF file written by libavif into ``(template, item data)``."""
        top = _boxes(file, 0, len(file))
        if not {b"ftyp", b"meta", b"mdat"} <= set(top):
            raise TruncatedData("not an AVIF file with ftyp, meta and mdat")
        meta_start, meta_end = top[b"meta"]
        inner = _boxes(file, meta_start + 12, meta_end)  # meta is a FullBox
        iloc_start, _ = inner[b"iloc"]
        p = iloc_start + 8
        version = file[p]
        sizes = file[p + 4]
        offset_size, length_size = sizes >> 4, sizes & 0xF
        base_offset_size = file[p + 5] >> 4
        count = struct.unpack(">H", file[p + 6 : p + 8])[0]
        if version != 0 or count != 1 or (offset_size, length_size, base_offset_size) != (4, 4, 0):
            raise TruncatedData("unexpected iloc layout")
        if struct.unpack(">H", file[p + 12 : p + 14])[0] != 1:  # extent_count
            raise TruncatedData("item in more than one extent")
        extent_offset = struct.unpack(">I", file[p + 14 : p + 18])[0]
        extent_length_at = p + 18
        extent_length = struct.unpack(">I", file[extent_length_at : extent_length_at + 4])[0]
        mdat_start, mdat_end = top[b"mdat"]
        if extent_offset != mdat_start + 8 or extent_offset + extent_length != mdat_end or mdat_end != len(file):
            raise TruncatedData("the item is not the whole mdat at the end of the file")
        return cls(file[:extent_offset], extent_length_at, mdat_start), file[extent_offset:]

    def build(self, item: bytes) -> bytes:
        out = bytearray(self.prefix)
        out[self.extent_length_at : self.extent_length_at + 4] = struct.pack(">I", len(item))
        out[self.mdat_size_at : self.mdat_size_at + 4] = struct.pack(">I", 8 + len(item))
        return bytes(out) + item

    def file_from_payload(self, payload: bytes) -> bytes:
        return self.build(_TEMPORAL_DELIMITER + payload)

    @property
    def side_info_bytes(self) -> int:
        return len(self.prefix) + len(_TEMPORAL_DELIMITER)


# --------------------------------------------------------------------------------------------------
# JPEG 2000
# --------------------------------------------------------------------------------------------------
_J2K_SOC, _J2K_SOD = 0xFF4F, 0xFF93


def j2k_header_bytes(codestream: bytes) -> int:
    """Bytes of a single-tile codestream that are marker segments (SOC ... SOD) or EOC."""
    if codestream[:2] != b"\xff\x4f":
        raise TruncatedData("no J2K SOC marker")
    pos = 2
    while pos + 2 <= len(codestream):
        (marker,) = struct.unpack(">H", codestream[pos : pos + 2])
        if marker == _J2K_SOD:
            return pos + 2 + 2
        (length,) = struct.unpack(">H", codestream[pos + 2 : pos + 4])
        pos += 2 + length
    raise TruncatedData("no SOD marker")
