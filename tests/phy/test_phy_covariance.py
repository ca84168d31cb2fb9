"""The channel covariance LMMSE estimation assumes: exact, analytic (checked by Monte Carlo), Monte Carlo."""

from __future__ import annotations

import pytest
import torch

from semlink.phy import ChannelConfig, OfdmConfig
from semlink.phy.covariance import channel_covariance, monte_carlo_covariance
from semlink.seeding import seed_everything

GUARDED = OfdmConfig(fft_size=76, num_guard_carriers=(2, 1), dc_null=True)  # 72 effective subcarriers


@pytest.mark.parametrize("name", ["awgn", "rayleigh"])
def test_constant_channels_are_all_ones(name: str) -> None:
    cov = channel_covariance(ChannelConfig(name, speed_mps=30.0), GUARDED)
    assert cov.method == "exact"
    assert torch.equal(cov.time, torch.ones(14, 14, dtype=torch.complex128))
    assert torch.equal(cov.freq, torch.ones(72, 72, dtype=torch.complex128))


def test_tdl_analytic_covariance_matches_the_simulated_channel() -> None:
    """The analytic TDL matrices against 4096 slots of semlink's own TDL channel (300 ns, 100 m/s:
    the time correlation crosses zero within the slot), on a grid with guard and DC carriers.

    An entry of the sample covariance is a mean of 4096 i.i.d. terms of variance at most
    E|h|^4 = 2, so its standard error is at most 0.022; 0.15 is 6.8 standard errors (Gaussian tail
    < 1e-11 per entry, < 1e-7 over all 5380 entries)."""
    cfg = ChannelConfig("tdl-a", delay_spread_ns=300.0, speed_mps=100.0)
    analytic = channel_covariance(cfg, GUARDED)
    sampled = monte_carlo_covariance(cfg, GUARDED, num_slots=4096, seed=3)
    assert analytic.method == "analytic" and analytic.freq.shape == (72, 72) and analytic.time.shape == (14, 14)
    assert float((analytic.freq - sampled.freq).abs().max()) < 0.15
    assert float((analytic.time - sampled.time).abs().max()) < 0.15
    assert float(analytic.time[0, 13].real) < -0.3  # the check above has something to see
    assert float(analytic.freq[0, 71].abs()) < 0.9  # 1 would be a flat channel


def test_monte_carlo_covariance_is_part_of_the_link_definition() -> None:
    """CDL: Monte Carlo from a fixed seed, whatever the run seed, without touching the run's stream."""
    from sionna.phy import config as sionna_config

    cfg = ChannelConfig("cdl-b", speed_mps=30.0)
    seed_everything(1)
    first = monte_carlo_covariance(cfg, OfdmConfig(), num_slots=64, seed=11)
    after_first = torch.rand(3, generator=sionna_config.torch_rng("cpu"))
    seed_everything(2)
    second = monte_carlo_covariance(cfg, OfdmConfig(), num_slots=64, seed=11)
    seed_everything(1)
    assert torch.equal(torch.rand(3, generator=sionna_config.torch_rng("cpu")), after_first)
    assert torch.equal(first.time, second.time) and torch.equal(first.freq, second.freq)
    assert first.method == "monte-carlo"
    torch.testing.assert_close(first.freq, first.freq.mH)
    torch.testing.assert_close(first.time, first.time.mH)
    assert float(first.time.diagonal().real.mean()) == pytest.approx(1.0)
    assert channel_covariance(ChannelConfig("cdl-b"), OfdmConfig()).method == "monte-carlo"
