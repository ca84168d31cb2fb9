"""Transport-block sizing: TS 38.214 TBS and TS 38.212 segmentation, against Sionna and by hand."""

from __future__ import annotations

import doctest
import math
import random

import numpy as np
import pytest

import semlink.phy.transport_size
from semlink.errors import SemlinkError
from semlink.phy.mcs import Mcs, mcs_from_table, mcs_table
from semlink.phy.transport_size import (
    MAX_EFFECTIVE_RATE,
    channel_uses_for,
    max_tb_size,
    quantized_tbs,
    tb_base_graph,
    tb_layout,
    tb_size,
)

ALL_MCS = mcs_table("38.214-1") + mcs_table("38.214-2") + [Mcs("16qam", 0.5), Mcs("qpsk", 1 / 3)]


def _float32_explains(mcs: Mcs, uses: int) -> bool:
    """Sionna computes ``N_info`` in float32: True where that rounding crosses a quantisation step."""
    exact = uses * mcs.bits_per_symbol * mcs.target_rate
    rounded = float(np.float32(np.float32(mcs.target_rate) * np.float32(uses * mcs.bits_per_symbol)))
    if exact == rounded:
        return False
    if exact <= 3824:
        n = max(3, math.floor(math.log2(exact)) - 6)
        return math.floor(exact / 2**n) != math.floor(rounded / 2**n)
    n = math.floor(math.log2(exact - 24)) - 5
    return math.floor((exact - 24) / 2**n + 0.5) != math.floor((rounded - 24) / 2**n + 0.5)


def test_tbs_and_segmentation_equal_sionnas_calculate_tb_size() -> None:
    """3000 random (MCS, allocation) pairs from 1 to 40000 REs (1 to 15 code blocks)."""
    import torch
    from sionna.phy.nr.utils import calculate_tb_size

    rng = random.Random(19)
    compared = explained = 0
    for mcs in ALL_MCS:
        uses = sorted({rng.choice([rng.randint(1, 600), rng.randint(1, 6000), rng.randint(1, 40000)])
                       for _ in range(50)})
        coded = torch.tensor([u * mcs.bits_per_symbol for u in uses], dtype=torch.int32)
        qm = torch.full_like(coded, mcs.bits_per_symbol)
        rate = torch.full(coded.shape, mcs.target_rate)
        tbs, cb, num_cb, tb_crc, cb_crc, cw = calculate_tb_size(qm, rate, num_coded_bits=coded, device="cpu")
        for i, u in enumerate(uses):
            ours, blocks = quantized_tbs(mcs, u)
            if (ours, blocks) != (int(tbs[i]), int(num_cb[i])):
                assert _float32_explains(mcs, u), (mcs.label, u, ours, int(tbs[i]))
                explained += 1
                continue
            compared += 1
            if tb_size(mcs, u) == 0:
                continue
            layout = tb_layout(mcs, u)
            assert (layout.num_cbs, layout.cb_bits, layout.tb_crc_bits, layout.cb_crc_bits) == (
                int(num_cb[i]), int(cb[i]), int(tb_crc[i]), int(cb_crc[i])), (mcs.label, u)
            assert list(layout.cw_lengths) == [int(e) for e in cw[i] if e > 0], (mcs.label, u)
    assert compared > 1500 and explained < 5


def test_layout_by_hand_from_the_standard() -> None:
    """Two allocations worked through TS 38.214 5.1.3.2 and TS 38.212 5.2.2 / 5.4.2.1 by hand."""
    # Table 1 MCS 9 (QPSK 679/1024), 5000 REs: N_info = 6630.86 -> n = 7, N'_info = 128 * 52 = 6656,
    # TBS = 8 ceil(6680 / 8) - 24 = 6656; CRC24A; BG1 (A > 3824, R > 1/4); one block of 6680 bits;
    # Z = 320 (22 Z >= 6680), 360 fillers, buffer 66 Z - 360.
    layout = tb_layout(mcs_from_table("38.214-1", 9), 5000)
    assert (layout.tbs, layout.tb_crc_bits, layout.num_cbs, layout.cb_crc_bits, layout.cb_bits) == (6656, 24, 1, 0, 6680)
    assert (layout.base_graph, layout.lifting, layout.filler_bits, layout.buffer_bits) == ("bg1", 320, 360, 20760)
    assert layout.cw_lengths == (10000,) and layout.repeated_bits == 0
    # Table 1 MCS 0 (QPSK 120/1024), 20000 REs: N_info = 4687.5 -> N'_info = 128 * 36 = 4608; R <= 1/4:
    # C = ceil(4632 / 3816) = 2, TBS = 16 ceil(4632 / 16) - 24 = 4616; BG2; B = 4640 -> 2 blocks of
    # (4640 + 48) / 2 = 2344 bits; Z = 240, 56 fillers, buffer 50 Z - 56 = 11944 < E = 20000: repetition.
    layout = tb_layout(mcs_from_table("38.214-1", 0), 20000)
    assert (layout.tbs, layout.num_cbs, layout.cb_crc_bits, layout.cb_bits, layout.crc_bits) == (4616, 2, 24, 2344, 72)
    assert (layout.base_graph, layout.lifting, layout.filler_bits, layout.buffer_bits) == ("bg2", 240, 56, 11944)
    assert layout.cw_lengths == (20000, 20000) and layout.repeated_bits == 2 * (20000 - 11944)
    assert layout.code_rate == pytest.approx((4616 + 72) / 40000)


def test_base_graph_and_lifting_agree_with_sionnas_ldpc_encoder() -> None:
    from semlink.phy.ldpc.graph import mother_encoder

    assert [tb_base_graph(a, r) for a, r in [(292, 0.9), (293, 0.9), (3824, 0.67), (3824, 0.68), (3825, 0.26),
                                              (8000, 0.25)]] == ["bg2", "bg1", "bg2", "bg1", "bg1", "bg2"]
    for mcs, uses in [(mcs_from_table("38.214-1", 0), 300), (mcs_from_table("38.214-1", 28), 700),
                      (mcs_from_table("38.214-2", 27), 3000), (mcs_from_table("38.214-1", 14), 12345)]:
        layout = tb_layout(mcs, uses)
        enc = mother_encoder(layout.cb_bits, layout.base_graph)
        assert (enc.z, enc.k_ldpc - enc.k, enc.n_cb_comp) == (layout.lifting, layout.filler_bits, layout.buffer_bits)


@pytest.mark.parametrize("mcs", ALL_MCS, ids=lambda m: m.label)
def test_crc_and_payload_fit_and_channel_uses_for_is_the_minimal_inverse(mcs: Mcs) -> None:
    """Property over every allocation of 1..1500 REs and every payload up to its largest TBS."""
    sizes = [tb_size(mcs, u) for u in range(1501)]
    for u, tbs in enumerate(sizes):
        raw, _ = quantized_tbs(mcs, u)
        assert raw >= 24 and (u == 0 or raw >= quantized_tbs(mcs, u - 1)[0])  # non-decreasing
        if tbs:
            layout = tb_layout(mcs, u)
            assert sum(layout.cw_lengths) == layout.coded_bits == u * mcs.bits_per_symbol
            assert tbs + layout.crc_bits <= MAX_EFFECTIVE_RATE * layout.coded_bits
            assert layout.num_cbs * layout.cb_bits == tbs + layout.crc_bits
            assert max(layout.cw_lengths) - min(layout.cw_lengths) in (0, mcs.bits_per_symbol)
        else:
            with pytest.raises(SemlinkError, match=f"allocation of {u} channel uses at .* carries no transport"):
                tb_layout(mcs, u)
    best = 0
    for u, tbs in enumerate(sizes):
        best = max(best, tbs)
        assert max_tb_size(mcs, u) == best
    for payload in sorted({1, 24, 25, *random.Random(mcs.target_rate).sample(range(1, best + 1), 150), best}):
        uses = channel_uses_for(mcs, payload)
        assert sizes[uses] >= payload and all(s < payload for s in sizes[:uses])
    assert channel_uses_for(mcs, 0) == 0


def test_large_allocations_and_refusals() -> None:
    mcs = mcs_from_table("38.214-2", 27)
    for payload in (10_000, 100_000, 1_000_000):
        uses = channel_uses_for(mcs, payload)
        assert tb_size(mcs, uses) >= payload > tb_size(mcs, uses - 1)
    with pytest.raises(SemlinkError, match="channel_uses must be an integer >= 0, got -1"):
        tb_size(mcs, -1)
    with pytest.raises(SemlinkError, match="payload_bits must be an integer >= 0, got 2.5"):
        channel_uses_for(mcs, 2.5)
    assert tb_size(mcs, 0) == 0 and max_tb_size(mcs, 10) == 0


def test_doctests() -> None:
    assert doctest.testmod(semlink.phy.transport_size).failed == 0
