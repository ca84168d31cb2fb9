"""The numba encoder is bit-identical to Sionna's LDPC5GEncoder; GF(2) inversion."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sionna.phy.fec.ldpc import LDPC5GEncoder

from semlink.phy.ldpc.encoding import FastEncoder, gf2_inverse
from semlink.phy.ldpc.graph import graph_from_encoder


@pytest.mark.parametrize(
    ("k", "n", "bps"),
    [(1024, 2048, 2), (256, 512, 4), (912, 1824, 2), (100, 480, None), (3000, 4000, 2), (500, 528, 4), (12, 24, 2)],
)
def test_equals_sionna_encoder(k: int, n: int, bps: int | None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        enc = LDPC5GEncoder(k, n, num_bits_per_symbol=bps, device="cpu")
    u = torch.randint(0, 2, (16, k), generator=torch.Generator().manual_seed(n)).float()
    ours = FastEncoder(graph_from_encoder(enc))(u)
    assert ours.dtype == torch.float32 and ours.shape == (16, n)
    assert torch.equal(ours, enc(u))


def test_gf2_inverse() -> None:
    rng = np.random.default_rng(0)
    m = 70
    a = np.triu(rng.integers(0, 2, (m, m)), 1) + np.eye(m, dtype=np.int64)  # unit upper triangular
    a = (rng.permutation(np.eye(m, dtype=np.int64)) @ a) % 2  # rows shuffled: still invertible
    inv = gf2_inverse(a.astype(np.uint8))
    assert np.array_equal((a @ inv.astype(np.int64)) % 2, np.eye(m, dtype=np.int64))
    with pytest.raises(ValueError, match="singular"):
        gf2_inverse(np.array([[1, 1], [1, 1]], np.uint8))
