"""The SISO receiver equals Sionna's LSChannelEstimator + LMMSEEqualizer (and lmmse_equalizer)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sionna.phy.mimo import StreamManagement, lmmse_equalizer
from sionna.phy.ofdm import LMMSEEqualizer, LSChannelEstimator, RemoveNulledSubcarriers, ResourceGridMapper

from semlink.phy import ChannelConfig, OfdmConfig
from semlink.phy.channels import OfdmChannel
from semlink.phy.estimation import ls_time_weights
from semlink.phy.grid import make_resource_grid
from semlink.phy.receiver import FlatReceiver, OfdmReceiver, siso_lmmse
from semlink.seeding import seed_everything

GRIDS = {
    "default": OfdmConfig(),
    "guards-dc-3pilots": OfdmConfig(
        fft_size=76,
        num_guard_carriers=(2, 1),
        dc_null=True,
        num_ofdm_symbols=12,
        pilot_ofdm_symbol_indices=(0, 5, 10),
    ),
}


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-4) -> bool:
    return bool(((a - b).abs() <= rtol * (b.abs() + 1e-3)).all())


@pytest.mark.parametrize("grid", sorted(GRIDS))
def test_matches_sionna_stock_blocks(grid: str) -> None:
    seed_everything(21)
    rg = make_resource_grid(GRIDS[grid])
    x = torch.randn(6, 1, 1, rg.num_data_symbols, dtype=torch.complex64)
    no = torch.rand(6) * 0.3 + 0.01
    y, h = OfdmChannel(ChannelConfig("tdl-c", speed_mps=40.0), rg)(ResourceGridMapper(rg)(x), no)
    equalizer = LMMSEEqualizer(rg, StreamManagement(np.ones([1, 1]), 1))
    for interpolation in ("nn", "lin"):
        h_ls, err_var = LSChannelEstimator(rg, interpolation_type=interpolation)(y, no)
        # Sionna interpolates the pilots' error variances with the weights w (sum_p w_p no); ours is
        # the variance of the interpolated estimate, sum_p w_p^2 no: rescale Sionna's per OFDM symbol.
        w = ls_time_weights(rg, interpolation).double()
        ratio = (w.square().sum(dim=1) / w.sum(dim=1)).float()  # [num_ofdm_symbols]
        err_var = err_var * ratio.reshape(-1, 1)
        x_ref, no_ref = equalizer(y, h_ls, err_var, no)
        x_ours, no_ours = OfdmReceiver(rg, "ls", interpolation)(y, None, no)
        assert _close(x_ours, x_ref.reshape(6, -1)) and _close(no_ours, no_ref.reshape(6, -1))
    x_ref, no_ref = equalizer(y, RemoveNulledSubcarriers(rg)(h), torch.zeros(()), no)
    x_ours, no_ours = OfdmReceiver(rg, "perfect")(y, h, no)
    assert _close(x_ours, x_ref.reshape(6, -1)) and _close(no_ours, no_ref.reshape(6, -1))


def test_noiseless_perfect_csi_recovers_symbols() -> None:
    seed_everything(22)
    rg = make_resource_grid(OfdmConfig())
    x = torch.randn(3, 1, 1, rg.num_data_symbols, dtype=torch.complex64)
    no = torch.full((3,), 1e-12)
    y, h = OfdmChannel(ChannelConfig("tdl-a"), rg)(ResourceGridMapper(rg)(x), no)
    x_hat, _ = OfdmReceiver(rg, "perfect")(y, h, no)
    assert torch.allclose(x_hat, x.reshape(3, -1), atol=1e-3)


def test_siso_lmmse_equals_sionna() -> None:
    seed_everything(23)
    y = torch.randn(50, dtype=torch.complex64)
    h = torch.randn(50, dtype=torch.complex64)
    s = torch.rand(50) + 0.05
    x_ref, no_ref = lmmse_equalizer(y[:, None], h[:, None, None], s.to(torch.complex64)[:, None, None])
    x_ours, no_ours = siso_lmmse(y, h, s)
    assert _close(x_ours, x_ref[:, 0]) and _close(no_ours, no_ref[:, 0])


def test_flat_receiver() -> None:
    y = torch.tensor([[2 + 2j, 4j]], dtype=torch.complex64)
    x_hat, no_eff = FlatReceiver()(y, torch.tensor([[2j]], dtype=torch.complex64), torch.tensor([0.4]))
    assert torch.allclose(x_hat, torch.tensor([[1 - 1j, 2]], dtype=torch.complex64))
    assert torch.allclose(no_eff, torch.tensor([[0.1, 0.1]]))
    x_hat, no_eff = FlatReceiver()(y, None, torch.tensor([0.4]))
    assert torch.equal(x_hat, y) and no_eff.shape == (1, 2)
