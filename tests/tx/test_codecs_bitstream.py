"""Byte/bit helpers and the BPG-style header: exact round trips, malformed input refused with TruncatedData."""

from __future__ import annotations

import numpy as np
import pytest

from semlink.tx.codecs.bitstream import (
    BitReader,
    TruncatedData,
    ebsp_to_rbsp,
    rbsp_to_ebsp,
    read_leb128,
    read_ue7,
    split_annexb,
    write_ue7,
)
from semlink.tx.codecs.bpg_format import BpgHeader, read_header, write_header


def test_ue7_round_trips_and_is_bpgs_big_endian_varint():
    assert write_ue7(0) == b"\x00" and write_ue7(127) == b"\x7f"
    assert write_ue7(128) == b"\x81\x00" and write_ue7(512) == b"\x84\x00"
    for value in [0, 1, 127, 128, 16383, 16384, 2**28 - 1, 2**32]:
        data = write_ue7(value) + b"\xff"
        assert read_ue7(data, 0) == (value, len(data) - 1)
    for bad in (b"", b"\x80\x01", b"\x81", b"\xff\xff\xff\xff\xff\x01"):
        with pytest.raises(TruncatedData):
            read_ue7(bad, 0)


def test_leb128_and_exp_golomb():
    assert read_leb128(b"\xe5\x8e\x26", 0) == (624485, 3)
    with pytest.raises(TruncatedData):
        read_leb128(b"\x80", 0)
    # ue(v): 1 -> 0, 010 -> 1, 011 -> 2, 00100 -> 3; se(v): 010 -> 1, 011 -> -1
    r = BitReader(bytes([0b1_010_011_0, 0b0100_010_0, 0b11_000000]))
    assert [r.ue(), r.ue(), r.ue(), r.ue()] == [0, 1, 2, 3]
    assert [r.se(), r.se()] == [1, -1]
    with pytest.raises(TruncatedData):
        BitReader(b"\x00").ue()


def test_emulation_prevention_round_trips_and_never_leaves_a_start_code():
    rng = np.random.default_rng(0)
    for _ in range(300):
        # bytes biased towards zeros and small values, where start codes hide
        rbsp = bytes(rng.choice([0, 0, 0, 1, 2, 3, 255], size=int(rng.integers(0, 60))).astype(np.uint8))
        ebsp = rbsp_to_ebsp(rbsp)
        assert ebsp_to_rbsp(ebsp) == rbsp
        assert all(ebsp[i : i + 3] not in (b"\x00\x00\x00", b"\x00\x00\x01", b"\x00\x00\x02")
                   for i in range(len(ebsp) - 2))
        stream = b"\x00\x00\x00\x01\x28\x01" + ebsp + b"\x00\x00\x01\x40\x01"
        # one NAL unit each; only a single trailing zero (absent from intact data) is lost
        assert split_annexb(stream) == [b"\x28\x01" + ebsp.rstrip(b"\x00"), b"\x40\x01"]
        assert ebsp.rstrip(b"\x00") == ebsp or (ebsp.endswith(b"\x00") and not ebsp.endswith(b"\x00\x00"))


def test_bpg_header_round_trips_and_refuses_malformed_bytes():
    for header in (BpgHeader("400", 28, 28, 77), BpgHeader("420", 32, 32, 300), BpgHeader("444", 512, 384, 40000)):
        data = write_header(header)
        assert read_header(data + b"slice") == (header, len(data))
    assert len(write_header(BpgHeader("400", 28, 28, 127))) == 4
    assert len(write_header(BpgHeader("420", 32, 32, 128))) == 5
    good = write_header(BpgHeader("420", 32, 32, 100))
    for bad in (b"", good[:3], bytes([0xA4]) + good[1:], bytes([good[0] | 1]) + good[1:],
                bytes([0xBC]) + good[1:], good[:1] + b"\x00" + good[2:], good[:3] + b"\x00"):
        with pytest.raises(TruncatedData):
            read_header(bad)
