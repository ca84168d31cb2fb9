"""The SNR convention agrees with Sionna's ebnodb2no and rejects non-finite values."""

from __future__ import annotations

import math

import pytest
import torch
from sionna.phy.utils import ebnodb2no

from semlink.errors import SemlinkError
from semlink.phy import OfdmConfig, ebno_db_to_snr_db, snr_db_to_noise_var
from semlink.phy.grid import make_resource_grid
from semlink.phy.snr import grid_efficiency, noise_var_per_example


def test_noise_var() -> None:
    assert snr_db_to_noise_var(0.0) == 1.0
    assert snr_db_to_noise_var(10.0) == pytest.approx(0.1)
    t = snr_db_to_noise_var(torch.tensor([0.0, 20.0]))
    assert torch.allclose(t, torch.tensor([1.0, 0.01]))


@pytest.mark.parametrize(
    "ofdm", [None, OfdmConfig(), OfdmConfig(fft_size=76, num_guard_carriers=(2, 1), dc_null=True)]
)
@pytest.mark.parametrize(("bps", "rate"), [(2, 0.5), (4, 912 / 1824), (6, 1.0)])
def test_ebno_matches_sionna(ofdm: OfdmConfig | None, bps: int, rate: float) -> None:
    rg = None if ofdm is None else make_resource_grid(ofdm)
    snr_db = ebno_db_to_snr_db(3.0, bps, rate, rg)
    no_sionna = float(ebnodb2no(3.0, bps, rate, rg))
    assert snr_db_to_noise_var(snr_db) == pytest.approx(no_sionna, rel=1e-5)


def test_default_grid_efficiency() -> None:
    rg = make_resource_grid(OfdmConfig())
    assert grid_efficiency(rg) == pytest.approx(864 / (14 * 72 * (1 + 6 / 72)))
    assert grid_efficiency(None) == 1.0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "ten", None])
def test_non_finite_snr_rejected(bad: object) -> None:
    with pytest.raises(SemlinkError, match="snr_db must be"):
        snr_db_to_noise_var(bad)  # type: ignore[arg-type]
    with pytest.raises(SemlinkError, match="snr_db must be"):
        noise_var_per_example(bad, 3, "cpu")  # type: ignore[arg-type]


def test_per_example_snr() -> None:
    no = noise_var_per_example(torch.tensor([0.0, 10.0, 20.0]), 3, "cpu")
    assert torch.allclose(no, torch.tensor([1.0, 0.1, 0.01]))
    assert noise_var_per_example(torch.tensor(3.0), 4, "cpu").shape == (4,)
    with pytest.raises(SemlinkError, match=r"shape \[\] or \[3\]"):
        noise_var_per_example(torch.zeros(2), 3, "cpu")
    with pytest.raises(SemlinkError, match="finite"):
        noise_var_per_example(torch.tensor([1.0, math.nan, 2.0]), 3, "cpu")


def test_ebno_errors() -> None:
    with pytest.raises(SemlinkError, match="ebno_db"):
        ebno_db_to_snr_db(float("nan"), 2, 0.5)
    with pytest.raises(SemlinkError, match="code_rate"):
        ebno_db_to_snr_db(1.0, 2, 1.5)
    with pytest.raises(SemlinkError, match="bits_per_symbol"):
        ebno_db_to_snr_db(1.0, 0, 0.5)
