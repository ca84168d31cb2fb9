"""The QC graph read from Sionna's encoder is Sionna's pruned decoding graph, and maps the received bits."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder

from semlink.phy.ldpc.graph import FILLER, PUNCTURED, graph_from_encoder

# BG2 and BG1, with and without the output interleaver, partly pruned last layers, many fillers
CODES = [(1024, 2048, 2), (256, 512, 4), (912, 1824, 2), (100, 480, None), (3000, 4000, 2), (500, 528, 4)]


def _encoder(k: int, n: int, bps: int | None) -> LDPC5GEncoder:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return LDPC5GEncoder(k, n, num_bits_per_symbol=bps, device="cpu")


@pytest.mark.parametrize(("k", "n", "bps"), CODES)
def test_lifted_graph_is_sionnas_pruned_pcm(k: int, n: int, bps: int | None) -> None:
    enc = _encoder(k, n, bps)
    graph = graph_from_encoder(enc)
    ours = graph.lifted_pcm().astype(np.int8)
    theirs = LDPC5GDecoder(enc, device="cpu").pcm
    assert ours.shape == theirs.shape
    assert (ours != (theirs != 0).astype(np.int8)).nnz == 0
    assert graph.num_edges == theirs.nnz


@pytest.mark.parametrize(("k", "n", "bps"), CODES)
def test_llr_index_maps_mother_bits_to_received_bits(k: int, n: int, bps: int | None) -> None:
    enc = _encoder(k, n, bps)
    graph = graph_from_encoder(enc)
    u = torch.randint(0, 2, (4, k), generator=torch.Generator().manual_seed(k)).float()
    sent = enc(u)
    filled = torch.cat([u, torch.zeros(4, enc.k_ldpc - k)], dim=1)
    mother = enc._encode_fast(filled).reshape(4, -1)[:, : graph.num_vns]  # full codeword, Sionna's own
    idx = graph.llr_index
    received = idx >= 0
    assert np.array_equal(np.sort(idx[received]), np.arange(n))  # every received bit exactly once
    assert torch.equal(mother[:, received], sent[:, idx[received]])
    assert np.all(idx[: 2 * graph.z] == PUNCTURED) and np.all(idx[k : enc.k_ldpc] == FILLER)
    assert not mother[:, k : enc.k_ldpc].any()  # filler bits are zeros
