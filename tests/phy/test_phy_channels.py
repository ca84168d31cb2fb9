"""Channels: same responses as Sionna's GenerateOFDMChannel, unit average power, per-slot fading."""

from __future__ import annotations

import pytest
import torch
from sionna.phy.channel import GenerateOFDMChannel

from semlink.errors import SemlinkError
from semlink.phy import CHANNELS, ChannelConfig, OfdmConfig
from semlink.phy.channels import FlatChannel, OfdmChannel, make_channel_model
from semlink.phy.grid import make_resource_grid
from semlink.seeding import seed_everything


@pytest.fixture(scope="module")
def rg():  # noqa: ANN201
    return make_resource_grid(OfdmConfig())


@pytest.mark.parametrize("name", ["rayleigh", "tdl-c", "cdl-b"])
def test_matches_sionna_generate_ofdm_channel(rg, name: str) -> None:  # noqa: ANN001
    """With mobility (one CIR sample per OFDM symbol) the responses equal GenerateOFDMChannel's."""
    cfg = ChannelConfig(name, speed_mps=30.0)
    ours = OfdmChannel(cfg, rg)
    reference = GenerateOFDMChannel(make_channel_model(cfg), rg, normalize_channel=False)
    seed_everything(11)
    h_ours = ours.generate(6)
    seed_everything(11)
    h_ref = reference(6)
    assert h_ours.shape == h_ref.shape == (6, 1, 1, 1, 1, 14, 72)
    assert torch.allclose(h_ours, h_ref, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ["tdl-a", "cdl-d"])
def test_static_channel_is_constant_over_the_slot(rg, name: str) -> None:  # noqa: ANN001
    """At speed 0 Sionna's own generator gives a time-constant response: broadcasting one sample is exact."""
    reference = GenerateOFDMChannel(make_channel_model(ChannelConfig(name)), rg, normalize_channel=False)
    seed_everything(12)
    h = reference(4)
    assert torch.allclose(h, h[..., :1, :].expand_as(h), atol=1e-6)
    assert OfdmChannel(ChannelConfig(name), rg).generate(4).shape == (4, 1, 1, 1, 1, 1, 72)


@pytest.mark.slow
@pytest.mark.parametrize("name", [c for c in CHANNELS if c != "awgn"])
def test_unit_average_power_and_per_slot_fading(rg, name: str) -> None:  # noqa: ANN001
    """E|h|^2 = 1 (no per-example normalisation) and slots fade independently.

    With 400 independent slots the relative standard error of the mean power is <= 5% for these
    models (Rayleigh, the worst case, has 1/sqrt(400) = 5%); the 4-sigma bound (20%) holds with
    >99.99% confidence.
    """
    seed_everything(13)
    h = OfdmChannel(ChannelConfig(name), rg).generate(400)
    power = h.abs().square().mean(dim=(1, 2, 3, 4, 5, 6))  # per slot
    assert abs(float(power.mean()) - 1.0) < 0.2
    assert float(power.std()) > 0.1  # fading survives: no per-slot normalisation


def test_awgn_has_no_channel(rg) -> None:  # noqa: ANN001
    seed_everything(14)
    x = torch.ones(3, 1, 1, 14, 72, dtype=torch.complex64)
    y, h = OfdmChannel(ChannelConfig("awgn"), rg)(x, torch.full((3,), 0.01))
    assert h is None and y.shape == x.shape
    assert abs(float((y - x).abs().square().mean()) - 0.01) < 0.002


def test_flat_rayleigh_one_coefficient_per_example() -> None:
    seed_everything(15)
    x = torch.randn(500, 16, dtype=torch.complex64)
    y, h = FlatChannel(ChannelConfig("rayleigh"))(x, torch.zeros(500))
    assert h.shape == (500, 1)
    assert torch.allclose(y, h * x, atol=1e-6)
    assert abs(float(h.abs().square().mean()) - 1.0) < 0.25  # 500 draws: 4.5 sigma


def test_flat_channel_rejects_tdl() -> None:
    with pytest.raises(SemlinkError, match="needs an OFDM grid"):
        FlatChannel(ChannelConfig("tdl-a"))
