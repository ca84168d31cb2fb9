"""BLER of the layered decoders against Sionna's BP (20 iterations) near BLER 1e-2, paired.

For each code, the reference decodes LLRs drawn at its BLER ~1e-2 point; each fast decoder decodes
the *same* draws (bits, channel, noise; :meth:`DigitalLink.channel_llrs` from one seed) with the
noise of ``Eb/N0 + bound`` (layered-bp: 0.05 dB, layered-nms: 0.2 dB), at most 20 iterations. A
decoder within its bound is then at least as good as the reference on these draws, and the
one-sided exact McNemar test (:func:`worse_pvalue`: discordant blocks, Binomial(b + c, 1/2)) fails
it with probability at most 1e-3 (per decoder; at most 2e-3 per test). A decoder 0.3 dB worse than
its bound (about 3x the block errors at these slopes) fails with near certainty.

The reference's BLER is checked to lie in [0.001, 0.06] first, so the test has power (at a true
1e-2 with 1200 blocks that range excludes fewer than 1e-4 of the runs).
"""

from __future__ import annotations

import pytest

from semlink.phy import ChannelConfig, DigitalLink, DigitalLinkConfig, OfdmConfig
from semlink.phy.coding import LdpcCodec
from semlink.phy.ldpc.compare import decode_runs, worse_pvalue

BOUNDS_DB = {"layered-bp": 0.05, "layered-nms": 0.2}
ITERATIONS = 20


@pytest.mark.slow
@pytest.mark.parametrize(
    ("cfg", "ebno_db", "num_blocks"),
    [
        (DigitalLinkConfig(code_k=1024, code_n=2048, ofdm=None), 1.60, 1200),
        (DigitalLinkConfig(modulation="16qam", code_k=256, code_n=512, ofdm=None), 4.45, 3000),
        (
            DigitalLinkConfig(
                code_k=912, code_n=1824, channel=ChannelConfig("tdl-a"), ofdm=OfdmConfig(), csi="ls"
            ),
            19.6,
            1200,
        ),
    ],
    ids=["qpsk-awgn-1024", "16qam-awgn-256", "qpsk-tdl-a-ls-912"],
)
def test_layered_decoders_within_their_bounds_of_sionna_bp(
    cfg: DigitalLinkConfig, ebno_db: float, num_blocks: int
) -> None:
    link = DigitalLink(cfg)
    k, n, bps = link.k, link.n, link.bits_per_symbol
    reference = decode_runs(link, {"ref": LdpcCodec(k, n, bps, ITERATIONS)}, ebno_db, num_blocks, seed=123)["ref"]
    assert 0.001 <= reference.bler <= 0.06, reference.bler
    for name, bound in BOUNDS_DB.items():
        codec = LdpcCodec(k, n, bps, ITERATIONS, decoder=name)
        run = decode_runs(link, {name: codec}, ebno_db + bound, num_blocks, seed=123)[name]
        assert run.iterations is not None and int(run.iterations.max()) <= ITERATIONS
        p_worse = worse_pvalue(run.errors, reference.errors)
        assert p_worse >= 1e-3, (name, run.bler, reference.bler, p_worse)
