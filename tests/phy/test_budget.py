"""CodeLayout.max_bits is the exact inverse of a DigitalLink's channel uses (flat and on the OFDM grid)."""

from __future__ import annotations

import dataclasses

import pytest

from semlink.errors import SemlinkError
from semlink.phy import (
    ChannelConfig,
    CodeLayout,
    DigitalLink,
    DigitalLinkConfig,
    OfdmConfig,
    payload_bits_for_budget,
)

LINKS = {
    "flat-ldpc-16qam": DigitalLinkConfig(modulation="16qam", code_k=256, code_n=512, ofdm=None,
                                         channel=ChannelConfig("awgn")),
    "flat-ldpc-qpsk": DigitalLinkConfig(modulation="qpsk", code_k=912, code_n=1824, ofdm=None,
                                        channel=ChannelConfig("awgn")),
    "flat-uncoded-64qam": DigitalLinkConfig(modulation="64qam", code_k=None, code_n=None, ofdm=None,
                                            channel=ChannelConfig("awgn")),
    "ofdm-ldpc-16qam": DigitalLinkConfig(modulation="16qam", code_k=256, code_n=512, ofdm=OfdmConfig(),
                                         channel=ChannelConfig("awgn")),
    "ofdm-uncoded-qpsk": DigitalLinkConfig(modulation="qpsk", code_k=None, code_n=None, ofdm=OfdmConfig(),
                                           channel=ChannelConfig("awgn")),
}


def _largest_fitting(uses, budget: int, limit: int) -> int:
    """Brute force: the largest payload in 1..limit whose channel uses fit (0 if none)."""
    return max((bits for bits in range(1, limit + 1) if uses(bits) <= budget), default=0)


@pytest.fixture(scope="module", params=sorted(LINKS))
def link(request):
    return DigitalLink(LINKS[request.param], device="cpu")


def test_inverse_of_channel_uses_budgeting_carrying_symbols(link):
    """Budget in symbols that carry the payload: exactly ``channel_uses`` of the same link without a grid.

    ``channel_uses`` never decreases with the payload, so ``uses(bits) <= budget < uses(bits + 1)``
    makes ``bits`` the largest fitting payload; small budgets are also checked by brute force.
    """
    flat = link if link.resource_grid is None else DigitalLink(dataclasses.replace(link.cfg, ofdm=None),
                                                               device="cpu")
    for budget in list(range(0, 700, 7)) + [864, 1727, 1728, 3000]:
        bits = link.layout.max_bits(budget)
        if budget < 150:
            assert bits == _largest_fitting(flat.channel_uses, budget, 8 * budget + 8)
        if bits:
            assert flat.channel_uses(bits) <= budget < flat.channel_uses(bits + 1)
        else:
            assert flat.channel_uses(1) > budget


def test_inverse_of_channel_uses_budgeting_whole_slots(link):
    """Budget in data REs of whole slots: exactly ``DigitalLink.channel_uses_with_padding`` on a grid."""
    for budget in [0, 100, 511, 512, 863, 864, 865, 1727, 1728, 2600, 4000]:
        bits = link.layout.max_bits(budget, whole_slots=True)
        if bits:
            assert link.channel_uses_with_padding(bits) <= budget < link.channel_uses_with_padding(bits + 1)
        else:
            assert link.channel_uses_with_padding(1) > budget


def test_worked_numbers_and_bad_values():
    # 16-QAM, (1024, 2048): 512 symbols per block; 864 data REs per slot
    assert payload_bits_for_budget(1500, 4, 1024, 2048) == 2048
    assert payload_bits_for_budget(1500, 4, 1024, 2048, symbols_per_slot=864) == 1024
    assert payload_bits_for_budget(511, 4, 1024, 2048) == 0
    assert payload_bits_for_budget(100, 2, None, None) == 200
    with pytest.raises(SemlinkError, match="channel_uses must be an integer >= 0"):
        payload_bits_for_budget(-1, 2, None, None)
    with pytest.raises(SemlinkError, match="code_k < code_n"):
        payload_bits_for_budget(100, 2, 512, 256)
    with pytest.raises(SemlinkError, match="multiple of bits_per_symbol"):
        payload_bits_for_budget(100, 4, 100, 202)
    with pytest.raises(SemlinkError, match="code_n must be an integer"):
        payload_bits_for_budget(100, 4, 100, None)


def test_the_link_uses_its_layout_for_both_counts():
    """One computation: a DigitalLink's counts are its CodeLayout's, with and without slot padding."""
    link = DigitalLink(LINKS["ofdm-ldpc-16qam"], device="cpu")
    assert link.layout == CodeLayout(4, (256, 512), slot=864)
    for bits in (1, 256, 257, 3000):
        assert link.channel_uses(bits) == link.layout.symbols(bits)
        assert link.channel_uses_with_padding(bits) == link.layout.padded(bits) >= link.channel_uses(bits)
    with pytest.raises(SemlinkError, match="code_k < code_n"):
        CodeLayout(4, (512, 256))
