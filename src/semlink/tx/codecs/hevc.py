"""``bpg``: HEVC intra coding as BPG does it, through Debian's ``x265`` encoder and ``ffmpeg`` decoder.

Encoding
--------
A batch of same-sized images is ONE x265 run: an all-intra sequence (every frame an IDR picture,
constant QP per frame through a qpfile, ``--ipratio 1`` so the I-frame QP is the QP asked for,
``--tune psnr``, no SEI (``--no-info``), one slice, no wavefronts). The Annex-B output is split per
frame. Images are padded (edges replicated) to a multiple of 8 pixels and at least 16 (HEVC's
minimum coding block and x265's smallest CTU); the CTU is the largest of 64/32/16 that fits.
Grayscale images are coded 4:0:0; colour images are converted to BT.601 full-range Y'CbCr
(BPG's default colour space) with 4:2:0 chroma (BPG's default, ``chroma_format="420"``) or 4:4:4
(``"444"``); see :mod:`semlink.tx.codecs.colour`. 8 bits per sample.

Quality
-------
BPG's quality is its ``-q`` option, the HEVC QP 0..51 (lower is better). The codec's scale runs
worst -> best: ``quality = 51 - QP`` (:func:`quality_to_qp`, :func:`qp_to_quality`).

Payload and side information
----------------------------
See :mod:`semlink.tx.codecs.bpg_format`: a 4..8-byte BPG-style header (``Encoded.header_bytes``)
and the slice RBSP. The VPS, SPS and PPS are receiver-known side information: x265 writes them
from the padded picture size, the pixel format and the encoder settings only (checked on every
encode: they do not depend on the QP or the content; x265 does flag one-picture sequences in them,
so a single image is coded together with a copy of itself), so the receiver rebuilds them from the
header by coding a flat picture of that size with the same settings. ``Encoded.side_info_bytes`` reports their size as
they would be sent (each ``ue7(size)`` + 2-byte NAL header + RBSP): VPS 21, SPS 33 and PPS 6
bytes, 63 in all, for 28 x 28 gray and 32 x 32 RGB (4:2:0 or 4:4:4); 65 (gray, 4:2:0) or 66 (4:4:4)
at 512 x 512. ``count_parameter_sets=True`` sends them in the payload instead (then
``side_info_bytes = 0`` and ``header_bytes`` includes them).

Decoding
--------
The receiver parses the header (a malformed one gives ``None``), rebuilds the Annex-B stream
(parameter sets, NAL header, emulation prevention) and decodes with ffmpeg's HEVC decoder, all
payloads of one size in one ffmpeg run. ffmpeg runs as a child process with a time limit; a
damaged slice may decode to a damaged picture (returned: it is still an image) or to nothing
(``None``). Pictures are matched to payloads by their timestamps, behind a known-good leading
picture; when that bookkeeping does not add up, the batch is split in halves and decoded again.
"""

from __future__ import annotations

import functools
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semlink.errors import SemlinkError
from semlink.tx.codecs.base import (
    Encoded,
    ImageCodec,
    check_bool,
    check_choice,
    check_options,
)
from semlink.tx.codecs.bitstream import (
    TruncatedData,
    ebsp_to_rbsp,
    rbsp_to_ebsp,
    read_ue7,
    split_annexb,
    write_ue7,
)
from semlink.tx.codecs.bpg_format import (
    BpgHeader,
    PpsFlags,
    normalise_slice_header,
    parse_pps,
    read_header,
    write_header,
)
from semlink.tx.codecs.colour import pad_edges, planes_to_rgb, rgb_to_planes
from semlink.tx.codecs.isolate import find_program, run_isolated

__all__ = ["BpgCodec", "quality_to_qp", "qp_to_quality", "MAX_QP", "X265_PRESETS"]

MAX_QP = 51
X265_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
                "veryslow", "placebo")
CHROMA_FORMATS = ("420", "444")

_SLICE_NAL_HEADER = b"\x28\x01"  # IDR_N_LP, nuh_layer_id 0, nuh_temporal_id_plus1 1
_PARAMETER_SET_TYPES = (32, 33, 34)  # VPS, SPS, PPS
_START = b"\x00\x00\x00\x01"
_CSP = {"400": "i400", "420": "i420", "444": "i444"}
_PIX_FMT = {"400": "gray", "420": "yuv420p", "444": "yuv444p"}
_SAMPLES_PER_PIXEL = {"400": 1.0, "420": 1.5, "444": 3.0}
# Settings of every x265 run; the preset, CTU and picture geometry are added per run.
_X265_FIXED = ["--tune", "psnr", "--keyint", "1", "--min-keyint", "1", "--no-open-gop", "--bframes", "0",
               "--ipratio", "1", "--no-wpp", "--no-info", "--no-progress", "--log-level", "error",
               "--fps", "1", "--input-depth", "8", "--output-depth", "8"]
_SHOWINFO = re.compile(rb"pts_time:\s*(-?[0-9.]+).*?\bs:(\d+)x(\d+)")


def quality_to_qp(quality: int) -> int:
    """Codec quality (0 worst .. 51 best) -> HEVC QP (51 .. 0): ``qp = 51 - quality``."""
    return MAX_QP - int(quality)


def qp_to_quality(qp: int) -> int:
    """HEVC QP (BPG's ``-q``, 0..51) -> codec quality: ``quality = 51 - qp``."""
    return MAX_QP - int(qp)


def padded_size(height: int, width: int) -> tuple[int, int]:
    """Coded picture size: a multiple of 8, at least 16 (x265's smallest CTU)."""
    return max(16, -(-height // 8) * 8), max(16, -(-width // 8) * 8)


def ctu_size(padded_height: int, padded_width: int) -> int:
    return next(c for c in (64, 32, 16) if c <= min(padded_height, padded_width))


@functools.lru_cache(maxsize=4)
def _x265_version(x265: str) -> str:
    try:
        out = subprocess.run([x265, "--version"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    m = re.search(rb"version\s+(\S+)", out.stdout + out.stderr)
    return m.group(1).decode() if m else "unknown"


@dataclass(frozen=True)
class _Reference:
    """Receiver-known streams for one (pixel format, padded size): parameter sets and a sentinel slice."""

    parameter_sets: tuple[bytes, bytes, bytes]  # VPS, SPS, PPS as NAL header + RBSP
    pps: PpsFlags
    sentinel: bytes  # slice RBSP of a flat picture

    @property
    def side_info(self) -> bytes:
        return b"".join(write_ue7(len(p)) + p for p in self.parameter_sets)


class BpgCodec(ImageCodec):
    """HEVC intra (BPG's core) through x265 and ffmpeg; see the module docstring.

    :param chroma_format: ``"420"`` (BPG's default) or ``"444"`` for colour images (grayscale
        images are always 4:0:0).
    :param preset: x265 preset (speed vs size), default ``"medium"``.
    :param count_parameter_sets: send VPS/SPS/PPS in the payload instead of assuming them known.
    :param decode_timeout_s: time limit of one ffmpeg run, plus 5 microseconds per decoded pixel.
    """

    name = "bpg"
    qualities = tuple(range(MAX_QP + 1))
    quality_meaning = "51 - QP; 0 = QP 51 (worst), 51 = QP 0 (best)"

    def __init__(self, **options: Any) -> None:
        opts = check_options(
            "bpg", options,
            {"chroma_format": "420", "preset": "medium", "count_parameter_sets": False, "decode_timeout_s": 20.0},
        )
        check_choice("chroma_format", str(opts["chroma_format"]), CHROMA_FORMATS)
        opts["chroma_format"] = str(opts["chroma_format"])
        check_choice("x265 preset", opts["preset"], X265_PRESETS)
        check_bool("count_parameter_sets", opts["count_parameter_sets"])
        timeout = opts["decode_timeout_s"]
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise SemlinkError(f"decode_timeout_s must be a number > 0, got {timeout!r}")
        self._timeout = float(opts.pop("decode_timeout_s"))  # not part of the cache key
        super().__init__(**opts)
        self._x265 = find_program("x265", "codec 'bpg'")
        self._ffmpeg = find_program("ffmpeg", "codec 'bpg'")
        self._references: dict[tuple[str, int, int], _Reference] = {}

    @property
    def library_version(self) -> str:
        return f"x265 {_x265_version(self._x265)}"

    def quality_to_qp(self, quality: int) -> int:
        """This codec's quality -> BPG's ``-q`` (HEVC QP); see :func:`quality_to_qp`."""
        return quality_to_qp(self.check_quality(quality))

    def qp_to_quality(self, qp: int) -> int:
        """BPG's ``-q`` (HEVC QP 0..51) -> this codec's quality; see :func:`qp_to_quality`."""
        if isinstance(qp, bool) or not isinstance(qp, (int, np.integer)) or not 0 <= int(qp) <= MAX_QP:
            raise SemlinkError(f"QP must be an integer 0..{MAX_QP}, got {qp!r}")
        return qp_to_quality(int(qp))

    # -- encoding ---------------------------------------------------------------------------------
    def _pixel_format(self, images: np.ndarray) -> str:
        return "400" if images.ndim == 3 else self.options["chroma_format"]

    def _run_x265(self, planes: bytes, fmt: str, height: int, width: int, qps: list[int]) -> list[bytes]:
        """Raw frames -> Annex-B NAL units of the whole sequence."""
        with tempfile.TemporaryDirectory(prefix="semlink-x265-") as tmp:
            qpfile = Path(tmp) / "qp.txt"
            qpfile.write_text("".join(f"{i} I {qp}\n" for i, qp in enumerate(qps)))
            argv = [self._x265, "--input", "-", "--input-res", f"{width}x{height}", "--input-csp", _CSP[fmt],
                    "--frames", str(len(qps)), "--qp", str(qps[0]), "--qpfile", str(qpfile),
                    "--preset", self.options["preset"], "--ctu", str(ctu_size(height, width)),
                    *_X265_FIXED, "--output", "-"]
            timeout = 60.0 + 2e-5 * len(qps) * height * width
            result = run_isolated(argv, planes, timeout)
        if not result.ok or not result.stdout:
            tail = result.stderr.decode(errors="replace").strip()[-500:]
            why = "timed out" if result.timed_out else f"exit status {result.returncode}"
            raise SemlinkError(f"x265 failed on a {width}x{height} {fmt} batch ({why}): {tail}")
        return split_annexb(result.stdout)

    def _split_stream(self, units: list[bytes], count: int, where: str) -> tuple[tuple[bytes, ...], list[bytes]]:
        """``(parameter sets as NAL header + RBSP, slice RBSPs)``; checks the stream is what is expected."""
        parameter_sets: dict[int, bytes] = {}
        slices = []
        for unit in units:
            kind = unit[0] >> 1
            rbsp = unit[:2] + ebsp_to_rbsp(unit[2:])
            if kind in _PARAMETER_SET_TYPES:
                if parameter_sets.setdefault(kind, rbsp) != rbsp:
                    raise SemlinkError(f"x265 changed its parameter sets within one sequence ({where})")
            elif unit[:2] == _SLICE_NAL_HEADER:
                slices.append(rbsp[2:])
            else:
                raise SemlinkError(f"x265 wrote an unexpected NAL unit of type {kind} ({where})")
        if len(slices) != count or sorted(parameter_sets) != list(_PARAMETER_SET_TYPES):
            raise SemlinkError(
                f"x265 wrote {len(slices)} slices for {count} pictures and parameter sets "
                f"{sorted(parameter_sets)} ({where})"
            )
        return tuple(parameter_sets[k] for k in _PARAMETER_SET_TYPES), slices

    def _reference(self, fmt: str, height: int, width: int) -> _Reference:
        """Parameter sets for a padded size, derived as a receiver would: code a flat picture.

        The flat picture's slice is the decoding sentinel; decoding it once checks that this
        ffmpeg decodes the stream at all (else every decode would silently give ``None``).
        """
        key = (fmt, height, width)
        if key not in self._references:
            flat = np.full((2, height, width) + (() if fmt == "400" else (3,)), 128, np.uint8)
            units = self._run_x265(rgb_to_planes(flat, fmt), fmt, height, width, [MAX_QP] * 2)
            parameter_sets, (sentinel, _) = self._split_stream(units, 2, f"reference {width}x{height} {fmt}")
            pps = parse_pps(parameter_sets[2][2:])
            sentinel = normalise_slice_header(sentinel, pps, True, fmt != "400")
            if self._run_ffmpeg(fmt, height, width, parameter_sets, sentinel, [sentinel]) in (None, [None]):
                raise SemlinkError(
                    f"ffmpeg at {self._ffmpeg} cannot decode x265's {width}x{height} {fmt} stream; "
                    "Debian's ffmpeg (5.1 or later, with the HEVC decoder) is needed"
                )
            self._references[key] = _Reference(parameter_sets, pps, sentinel)  # type: ignore[arg-type]
        return self._references[key]

    def _encode_group(self, images: np.ndarray, qualities: list[int]) -> list[Encoded]:
        fmt = self._pixel_format(images)
        height, width = images.shape[1:3]
        coded_h, coded_w = padded_size(height, width)
        qps = [quality_to_qp(q) for q in qualities]
        if len(images) == 1:  # x265 flags one-picture sequences in VPS/SPS: always code two or more
            images, qps = np.concatenate([images, images]), qps * 2
        planes = rgb_to_planes(pad_edges(images, coded_h, coded_w), fmt)
        where = f"{len(images)} pictures {width}x{height} {fmt}"
        units = self._run_x265(planes, fmt, coded_h, coded_w, qps)
        parameter_sets, slices = self._split_stream(units, len(images), where)
        ref = self._reference(fmt, coded_h, coded_w)
        if parameter_sets != ref.parameter_sets:
            raise SemlinkError(f"x265's parameter sets depend on more than size and format ({where})")
        counted = self.options["count_parameter_sets"]
        side_info = ref.side_info
        out = []
        for quality, rbsp in zip(qualities, slices):
            try:
                rbsp = normalise_slice_header(rbsp, ref.pps, True, fmt != "400")
            except TruncatedData as exc:
                raise SemlinkError(f"x265 wrote a slice header this codec does not understand: {exc}") from None
            header = write_header(BpgHeader(fmt, width, height, len(rbsp)))
            if counted:
                header += side_info
            out.append(Encoded(header + rbsp, quality, len(header), 0 if counted else len(side_info), 0.0))
        return out[: len(qualities)]

    # -- decoding ---------------------------------------------------------------------------------
    def _parse(self, payload: bytes) -> tuple[BpgHeader, tuple[bytes, ...] | None, bytes]:
        header, pos = read_header(payload)
        parameter_sets = None
        if self.options["count_parameter_sets"]:
            sets = []
            for _ in _PARAMETER_SET_TYPES:
                size, pos = read_ue7(payload, pos, max_bytes=2)
                if size < 3 or pos + size > len(payload):
                    raise TruncatedData("parameter set runs past the payload")
                sets.append(payload[pos : pos + size])
                pos += size
            parameter_sets = tuple(sets)
        data = payload[pos : pos + header.data_length]
        if not data:
            raise TruncatedData("no slice data")
        return header, parameter_sets, data

    def _decode_payloads(
        self, payloads: list[bytes], expected_shape: tuple[int, ...] | None
    ) -> list[np.ndarray | None]:
        out: list[np.ndarray | None] = [None] * len(payloads)
        groups: dict[tuple[Any, ...], list[tuple[int, bytes]]] = {}
        for i, payload in enumerate(payloads):
            try:
                header, parameter_sets, data = self._parse(payload)
            except TruncatedData:
                continue
            shape = (header.height, header.width) + (() if header.pixel_format == "400" else (3,))
            if expected_shape is not None and shape != expected_shape:
                continue
            groups.setdefault((header.pixel_format, header.height, header.width, parameter_sets), []).append(
                (i, data)
            )
        for (fmt, height, width, parameter_sets), items in groups.items():
            coded_h, coded_w = padded_size(height, width)
            try:
                ref = self._reference(fmt, coded_h, coded_w)
            except SemlinkError:
                continue  # x265 cannot code that size: no receiver could decode it either
            frames = self._decode_robust(fmt, coded_h, coded_w, parameter_sets or ref.parameter_sets,
                                         ref.sentinel, [d for _, d in items])
            for (i, _), frame in zip(items, frames):
                if frame is not None:
                    out[i] = planes_to_rgb(frame, coded_h, coded_w, fmt)[:height, :width]
        return out

    def _decode_robust(self, fmt: str, height: int, width: int, parameter_sets: tuple[bytes, ...],
                       sentinel: bytes, slices: list[bytes]) -> list[bytes | None]:
        frames = self._run_ffmpeg(fmt, height, width, parameter_sets, sentinel, slices)
        if frames is not None:
            return frames
        if len(slices) == 1:
            return [None]
        half = len(slices) // 2
        return (self._decode_robust(fmt, height, width, parameter_sets, sentinel, slices[:half])
                + self._decode_robust(fmt, height, width, parameter_sets, sentinel, slices[half:]))

    def _run_ffmpeg(self, fmt: str, height: int, width: int, parameter_sets: tuple[bytes, ...],
                    sentinel: bytes, slices: list[bytes]) -> list[bytes | None] | None:
        """Decode ``slices`` in one ffmpeg run; ``None`` when the frames cannot be matched to them.

        Several slices are preceded by the known-good sentinel picture (timestamp 0), so a payload
        whose picture is dropped cannot shift the timestamps of the others.
        """
        with_sentinel = len(slices) > 1
        prefix = b"".join(_START + p[:2] + rbsp_to_ebsp(p[2:]) for p in parameter_sets)
        stream = bytearray()
        for rbsp in ([sentinel] if with_sentinel else []) + slices:
            rbsp = bytes([rbsp[0] | 0x80]) + rbsp[1:]  # first_slice_segment_in_pic_flag is always 1
            stream += prefix + _START + _SLICE_NAL_HEADER + rbsp_to_ebsp(rbsp)
        argv = [self._ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "info", "-threads", "1",
                "-f", "hevc", "-i", "pipe:0", "-vf", "showinfo", "-fps_mode", "passthrough",
                "-f", "rawvideo", "-pix_fmt", _PIX_FMT[fmt], "pipe:1"]
        timeout = self._timeout + 5e-6 * (len(slices) + 1) * height * width
        result = run_isolated(argv, bytes(stream), timeout)
        if not result.ok:
            return None
        infos = _SHOWINFO.findall(result.stderr)
        frame_bytes = int(height * width * _SAMPLES_PER_PIXEL[fmt])
        if len(result.stdout) != len(infos) * frame_bytes:
            return None
        out: list[bytes | None] = [None] * len(slices)
        if not with_sentinel:
            if len(infos) > 1:
                return None
            if infos and infos[0][1:] == (str(width).encode(), str(height).encode()):
                out[0] = result.stdout
            return out
        previous = -1
        for k, (pts, w, h) in enumerate(infos):
            index = round(float(pts))
            if abs(float(pts) - index) > 1e-3 or index <= previous or index > len(slices):
                return None
            if (k == 0) != (index == 0):  # the sentinel must come first
                return None
            previous = index
            if k and (int(w), int(h)) == (width, height):
                out[index - 1] = result.stdout[k * frame_bytes : (k + 1) * frame_bytes]
        return out
