"""Resource grid construction and slot padding."""

from __future__ import annotations

import pytest
import torch

from semlink.errors import SemlinkError
from semlink.phy import OfdmConfig
from semlink.phy.grid import make_resource_grid, pad_to_slots, slots_needed


def test_default_grid_geometry() -> None:
    rg = make_resource_grid(OfdmConfig())
    assert rg.num_data_symbols == 864 == OfdmConfig().num_data_symbols
    assert rg.num_pilot_symbols == 144
    assert rg.num_ofdm_symbols == 14 and rg.fft_size == 72 and rg.cyclic_prefix_length == 6


def test_guarded_grid_geometry() -> None:
    cfg = OfdmConfig(fft_size=76, num_guard_carriers=(2, 1), dc_null=True, pilot_ofdm_symbol_indices=(11, 2))
    rg = make_resource_grid(cfg)
    assert cfg.pilot_ofdm_symbol_indices == (2, 11)
    assert rg.num_effective_subcarriers == 72 == cfg.num_effective_subcarriers
    assert rg.num_data_symbols == cfg.num_data_symbols == 864


def test_pad_to_slots() -> None:
    x = torch.arange(1, 11, dtype=torch.float32).to(torch.complex64).reshape(2, 5)
    slots, g = pad_to_slots(x, 3)
    assert g == 2 and slots.shape == (4, 3)
    assert torch.equal(slots.reshape(2, 6)[:, :5], x)
    assert torch.equal(slots.reshape(2, 6)[:, 5], torch.zeros(2, dtype=torch.complex64))
    assert slots_needed(864, 864) == 1 and slots_needed(865, 864) == 2
    with pytest.raises(SemlinkError, match=">= 1"):
        slots_needed(0, 864)
