"""Layered decoders: exact agreement with Sionna's BP where both converge, syndrome flags, early stop,
shapes and dtypes, and the decoder choice through LdpcCodec / DigitalLinkConfig."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semlink.errors import SemlinkError
from semlink.phy import DigitalLink, DigitalLinkConfig
from semlink.phy.coding import LdpcCodec
from semlink.phy.config import DECODERS
from semlink.phy.ldpc import LayeredDecoder, qc_graph
from semlink.seeding import seed_everything

LAYERED = ("layered-bp", "layered-nms")


@pytest.fixture(scope="module")
def qpsk_link() -> DigitalLink:
    return DigitalLink(DigitalLinkConfig(code_k=456, code_n=912, ofdm=None))


@pytest.mark.parametrize(
    ("modulation", "k", "n", "ebno_db"), [("qpsk", 456, 912, 3.0), ("16qam", 256, 512, 6.0), ("qpsk", 1024, 2048, 3.0)]
)
def test_hard_decisions_equal_sionna_bp_at_high_snr(modulation: str, k: int, n: int, ebno_db: float) -> None:
    """Well above the waterfall every decoder reaches the transmitted codeword: bits and flags agree."""
    link = DigitalLink(DigitalLinkConfig(modulation=modulation, code_k=k, code_n=n, ofdm=None))
    seed_everything(11)
    bits, llr = link.channel_llrs(100, link.ebno_to_snr_db(ebno_db))
    ref_bits, ref_ok = LdpcCodec(k, n, link.bits_per_symbol, 20).decode(llr)
    assert torch.equal(ref_bits, bits) and bool(ref_ok.all())
    for name in LAYERED:
        codec = LdpcCodec(k, n, link.bits_per_symbol, 20, decoder=name)
        out_bits, out_ok = codec.decode(llr)
        assert torch.equal(out_bits, ref_bits), name
        assert torch.equal(out_ok, ref_ok), name


@pytest.mark.parametrize("name", LAYERED)
def test_syndrome_flags_failures(qpsk_link: DigitalLink, name: str) -> None:
    """Near the threshold some blocks fail and every failure must be flagged (an undetected error,
    a wrong codeword with zero syndrome, is possible but none is expected in 200 blocks of rate 1/2).
    A block can stop at the limit with right information bits but wrong parity bits: it is then
    correctly *not* ok (the receiver cannot know), which must stay rare."""
    seed_everything(4)
    bits, llr = qpsk_link.channel_llrs(200, qpsk_link.ebno_to_snr_db(1.0))
    codec = LdpcCodec(456, 912, 2, 20, decoder=name)
    bits_hat, ok = codec.decode(llr)
    truly_ok = (bits_hat == bits).all(dim=-1)
    assert 0 < int(truly_ok.sum()) < 200
    assert not bool((ok & ~truly_ok).any())
    assert int((truly_ok & ~ok).sum()) <= 0.1 * int(truly_ok.sum())
    assert torch.all(codec.last_iterations[~ok] == 20)  # blocks not ok ran to the limit


def test_shapes_dtypes_and_devices() -> None:
    dec = LayeredDecoder(qc_graph(456, 912, 2), "nms", max_iter=5)
    llr = torch.randn(7, 912, dtype=torch.float64)  # any real dtype is accepted
    res = dec(llr)
    assert res.bits.shape == (7, 456) and res.bits.dtype == torch.float32
    assert res.ok.shape == (7,) and res.ok.dtype == torch.bool
    assert res.iterations.shape == (7,) and res.iterations.dtype == torch.int32
    assert {res.bits.device, res.ok.device, res.iterations.device} == {llr.device}
    assert set(res.bits.unique().tolist()) <= {0.0, 1.0}
    empty = dec(torch.zeros(0, 912))
    assert empty.bits.shape == (0, 456) and empty.ok.shape == (0,)
    with pytest.raises(SemlinkError, match=r"shape \[batch, n=912\]"):
        dec(torch.zeros(3, 900))


@pytest.mark.parametrize("rule", ["bp", "nms"])
def test_early_termination_stops(rule: str) -> None:
    """A block stops at the first zero syndrome: confident LLRs need one iteration, clean noisy ones
    a few, whatever the limit; garbage runs to the limit."""
    graph = qc_graph(456, 912, 2)
    seed_everything(5)
    link = DigitalLink(DigitalLinkConfig(code_k=456, code_n=912, ofdm=None))
    bits, llr = link.channel_llrs(64, link.ebno_to_snr_db(3.0))
    short, long = LayeredDecoder(graph, rule, max_iter=20)(llr), LayeredDecoder(graph, rule, max_iter=200)(llr)
    assert torch.equal(short.iterations, long.iterations) and torch.equal(short.bits, long.bits)
    assert bool(short.ok.all()) and torch.equal(short.bits, bits)
    assert float(short.iterations.float().mean()) < 6 and int(short.iterations.min()) >= 1
    confident = LayeredDecoder(graph, rule, max_iter=20)(20.0 * (2.0 * link.codec.encode(bits) - 1.0))
    assert torch.all(confident.iterations == 1) and bool(confident.ok.all())
    garbage = LayeredDecoder(graph, rule, max_iter=7)(torch.randn(16, 912) * 0.1)
    assert torch.all(garbage.iterations == 7) and not bool(garbage.ok.any())


def test_codec_records_iterations_only_for_layered() -> None:
    ref = LdpcCodec(456, 912, 2, 20)
    ref.decode(torch.randn(4, 912))
    assert ref.last_iterations is None
    fast = LdpcCodec(456, 912, 2, 20, decoder="layered-nms")
    fast.decode(torch.randn(4, 912))
    assert fast.last_iterations is not None and fast.last_iterations.shape == (4,)


def test_bad_decoder_names_and_settings() -> None:
    accepted = ", ".join(DECODERS)
    assert accepted == "sionna-bp, layered-bp, layered-nms"
    with pytest.raises(SemlinkError, match=f"unknown LDPC decoder 'turbo'; accepted: {accepted}"):
        LdpcCodec(456, 912, 2, decoder="turbo")
    with pytest.raises(SemlinkError, match=f"unknown LDPC decoder 'minsum'; accepted: {accepted}"):
        DigitalLinkConfig(decoder="minsum")
    assert DigitalLinkConfig(decoder=" Layered-NMS ").decoder == "layered-nms"
    for scale in (0.0, 1.5, float("nan"), True):
        with pytest.raises(SemlinkError, match="nms_scale"):
            DigitalLinkConfig(decoder="layered-nms", nms_scale=scale)
    with pytest.raises(SemlinkError, match="unknown layered decoding rule 'sp'; accepted: bp, nms"):
        LayeredDecoder(qc_graph(456, 912, 2), "sp")
    with pytest.raises(SemlinkError, match="max_iter"):
        LayeredDecoder(qc_graph(456, 912, 2), "bp", max_iter=0)


def test_digital_link_runs_each_decoder_on_the_same_draws() -> None:
    """``simulate`` with any decoder: same bits from the same seed, and all decode at high SNR."""
    results = {}
    for name in DECODERS:
        link = DigitalLink(DigitalLinkConfig(code_k=456, code_n=912, ofdm=None, decoder=name, bp_iterations=10))
        seed_everything(9)
        results[name] = link.simulate(32, link.ebno_to_snr_db(3.0))
        assert bool(results[name].block_ok.all()), name
    first = results["sionna-bp"]
    for res in results.values():
        assert torch.equal(res.bits, first.bits) and torch.equal(res.bits_hat, first.bits_hat)


def test_kernel_matches_a_plain_numpy_layered_min_sum() -> None:
    """One iteration of the numba kernel equals a direct, unvectorised NumPy transcription of layered
    normalised min-sum on the explicit parity-check matrix (same schedule: base row by base row)."""
    graph = qc_graph(100, 480, None)
    rng = np.random.default_rng(2)
    llr = rng.normal(0.0, 3.0, size=(3, 480)).astype(np.float32)
    out_bits, _, _ = LayeredDecoder(graph, "nms", max_iter=1, nms_scale=0.75).decode_numpy(llr)
    pcm = graph.lifted_pcm().tolil()
    for b in range(3):
        app = np.zeros(graph.num_vns, np.float64)
        src = graph.llr_index
        app[src >= 0] = np.clip(-llr[b, src[src >= 0]], -20, 20)
        app[src == -2] = 1e4
        for row in range(pcm.shape[0]):
            cols = np.array(pcm.rows[row])
            q = app[cols]  # c2v starts at zero: v2c = app
            mags, signs = np.abs(q), np.where(q < 0, -1.0, 1.0)
            out = np.empty_like(q)
            for j in range(len(cols)):
                others = np.delete(np.arange(len(cols)), j)
                out[j] = np.prod(signs[others]) * min(0.75 * mags[others].min(), 20.0)
            app[cols] = q + out
        assert np.array_equal(out_bits[b], (app[: graph.k] <= 0).astype(np.float32))
