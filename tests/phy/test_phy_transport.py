"""The transport-block chain: Sionna's TBEncoder/TBDecoder where they apply, rate recovery, CRC checks,
undetected errors, and the three LDPC decoders inside it."""

from __future__ import annotations

import doctest
import warnings

import pytest
import torch

import semlink.phy.transport
from semlink.errors import SemlinkError
from semlink.phy.mcs import mcs_from_table
from semlink.phy.transport import TransportBlockDecoder, TransportBlockEncoder
from semlink.phy.transport_size import tb_layout
from semlink.seeding import seed_everything

# (table, MCS, channel uses): one block below rate 1/5 with repetition; one block BG2; one BG1; 3 equal
# blocks (BG1); 4 blocks of two lengths (BG1, 64QAM).
LAYOUTS = {
    "mcs0-rep": ("38.214-1", 0, 900),
    "bg2-1cb": ("38.214-1", 5, 1000),
    "bg1-1cb": ("38.214-1", 9, 5000),  # at 2500 REs 38.212 picks BG2 (A <= 3824, R <= 0.67), Sionna BG1
    "bg1-3cb": ("38.214-2", 27, 3000),
    "bg1-4cb-unequal": ("38.214-1", 20, 7001),
}


def _layout(name: str):  # noqa: ANN202
    table, index, uses = LAYOUTS[name]
    return tb_layout(mcs_from_table(table, index), uses)


def _noisy(coded: torch.Tensor, snr_llr: float, noise: float) -> torch.Tensor:
    """BPSK-like logits ``log p(1)/p(0)`` of coded bits with Gaussian noise."""
    return snr_llr * (2.0 * coded - 1.0) + noise * torch.randn_like(coded)


def test_layouts_cover_what_they_claim() -> None:
    rep = _layout("mcs0-rep")
    assert rep.repeated_bits > 0 and rep.base_graph == "bg2"
    assert _layout("bg1-3cb").num_cbs == 3 and len(set(_layout("bg1-3cb").cw_lengths)) == 1
    assert len(set(_layout("bg1-4cb-unequal").cw_lengths)) == 2


@pytest.mark.parametrize("name", ["bg2-1cb", "bg1-1cb", "bg1-3cb", "bg1-4cb-unequal"])
def test_encoder_equals_sionna_tb_encoder(name: str) -> None:
    """Where Sionna's TBEncoder accepts the allocation and picks the same base graph: identical bits."""
    from sionna.phy.nr import TBEncoder

    seed_everything(11)
    layout = _layout(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = TBEncoder(layout.tbs, layout.coded_bits, layout.mcs.target_rate, layout.mcs.bits_per_symbol,
                        n_rnti=1, n_id=1, channel_type="PDSCH", device="cpu")
    assert ref.tb_size == layout.tbs and ref.ldpc_encoder.z == layout.lifting
    assert ref.ldpc_encoder.n_ldpc == {"bg1": 68, "bg2": 52}[layout.base_graph] * layout.lifting
    bits = torch.randint(0, 2, (3, layout.tbs)).float()
    assert torch.equal(TransportBlockEncoder(layout)(bits), ref(bits))


@pytest.mark.parametrize("name", ["bg2-1cb", "bg1-3cb"])
def test_sionna_bp_decoder_equals_sionna_tb_decoder(name: str) -> None:
    """Equal code-block lengths (Sionna's decoder keeps unsent bits of short blocks as zero LLRs)."""
    from sionna.phy.nr import TBDecoder, TBEncoder

    seed_everything(12)
    layout = _layout(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_enc = TBEncoder(layout.tbs, layout.coded_bits, layout.mcs.target_rate, layout.mcs.bits_per_symbol,
                            n_rnti=1, n_id=1, channel_type="PDSCH", device="cpu")
    encoder = TransportBlockEncoder(layout)
    bits = torch.randint(0, 2, (6, layout.tbs)).float()
    llr = _noisy(encoder(bits), 2.5, 2.2)  # some blocks fail
    ours = TransportBlockDecoder(encoder, "sionna-bp", num_iter=10)(llr)
    ref_bits, ref_ok = TBDecoder(ref_enc, num_bp_iter=10, device="cpu")(llr)
    assert torch.equal(ours.bits, ref_bits) and torch.equal(ours.tb_ok, ref_ok)


def test_rate_recovery_adds_the_repeated_bits() -> None:
    """Unit logits of the sent bits: each buffer bit comes back as (+-) the number of times it was sent."""
    layout = _layout("mcs0-rep")
    encoder = TransportBlockEncoder(layout)
    decoder = TransportBlockDecoder(encoder, "layered-nms")
    bits = torch.randint(0, 2, (2, layout.tbs), generator=torch.Generator().manual_seed(3)).float()
    (rows, recovered), = decoder.recover(2.0 * encoder(bits) - 1.0)
    buffer = encoder._buffer_encoder(encoder.attach_crcs(bits).reshape(-1, layout.cb_bits))  # circular buffer
    e, n = layout.cw_lengths[0], layout.buffer_bits
    times = torch.full((n,), e // n) + (torch.arange(n) < e % n)
    assert recovered.shape == (2, 1, n) and torch.equal(rows, torch.tensor([0]))
    assert torch.equal(recovered.reshape(2, n), (2.0 * buffer - 1.0) * times)


@pytest.mark.parametrize("decoder", ["sionna-bp", "layered-bp", "layered-nms"])
@pytest.mark.parametrize("name", ["mcs0-rep", "bg1-4cb-unequal"])
def test_round_trip_and_a_flipped_bit_is_caught_by_the_crc(name: str, decoder: str) -> None:
    seed_everything(13)
    layout = _layout(name)
    encoder = TransportBlockEncoder(layout)
    tb_decoder = TransportBlockDecoder(encoder, decoder, num_iter=8)  # confident LLRs: 8 iterations do
    bits = torch.randint(0, 2, (2, layout.tbs)).float()
    blocks = encoder.attach_crcs(bits)
    decoded = tb_decoder.decode_code_blocks(_noisy(encoder.encode_code_blocks(blocks), 4.0, 1.0))
    assert torch.equal(decoded, blocks)
    clean = tb_decoder.check_crcs(decoded)
    assert torch.equal(clean.bits, bits) and bool(clean.tb_ok.all()) and bool(clean.cb_ok.all())
    # a flipped bit in decoded code block 0 of TB 1 (after LDPC decoding): that block and TB fail
    flipped = decoded.clone()
    flipped[1, 0, 5] = 1.0 - flipped[1, 0, 5]
    out = tb_decoder.check_crcs(flipped)
    assert out.tb_ok.tolist() == [True, False] and not bool(out.cb_ok[1, 0]) and bool(out.cb_ok[0].all())
    assert bool(out.cb_ok[1, 1:].all())  # the other blocks of TB 1 still pass their own CRC24B
    assert not torch.equal(out.bits[1], bits[1])  # the wrong bits come back as decoded
    # the same flip before LDPC encoding: a valid LDPC codeword the decoder finds, the CRC refuses
    wrong = blocks.clone()
    wrong[1, 0, 5] = 1.0 - wrong[1, 0, 5]
    out = tb_decoder(_noisy(encoder.encode_code_blocks(wrong), 4.0, 1.0))
    assert out.tb_ok.tolist() == [True, False] and not bool(out.cb_ok[1, 0])
    assert int((out.bits[1] != bits[1]).sum()) == 1


def test_an_undetected_error_passes_through_with_tb_ok() -> None:
    """A valid codeword of other bits (what an undetected error is) decodes to those bits, CRCs passing."""
    seed_everything(14)
    layout = _layout("bg1-3cb")
    encoder = TransportBlockEncoder(layout)
    decoder = TransportBlockDecoder(encoder, "layered-nms")
    sent = torch.randint(0, 2, (2, layout.tbs)).float()
    other = sent.clone()
    other[:, 100:140] = 1.0 - other[:, 100:140]
    out = decoder(_noisy(encoder(other), 6.0, 1.0))
    assert bool(out.tb_ok.all()) and bool(out.cb_ok.all())
    assert torch.equal(out.bits, other) and not torch.equal(out.bits, sent)


def test_layered_decoders_agree_with_sionna_bp_inside_the_chain_at_high_snr() -> None:
    """Same LLRs of a real link (TDL-A, LS CSI) where Sionna's BP decodes every TB: identical TBs."""
    from semlink.phy import ChannelConfig, DigitalLink, DigitalLinkConfig

    seed_everything(15)
    cfg = DigitalLinkConfig.for_mcs({"table": "38.214-1", "index": 4}, channel=ChannelConfig("tdl-a"), csi="ls")
    link = DigitalLink(cfg)
    uses = 1500
    _, llr = link.transport_block_llrs(24, 16.0, uses)
    encoder, reference = link.transport_block_chain(uses)
    ref = reference(llr)
    assert bool(ref.tb_ok.all())
    for name in ("layered-bp", "layered-nms"):
        out = TransportBlockDecoder(encoder, name)(llr)
        assert torch.equal(out.bits, ref.bits) and bool(out.tb_ok.all()), name


def test_refusals() -> None:
    layout = _layout("bg2-1cb")
    encoder = TransportBlockEncoder(layout)
    with pytest.raises(SemlinkError, match=rf"transport-block bits must be a tensor \[batch, {layout.tbs}\]"):
        encoder(torch.zeros(2, layout.tbs + 1))
    with pytest.raises(SemlinkError, match="unknown LDPC decoder 'bp'"):
        TransportBlockDecoder(encoder, "bp")
    with pytest.raises(SemlinkError, match=rf"logits must be a tensor \[batch, {layout.coded_bits}\]"):
        TransportBlockDecoder(encoder)(torch.zeros(2, 5))
    with pytest.raises(SemlinkError, match="layout must be a TbLayout"):
        TransportBlockEncoder((layout.mcs, 1000))  # type: ignore[arg-type]


def test_doctests() -> None:
    assert doctest.testmod(semlink.phy.transport).failed == 0
