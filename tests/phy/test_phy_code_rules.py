"""The torch-free 5G LDPC code rules agree with Sionna's LDPC5GEncoder."""

from __future__ import annotations

import doctest
import random
import warnings

import pytest

import semlink.phy.code_rules
from semlink.errors import SemlinkError
from semlink.phy.code_rules import _check, check_code_params


def _sionna_accepts(k: int, n: int, bits_per_symbol: int) -> bool:
    from sionna.phy.fec.ldpc import LDPC5GEncoder

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            encoder = LDPC5GEncoder(k, n, num_bits_per_symbol=bits_per_symbol, device="cpu")
    except (ValueError, TypeError):
        return False
    return k < n and n <= encoder.n_cb_comp


def test_rules_agree_with_sionna_on_random_codes():
    rng = random.Random(0)
    cases = [(12, 60, 2), (292, 1460, 4), (293, 880, 2), (3824, 5708, 2), (3840, 11520, 2), (3841, 11524, 2),
             (8448, 12672, 2), (8449, 12674, 2), (100, 104, 2), (1000, 5000, 2), (1000, 5002, 2)]
    while len(cases) < 1500:
        k = rng.choice([rng.randint(12, 400), rng.randint(12, 9000)])
        bps = rng.choice([2, 4, 6, 8])
        n = bps * rng.randint(k // bps + 1, 6 * k // bps + 2)
        cases.append((k, n, bps))
    disagree = [(k, n, b) for k, n, b in cases if n % b == 0 and (_check(k, n, b) is None) != _sionna_accepts(k, n, b)]
    assert not disagree, disagree[:10]


def test_refusals_name_the_code_and_the_rules():
    with pytest.raises(SemlinkError, match=r"k=10, n=40: k too small; accepted \(TS 38.212"):
        check_code_params(10, 40, 2)
    with pytest.raises(SemlinkError, match="not a multiple of 4 bits per symbol"):
        check_code_params(100, 202, 4)
    with pytest.raises(SemlinkError, match="code_k must be a positive integer"):
        check_code_params(True, 200, 2)


def test_doctests():
    assert doctest.testmod(semlink.phy.code_rules).failed == 0
