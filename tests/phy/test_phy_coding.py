"""LDPC code blocks: encode/decode round trip and a syndrome check that matches the truth."""

from __future__ import annotations

import pytest
import torch

from semlink.errors import SemlinkError
from semlink.phy.coding import LdpcCodec, check_code_params
from semlink.seeding import seed_everything


@pytest.fixture(scope="module")
def codec() -> LdpcCodec:
    return LdpcCodec(456, 912, bits_per_symbol=2, num_iter=20)


def test_noiseless_round_trip(codec: LdpcCodec) -> None:
    seed_everything(3)
    u = torch.randint(0, 2, (8, 456)).float()
    c = codec.encode(u)
    assert c.shape == (8, 912)
    u_hat, ok = codec.decode(20.0 * (2.0 * c - 1.0))  # confident logits log p(1)/p(0)
    assert torch.equal(u_hat, u) and bool(ok.all())


def test_syndrome_flags_failures(codec: LdpcCodec) -> None:
    """Near the threshold some blocks fail; the syndrome check must flag exactly those (bar rare
    undetected errors, none expected in 64 blocks)."""
    seed_everything(4)
    u = torch.randint(0, 2, (64, 456)).float()
    c = codec.encode(u)
    # BPSK-equivalent AWGN at a noise level where roughly half of the blocks fail
    sigma = 0.95
    y = (2.0 * c - 1.0) + sigma * torch.randn_like(c)
    u_hat, ok = codec.decode(2.0 * y / sigma**2)
    truly_ok = (u_hat == u).all(dim=-1)
    assert 0 < int(truly_ok.sum()) < 64
    assert torch.equal(ok, truly_ok)


def test_garbage_is_not_ok(codec: LdpcCodec) -> None:
    seed_everything(5)
    _, ok = codec.decode(torch.randn(16, 912) * 0.1)
    assert not bool(ok.any())


@pytest.mark.parametrize(
    ("k", "n", "bps", "fragment"),
    [
        (True, 100, 2, "positive integer"),
        (500, 400, 2, "smaller than code_n"),
        (1000, 1001, 2, "multiple of 2 bits"),
        (10, 20, 2, "unsupported LDPC code k=10, n=20"),
        (1000, 1040, 2, "unsupported LDPC code k=1000, n=1040"),  # rate > 0.95
    ],
)
def test_check_code_params(k: object, n: object, bps: int, fragment: str) -> None:
    with pytest.raises(SemlinkError, match=fragment):
        check_code_params(k, n, bps)


@pytest.mark.parametrize(("k", "n", "bps"), [(456, 912, 2), (500, 528, 4), (3000, 4002, 6)])
def test_sionna_bp_equals_ldpc5g_decoder_bit_for_bit(k: int, n: int, bps: int) -> None:
    """``sionna-bp`` runs LDPCBPDecoder on the graph's rate recovery: the same output as LDPC5GDecoder."""
    from sionna.phy.fec.ldpc import LDPC5GDecoder

    seed_everything(6)
    codec = LdpcCodec(k, n, bits_per_symbol=bps, num_iter=12)
    reference = LDPC5GDecoder(codec.encoder, num_iter=12, hard_out=True)
    c = codec.encode(torch.randint(0, 2, (12, k)).float())
    llr = (2.0 * c - 1.0) * 2.0 + 1.7 * torch.randn_like(c)  # a mix of decoded and failed blocks
    bits_hat, _ = codec.decode(llr)
    assert torch.equal(bits_hat, reference(llr))


@pytest.mark.parametrize("decoder", ["sionna-bp", "layered-bp", "layered-nms"])
def test_code_block_below_rate_one_fifth(decoder: str) -> None:
    """A TB's code block: 40 bits on BG2 (30 fillers), 300 of its 320 buffer bits: rate 0.13."""
    seed_everything(7)
    codec = LdpcCodec(40, 300, None, num_iter=20, decoder=decoder, base_graph="bg2")
    u = torch.randint(0, 2, (16, 40)).float()
    c = codec.encode(u)
    assert c.shape == (16, 300)
    u_hat, ok = codec.decode(6.0 * (2.0 * c - 1.0) + 3.0 * torch.randn_like(c))
    assert torch.equal(u_hat, u) and bool(ok.all())
    with pytest.raises(SemlinkError, match="bits_per_symbol must be None"):
        LdpcCodec(40, 300, 2, base_graph="bg2")
    with pytest.raises(SemlinkError, match="unknown base graph 'bg3'"):
        LdpcCodec(40, 300, None, base_graph="bg3")
