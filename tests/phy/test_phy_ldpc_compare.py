"""Paired comparison helpers: the one-sided McNemar p-value, the Eb/N0 at a BLER, common random numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from semlink.phy import DigitalLink, DigitalLinkConfig
from semlink.phy.coding import LdpcCodec
from semlink.phy.ldpc.compare import decode_runs, ebno_at_bler, worse_pvalue


def test_worse_pvalue_counts_only_discordant_blocks() -> None:
    ref = np.array([1, 1, 0, 0, 0, 0, 0, 0, 1, 0], bool)
    cand = np.array([1, 0, 1, 1, 1, 0, 0, 0, 1, 1], bool)  # c = 4 (cand only), b = 1 (ref only)
    assert worse_pvalue(cand, ref) == pytest.approx(binom.sf(3, 5, 0.5))  # P(X >= 4), X ~ B(5, 1/2)
    assert worse_pvalue(ref, ref) == 1.0
    assert worse_pvalue(np.zeros(10, bool), ref) == 1.0  # never worse
    assert worse_pvalue(np.ones(40, bool), np.zeros(40, bool)) < 1e-11


def test_ebno_at_bler_interpolates_in_log_domain() -> None:
    assert ebno_at_bler([1.0, 2.0], [1e-1, 1e-3], 1e-2) == pytest.approx(1.5)
    assert ebno_at_bler([2.0, 1.0, 3.0], [1e-3, 1e-1, 1e-4], 1e-2) == pytest.approx(1.5)  # any order
    assert math.isnan(ebno_at_bler([1.0, 2.0], [1e-1, 5e-2], 1e-2))  # not bracketed
    assert ebno_at_bler([1.0, 2.0], [1e-1, 0.0], 1e-2) == 2.0
    assert ebno_at_bler([1.0, 2.0], [1e-1, 0.0], 1e-2, zero_floor=1e-3) == pytest.approx(1.5)


def test_decode_runs_use_common_random_numbers() -> None:
    link = DigitalLink(DigitalLinkConfig(code_k=456, code_n=912, ofdm=None))
    codec = LdpcCodec(456, 912, 2, 20, decoder="layered-nms")
    a = decode_runs(link, {"x": codec}, 1.0, 300, seed=1, batch_size=128)["x"]
    b = decode_runs(link, {"x": codec}, 1.0, 300, seed=1, batch_size=128)["x"]
    better = decode_runs(link, {"x": codec}, 1.5, 300, seed=1, batch_size=128)["x"]
    assert np.array_equal(a.errors, b.errors) and a.errors.shape == (300,)
    assert a.iterations is not None and a.iterations.shape == (300,)
    # the same noise, scaled down: a block that decodes at 1.0 dB almost always decodes at 1.5 dB
    assert int((better.errors & ~a.errors).sum()) <= 2 < int((a.errors & ~better.errors).sum())
