"""The BPG-style payload: a compact header, optionally the parameter sets, then one HEVC slice.

Payload layout (all counted)::

    byte 0     magic u(4) = 0xB | pixel_format u(2) | reserved u(2) = 0
               pixel_format: 0 = 4:0:0 (grayscale), 1 = 4:2:0, 2 = 4:4:4
    width      ue7
    height     ue7
    length     ue7   bytes of slice data that follow
    [parameter sets, only with count_parameter_sets=True: VPS, SPS, PPS, each ue7(size) + NAL unit]
    slice      the RBSP of the picture's single slice segment NAL unit (slice header + slice data),
               without its 2-byte NAL unit header (always IDR_N_LP, layer 0, temporal id 0) and
               without emulation-prevention bytes (the receiver re-inserts both)

The header is BPG's (``bpgenc``) minus what a channel payload does not need: BPG's file magic
(4 bytes) shrinks to a 4-bit magic, and its bit depth (always 8), colour space (always BT.601
Y'CbCr, full range), alpha, extension and animation fields are fixed; ``ue7`` is BPG's varint.
Size: 4 bytes for images up to 127 x 127 with fewer than 128 bytes of slice data, 5 bytes up to
16383 bytes of data; a 512 x 512 image takes 1 + 2 + 2 + 2..3 = 7..8 bytes.

Everything after ``length`` bytes of slice data is ignored (the zero padding of a fixed-size
frame). A received header that is not well formed (wrong magic, reserved bits, an unknown
pixel format, a size of 0 or above the limit, a varint running past the data) makes the payload
undecodable.
"""

from __future__ import annotations

from dataclasses import dataclass

from semlink.tx.codecs.base import MAX_IMAGE_SIDE
from semlink.tx.codecs.bitstream import BitReader, TruncatedData, read_ue7, write_ue7
from semlink.tx.codecs.colour import PIXEL_FORMATS

__all__ = ["BpgHeader", "write_header", "read_header", "PpsFlags", "parse_pps", "normalise_slice_header"]

_MAGIC = 0xB


@dataclass(frozen=True)
class BpgHeader:
    pixel_format: str  # "400" | "420" | "444"
    width: int
    height: int
    data_length: int


def write_header(header: BpgHeader) -> bytes:
    first = (_MAGIC << 4) | (PIXEL_FORMATS.index(header.pixel_format) << 2)
    return (
        bytes([first]) + write_ue7(header.width) + write_ue7(header.height) + write_ue7(header.data_length)
    )


def read_header(payload: bytes) -> tuple[BpgHeader, int]:
    """``(header, position after it)``; :class:`TruncatedData` when not well formed."""
    if not payload:
        raise TruncatedData("empty payload")
    first = payload[0]
    fmt = (first >> 2) & 0x3
    if first >> 4 != _MAGIC or first & 0x3 or fmt >= len(PIXEL_FORMATS):
        raise TruncatedData(f"not a BPG-style header (first byte {first:#04x})")
    width, pos = read_ue7(payload, 1, max_bytes=2)
    height, pos = read_ue7(payload, pos, max_bytes=2)
    length, pos = read_ue7(payload, pos, max_bytes=4)
    if not (1 <= width <= MAX_IMAGE_SIDE and 1 <= height <= MAX_IMAGE_SIDE) or length < 1:
        raise TruncatedData(f"implausible header: {width}x{height}, {length} bytes")
    return BpgHeader(PIXEL_FORMATS[fmt], width, height, length), pos


# --------------------------------------------------------------------------------------------------
# Slice header: x265 writes slice_loop_filter_across_slices_enabled_flag from the frame's index in
# the input (a fixed bit pattern over POC mod 31). With one slice per picture the flag has no
# effect on decoding; setting it to 1 makes every frame's bits independent of its batch position.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PpsFlags:
    """The picture parameter set fields that shape an I-slice header (H.265 7.3.2.3)."""

    dependent_slice_segments: bool
    output_flag_present: bool
    num_extra_slice_header_bits: int
    slice_chroma_qp_offsets_present: bool
    tiles_or_wavefronts: bool
    loop_filter_across_slices: bool
    deblocking_override_enabled: bool
    deblocking_disabled: bool
    slice_header_extension: bool


def parse_pps(pps_rbsp: bytes) -> PpsFlags:
    """Read :class:`PpsFlags` from a PPS RBSP (after the 2-byte NAL header)."""
    r = BitReader(pps_rbsp)
    r.ue()  # pps_pic_parameter_set_id
    r.ue()  # pps_seq_parameter_set_id
    dependent = bool(r.u(1))
    output_flag = bool(r.u(1))
    extra_bits = r.u(3)
    r.u(1)  # sign_data_hiding_enabled_flag
    r.u(1)  # cabac_init_present_flag
    r.ue()  # num_ref_idx_l0_default_active_minus1
    r.ue()  # num_ref_idx_l1_default_active_minus1
    r.se()  # init_qp_minus26
    r.u(1)  # constrained_intra_pred_flag
    r.u(1)  # transform_skip_enabled_flag
    if r.u(1):  # cu_qp_delta_enabled_flag
        r.ue()  # diff_cu_qp_delta_depth
    r.se()  # pps_cb_qp_offset
    r.se()  # pps_cr_qp_offset
    chroma_offsets = bool(r.u(1))
    r.u(1)  # weighted_pred_flag
    r.u(1)  # weighted_bipred_flag
    r.u(1)  # transquant_bypass_enabled_flag
    tiles = bool(r.u(1))
    wavefronts = bool(r.u(1))
    if tiles:
        raise TruncatedData("tiles are not used by this codec")
    across = bool(r.u(1))
    override = disabled = False
    if r.u(1):  # deblocking_filter_control_present_flag
        override = bool(r.u(1))
        disabled = bool(r.u(1))
        if not disabled:
            r.se()  # pps_beta_offset_div2
            r.se()  # pps_tc_offset_div2
    if r.u(1):  # pps_scaling_list_data_present_flag
        raise TruncatedData("PPS scaling lists are not used by this codec")
    r.u(1)  # lists_modification_present_flag
    r.ue()  # log2_parallel_merge_level_minus2
    extension = bool(r.u(1))
    return PpsFlags(dependent, output_flag, extra_bits, chroma_offsets, tiles or wavefronts, across,
                    override, disabled, extension)


def normalise_slice_header(rbsp: bytes, pps: PpsFlags, sao_enabled: bool, has_chroma: bool) -> bytes:
    """Set slice_loop_filter_across_slices_enabled_flag of a first I slice of an IDR picture to 1.

    Parses the slice segment header (H.265 7.3.6.1) up to its byte alignment and checks that the
    alignment bits are there, so a layout it does not understand raises :class:`TruncatedData`
    instead of being changed blindly.
    """
    r = BitReader(rbsp)
    if r.u(1) != 1:  # first_slice_segment_in_pic_flag
        raise TruncatedData("not the first slice segment of a picture")
    r.u(1)  # no_output_of_prior_pics_flag (IRAP)
    r.ue()  # slice_pic_parameter_set_id
    r.u(pps.num_extra_slice_header_bits)
    if r.ue() != 2:  # slice_type
        raise TruncatedData("not an I slice")
    if pps.output_flag_present:
        r.u(1)  # pic_output_flag
    sao_luma = sao_chroma = 0
    if sao_enabled:
        sao_luma = r.u(1)
        if has_chroma:
            sao_chroma = r.u(1)
    r.se()  # slice_qp_delta
    if pps.slice_chroma_qp_offsets_present:
        r.se()
        r.se()
    deblocking_disabled = pps.deblocking_disabled
    if pps.deblocking_override_enabled and r.u(1):  # deblocking_filter_override_flag
        deblocking_disabled = bool(r.u(1))
        if not deblocking_disabled:
            r.se()
            r.se()
    flag_pos = None
    if pps.loop_filter_across_slices and (sao_luma or sao_chroma or not deblocking_disabled):
        flag_pos = r.pos
        r.u(1)
    if pps.tiles_or_wavefronts and r.ue() != 0:  # num_entry_point_offsets
        raise TruncatedData("entry points are not used by this codec")
    if pps.slice_header_extension:
        r.u(8 * r.ue())
    if r.u(1) != 1 or (r.pos & 7 and r.u(8 - (r.pos & 7)) != 0):  # byte_alignment()
        raise TruncatedData("slice header does not end where expected")
    if flag_pos is None:
        return rbsp
    out = bytearray(rbsp)
    out[flag_pos >> 3] |= 0x80 >> (flag_pos & 7)
    return bytes(out)
