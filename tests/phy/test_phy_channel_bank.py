"""The channel bank for training: the model's statistics, one bank per seed, opt-in per link."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from semlink.errors import SemlinkError
from semlink.phy import AnalogLink, AnalogLinkConfig, ChannelConfig, OfdmConfig
from semlink.phy.channels import OfdmChannel
from semlink.phy.grid import make_resource_grid
from semlink.phy.symbol_link import OfdmSymbolLink
from semlink.seeding import seed_everything

# Two-sample KS tests at significance 0.001: with equal distributions a test fails with
# probability 0.001 (the seeds are fixed, so each outcome is reproducible).
ALPHA = 1e-3
TDL_A = ChannelConfig("tdl-a", delay_spread_ns=100.0, speed_mps=3.0)


@pytest.fixture(scope="module")
def rg():  # noqa: ANN201
    return make_resource_grid(OfdmConfig())


def test_bank_gains_have_the_models_distribution(rg) -> None:  # noqa: ANN001
    """|h|^2 at a few REs (one value per slot: independent samples) in the bank vs fresh draws."""
    channel = OfdmChannel(TDL_A, rg, bank_size=3000)
    seed_everything(1)
    bank = channel.bank()
    fresh = channel.draw(3000)
    assert bank.shape == fresh.shape == (3000, 1, 1, 1, 1, 14, 72)
    for t, f in ((0, 0), (7, 36), (13, 71)):
        a = bank[:, 0, 0, 0, 0, t, f].abs().square().numpy()
        b = fresh[:, 0, 0, 0, 0, t, f].abs().square().numpy()
        assert stats.ks_2samp(a, b).pvalue > ALPHA, (t, f)
    # slot-to-slot independence survives: the bank's slots are as uncorrelated as fresh ones
    power = bank.abs().square().mean(dim=(1, 2, 3, 4, 5, 6)).numpy()
    r = np.corrcoef(power[:-1], power[1:])[0, 1]
    assert abs(r) < 4 / np.sqrt(len(power))  # 4 sigma


def test_picks_are_uniform_over_the_bank(rg) -> None:  # noqa: ANN001
    """Every slot of a 64-slot bank is picked about equally often (chi-square, alpha = 0.001)."""
    channel = OfdmChannel(TDL_A, rg, bank_size=64)
    seed_everything(2)
    bank = channel.bank().reshape(64, -1)
    picked = channel.generate(6400).reshape(6400, -1)
    index = (picked[:, None, :8] == bank[None, :, :8]).all(-1).float().argmax(1)
    assert torch.equal(picked, bank[index])  # every pick is one of the bank's slots, unchanged
    counts = torch.bincount(index, minlength=64).numpy()
    assert stats.chisquare(counts).pvalue > ALPHA


def _estimation_errors(link: OfdmSymbolLink, slots: int, snr_db: float) -> np.ndarray:
    """Per slot: mean |h_hat - h|^2 over the data REs with LS estimation, and the slot's mean |h|^2."""
    x = torch.zeros(slots, link.symbols_per_slot, dtype=torch.complex64)
    no = torch.full((slots,), 10 ** (-snr_db / 10))
    grid = link._mapper(x.reshape(slots, 1, 1, -1))
    y, h_freq = link._channel(grid, no)
    h_hat, _ = link._receiver.estimate(y, h_freq, no)
    h = link._receiver.true_channel(h_freq)
    return (h_hat - h).abs().square().mean(1).numpy(), h.abs().square().mean(1).numpy()


@pytest.mark.parametrize("snr_db", [0.0, 20.0])
def test_ls_estimation_error_through_the_bank_matches_fresh_draws(snr_db: float) -> None:
    """The LS error (noise and interpolation over a moving channel) per slot: bank vs fresh, KS at 0.001.

    At 20 dB the error is mostly the interpolation error of the time-varying channel, so it tests the
    bank's Doppler too. Bank 4000 slots, 2000 sent (few repeats); fresh: 2000 slots.
    """
    ofdm = OfdmConfig()
    banked = OfdmSymbolLink(TDL_A, ofdm, csi="ls", interpolation="lin", channel_bank=4000)
    fresh = OfdmSymbolLink(TDL_A, ofdm, csi="ls", interpolation="lin")
    seed_everything(3)
    err_bank, gain_bank = _estimation_errors(banked, 2000, snr_db)
    err_fresh, gain_fresh = _estimation_errors(fresh, 2000, snr_db)
    assert stats.ks_2samp(err_bank, err_fresh).pvalue > ALPHA
    assert stats.ks_2samp(gain_bank, gain_fresh).pvalue > ALPHA


def test_one_bank_per_seed_independent_of_earlier_draws(rg) -> None:  # noqa: ANN001
    channel = OfdmChannel(TDL_A, rg, bank_size=50)
    seed_everything(4)
    first = channel.bank()
    assert channel.generate(3).shape == (3, 1, 1, 1, 1, 14, 72)
    assert channel.bank() is first  # made once, reused
    seed_everything(5)
    other = channel.bank()
    assert not torch.equal(other, first)
    seed_everything(4)
    channel.draw(17)  # draws made before the bank do not change it
    assert torch.equal(channel.bank(), first)
    twin = OfdmChannel(TDL_A, rg, bank_size=50)
    seed_everything(4)
    assert torch.equal(twin.bank(), first)


def test_bank_does_not_shift_the_links_random_stream() -> None:
    """Same seed, same outputs; and the noise and placement draws stay those of the run's stream."""
    cfg = AnalogLinkConfig(channel=TDL_A, csi="ls", interpolation="lin")
    x = torch.randn(40, 60, dtype=torch.complex64, generator=torch.Generator().manual_seed(0))
    outs = []
    for _ in range(2):
        link = AnalogLink(cfg, pack_examples=True, channel_bank=256)
        seed_everything(6)
        outs.append(link(x, 5.0))
    assert torch.equal(outs[0].estimate, outs[1].estimate)
    assert torch.equal(outs[0].error_var, outs[1].error_var)


def test_gradients_flow_through_a_banked_link() -> None:
    link = AnalogLink(AnalogLinkConfig(channel=TDL_A, csi="ls", interpolation="lin"), channel_bank=32)
    x = torch.randn(8, 100, dtype=torch.complex64, requires_grad=True)
    seed_everything(7)
    out = link(x, 10.0)
    out.estimate.real.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_without_a_bank_every_slot_is_fresh(rg) -> None:  # noqa: ANN001
    channel = OfdmChannel(TDL_A, rg)
    seed_everything(8)
    h = channel.generate(300).reshape(300, -1)
    assert len(torch.unique(h[:, 0].real)) == 300
    with pytest.raises(SemlinkError, match="has no bank"):
        channel.bank()


@pytest.mark.parametrize("bad", [0, -3, True, 2.5, "4096"])
def test_bad_bank_sizes_are_refused(bad) -> None:  # noqa: ANN001
    with pytest.raises(SemlinkError, match="channel_bank must be None or an integer >= 1"):
        AnalogLink(AnalogLinkConfig(channel=TDL_A), channel_bank=bad)
    with pytest.raises(SemlinkError, match="channel_bank"):
        AnalogLink(AnalogLinkConfig(channel=ChannelConfig("rayleigh"), ofdm=None), channel_bank=bad)


def test_awgn_and_flat_links_accept_and_ignore_a_bank() -> None:
    x = torch.ones(4, 10, dtype=torch.complex64)
    for cfg in (AnalogLinkConfig(channel=ChannelConfig("awgn")),
                AnalogLinkConfig(channel=ChannelConfig("rayleigh"), ofdm=None)):
        out = AnalogLink(cfg, channel_bank=16)(x, 10.0)
        assert out.estimate.shape == (4, 10)
