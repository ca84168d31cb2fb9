"""AnalogLink: the one front end (MMSE estimate + error variance), SNR calibration, no side information,
gradients, shapes and slots, seeding, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from semlink.errors import SemlinkError
from semlink.phy import AnalogLink, AnalogLinkConfig, ChannelConfig, OfdmConfig, unit_energy_scale
from semlink.phy.analog import receiver_snr_db
from semlink.seeding import seed_everything


def _symbols(batch: int, num: int, scale: float = 1.0) -> torch.Tensor:
    return (scale * torch.randn(batch, num, dtype=torch.complex64)).contiguous()


def _on_air(x: torch.Tensor) -> torch.Tensor:
    """What the link transmits: each example at unit average energy (the link's outputs are in this scale)."""
    return (x * unit_energy_scale(x)).detach()


@pytest.mark.parametrize("ofdm", [None, OfdmConfig()], ids=["flat", "ofdm"])
@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
def test_awgn_measured_snr_equals_set_snr(ofdm: OfdmConfig | None, snr_db: float) -> None:
    """500 x 300 symbols: the noise power estimate has a relative standard error of 0.26% (0.011 dB),
    so +-0.2 dB is an 18-sigma bound. The inputs are scaled by 3: SNR is relative to each example's
    own energy, and the outputs come back in the on-air (unit-energy) scale. The front end's unbiased
    re-parametrisation ``estimate / (1 - error_var)`` is the received symbol ``x + n``; the estimate
    itself is the MMSE one, with error variance ``no / (1 + no)``, and the receiver's SNR is the set one."""
    seed_everything(201)
    link = AnalogLink(AnalogLinkConfig(channel=ChannelConfig("awgn"), ofdm=ofdm, csi="perfect"))
    x = _symbols(500, 300, scale=3.0)
    out = link(x, snr_db)
    no = 10 ** (-snr_db / 10)
    torch.testing.assert_close(out.error_var, torch.full_like(out.error_var, no / (1 + no)), rtol=1e-4, atol=0)
    unbiased = out.estimate / (1 - out.error_var)
    measured = -10 * math.log10(float((unbiased - _on_air(x)).abs().square().mean()))
    assert abs(measured - snr_db) <= 0.2, measured
    mse = float((out.estimate - _on_air(x)).abs().square().mean())
    assert mse == pytest.approx(no / (1 + no), rel=0.05)  # 500 x 300 symbols: ~20 standard errors
    torch.testing.assert_close(receiver_snr_db(out.error_var), torch.full((500,), snr_db), atol=1e-3, rtol=0)


def test_awgn_with_ls_estimation_stays_calibrated() -> None:
    """LS on AWGN: the reported error variance matches the actual error power within 10%."""
    seed_everything(202)
    link = AnalogLink(AnalogLinkConfig(channel=ChannelConfig("awgn"), ofdm=OfdmConfig(), csi="ls"))
    x = _symbols(300, 864)
    out = link(x, 15.0)
    err = float((out.estimate - _on_air(x)).abs().square().mean())
    assert err == pytest.approx(float(out.error_var.mean()), rel=0.1)


@pytest.mark.parametrize(
    ("ofdm", "channel", "csi", "packed"),
    [
        (None, "rayleigh", "perfect", True),
        (None, "awgn", "perfect", True),
        (OfdmConfig(), "tdl-a", "ls", True),
        (OfdmConfig(), "tdl-a", "ls", False),
        (OfdmConfig(), "tdl-a", "lmmse", True),
        (OfdmConfig(), "rayleigh", "perfect", False),
    ],
    ids=["flat-rayleigh", "flat-awgn", "ofdm-ls-packed", "ofdm-ls-unpacked", "ofdm-lmmse-packed",
         "ofdm-perfect-unpacked"],
)
def test_link_output_carries_no_transmit_scale(ofdm: OfdmConfig | None, channel: str, csi: str, packed: bool) -> None:
    """No free side information: scaling one example's input by a positive constant changes no output
    (same seed); a complex constant acts only through its phase, which is part of the signal sent."""
    link = AnalogLink(AnalogLinkConfig(channel=ChannelConfig(channel), ofdm=ofdm, csi=csi), pack_examples=packed)
    x = _symbols(6, 128)
    scaled, rotated = x.clone(), x.clone()
    scaled[1] *= 37.5
    scaled[2] *= 1e-3
    c = complex(-0.02, 0.05)
    scaled[4] *= c
    rotated[4] *= c / abs(c)
    outs = []
    for inp in (rotated, scaled):
        seed_everything(250)
        outs.append(link(inp, 3.0))
    torch.testing.assert_close(outs[1].estimate, outs[0].estimate, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(outs[1].error_var, outs[0].error_var, rtol=1e-5, atol=0.0)
    # The outputs are in the on-air scale whatever the input's: at most unit energy (an MMSE estimate).
    assert float(outs[1].estimate[1].abs().square().mean()) < 1.5


@pytest.mark.parametrize("ofdm", [None, OfdmConfig()], ids=["flat", "ofdm"])
def test_the_front_end_is_the_mmse_estimate_with_its_error_variance(ofdm: OfdmConfig | None) -> None:
    """AWGN at 0 dB, perfect CSI: the estimate is ``y / 2`` (gain 1/(1 + no) = 0.5) with error variance
    no / (1 + no) = 0.5 per symbol; the same from two links alike (no equaliser setting to differ).

    400 x 300 symbols: the error-power and gain estimates have relative standard errors below 0.3 %;
    the 3 % bounds are > 10 sigma."""
    x = _symbols(400, 300, scale=0.3)
    sent = _on_air(x)
    outs = []
    for _ in range(2):
        link = AnalogLink(AnalogLinkConfig(channel=ChannelConfig("awgn"), ofdm=ofdm))
        seed_everything(251)
        outs.append(link(x, 0.0))
    out = outs[0]
    gain = float((out.estimate * sent.conj()).sum().real / sent.abs().square().sum())
    mse = float((out.estimate - sent).abs().square().mean())
    assert gain == pytest.approx(0.5, abs=0.03) and mse == pytest.approx(0.5, rel=0.03)
    assert torch.allclose(out.error_var, torch.full((400, 300), 0.5))
    assert torch.equal(outs[1].estimate, out.estimate) and torch.equal(outs[1].error_var, out.error_var)


def test_lmmse_estimation_on_the_analog_link() -> None:
    """TDL-A (100 ns, 30 m/s) with LMMSE channel estimation at 5 dB, 64 examples of one slot each.

    The reported error variance is bounded by 1 and its mean matches the measured error power: their
    per-slot difference has a standard deviation of about 0.023 (measured, 256 slots) around a mean
    of 0.38, so over 64 slots 5 % is more than 6 standard errors. Gradients reach every input symbol."""
    seed_everything(252)
    link = AnalogLink(
        AnalogLinkConfig(channel=ChannelConfig("tdl-a", speed_mps=30.0), ofdm=OfdmConfig(), csi="lmmse")
    )
    x = _symbols(64, 864).requires_grad_(True)
    out = link(x, 5.0)
    err = (out.estimate - _on_air(x)).detach().abs().square()
    assert float(out.error_var.detach().max()) <= 1.0
    assert float(err.mean()) == pytest.approx(float(out.error_var.detach().mean()), rel=0.05)
    out.estimate.real.sum().backward()
    assert bool(torch.isfinite(x.grad).all()) and float(x.grad.abs().min()) > 0.0


def test_receiver_snr_averages_the_channel_gain_the_receiver_sees() -> None:
    """Flat Rayleigh, perfect CSI, 4000 examples at 10 dB: each example's receiver SNR is its own
    |h|²/no (one coefficient per example), so the mean of the linear values estimates E|h|²/no = 10.
    |h|² is exponential (standard deviation 1): 4000 draws give a standard error of 1.6 %; 7 % is
    over 4 sigma. The clipped form stays within [-30, 50] dB."""
    seed_everything(253)
    link = AnalogLink(AnalogLinkConfig(channel=ChannelConfig("rayleigh"), ofdm=None))
    out = link(_symbols(4000, 8), 10.0)
    linear = 10 ** (receiver_snr_db(out.error_var, clip=False) / 10)
    assert float(linear.mean()) == pytest.approx(10.0, rel=0.07)
    clipped = receiver_snr_db(torch.tensor([[0.0, 0.0], [1.0, 1.0]]))
    assert clipped.tolist() == [50.0, -30.0] and clipped.dtype == torch.float32


@pytest.mark.parametrize(("channel", "csi"), [("tdl-a", "ls"), ("rayleigh", "perfect"), ("cdl-c", "ls")])
def test_gradients_reach_the_input(channel: str, csi: str) -> None:
    seed_everything(203)
    link = AnalogLink(
        AnalogLinkConfig(channel=ChannelConfig(channel), ofdm=OfdmConfig(), csi=csi, interpolation="lin")
    )
    x = _symbols(4, 128).requires_grad_(True)
    out = link(x, 10.0)
    loss = (out.estimate - 1.0).abs().square().sum() + out.error_var.sum()
    loss.backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())
    assert float(x.grad.abs().min()) > 0.0


def test_flat_gradients() -> None:
    seed_everything(204)
    link = AnalogLink(AnalogLinkConfig(channel=ChannelConfig("rayleigh"), ofdm=None))
    x = _symbols(8, 16).requires_grad_(True)
    link(x, 5.0).estimate.real.sum().backward()
    assert float(x.grad.abs().sum()) > 0.0


def test_shapes_slots_and_channel_uses() -> None:
    seed_everything(205)
    link = AnalogLink(AnalogLinkConfig(channel=ChannelConfig("tdl-a"), ofdm=OfdmConfig(), csi="ls"))
    for num, uses in [(128, 144), (432, 432), (433, 864), (864, 864), (1000, 1728)]:
        out = link(_symbols(3, num), 10.0)
        assert out.estimate.shape == (3, num) and out.estimate.dtype == torch.complex64
        assert out.error_var.shape == (3, num) and out.error_var.dtype == torch.float32
        assert link.channel_uses_with_padding(num) == uses  # 128 symbols: 6 examples share a slot of 864 REs
    unpacked = AnalogLink(AnalogLinkConfig(channel=ChannelConfig("tdl-a"), ofdm=OfdmConfig()), pack_examples=False)
    assert unpacked.channel_uses_with_padding(128) == 864
    assert AnalogLink(AnalogLinkConfig(ofdm=None)).channel_uses_with_padding(129) == 129


@pytest.mark.parametrize("csi", ["perfect", "ls"])
def test_packed_examples_keep_their_snr_and_gradients(csi: str) -> None:
    """13 examples of 128 symbols packed 6 per slot (3 slots, the last partly empty) over AWGN.

    Perfect CSI: 1664 symbols give the noise power a relative standard error of 2.5 % (0.11 dB);
    +-0.5 dB is a 4.5-sigma bound. LS (nearest pilot) adds its own estimation error, so there the
    reported error variance must match the measured error power within 15 % (6 sigma)."""
    seed_everything(210)
    link = AnalogLink(AnalogLinkConfig(channel=ChannelConfig("awgn"), ofdm=OfdmConfig(), csi=csi))
    x = _symbols(13, 128, scale=2.0).requires_grad_(True)
    out = link(x, 10.0)
    assert out.estimate.shape == (13, 128)
    unbiased = out.estimate / (1 - out.error_var)
    if csi == "perfect":
        measured = -10 * math.log10(float((unbiased - _on_air(x)).detach().abs().square().mean()))
        assert abs(measured - 10.0) <= 0.5, measured
    else:
        error_power = float((out.estimate - _on_air(x)).detach().abs().square().mean())
        assert error_power == pytest.approx(float(out.error_var.detach().mean()), rel=0.15)
    out.estimate.real.sum().backward()
    assert float(x.grad.abs().min()) > 0.0


def test_packed_mixed_snrs_share_slots_by_snr() -> None:
    """40 examples of 64 symbols at 4 SNRs, packed (13 to a slot): each comes back in its own place
    at its own SNR, and the link uses only the slots SNR groups need (4 groups of 10 → 4 slots).

    Per SNR, 10 x 64 symbols give the noise power a relative standard error of 4 % (0.17 dB);
    +-0.75 dB is a 4.4-sigma bound."""
    seed_everything(211)
    link = AnalogLink(AnalogLinkConfig(channel=ChannelConfig("awgn"), ofdm=OfdmConfig(), csi="perfect"))
    x = _symbols(40, 64).requires_grad_(True)
    snr = torch.tensor([0.0, 10.0, 20.0, 30.0] * 10)
    sent_rows = []
    original = link._core.send_rows
    link._core.send_rows = lambda rows, no: sent_rows.append(rows.shape) or original(rows, no)
    out = link(x, snr)
    assert sent_rows == [torch.Size([4, 13 * 64])]
    err = (out.estimate / (1 - out.error_var) - _on_air(x)).detach().abs().square()
    for level in (0.0, 10.0, 20.0, 30.0):
        measured = -10 * math.log10(float(err[snr == level].mean()))
        assert abs(measured - level) <= 0.75, (level, measured)
    out.estimate.real.sum().backward()
    assert float(x.grad.abs().min()) > 0.0


def test_packed_link_with_distinct_snrs_gives_each_example_a_slot() -> None:
    """SNRs drawn from a range share nothing: each example gets a slot of its own, at a random one
    of the 13 places (so its position relative to the pilots is distributed as in a packed slot)."""
    seed_everything(212)
    link = AnalogLink(AnalogLinkConfig(channel=ChannelConfig("tdl-a"), ofdm=OfdmConfig(), csi="ls"))
    sent_rows = []
    original = link._core.send_rows
    link._core.send_rows = lambda rows, no: sent_rows.append(rows.shape) or original(rows, no)
    out = link(_symbols(40, 64), torch.linspace(0.0, 20.0, 40))
    assert sent_rows == [torch.Size([40, 64])] and out.estimate.shape == (40, 64)


def test_per_example_snr_and_chunking() -> None:
    seed_everything(206)
    link = AnalogLink(
        AnalogLinkConfig(channel=ChannelConfig("awgn"), ofdm=OfdmConfig()), max_slots_per_chunk=3
    )
    x = _symbols(8, 900)  # 2 slots per example, chunks of one example
    snr = torch.tensor([0.0, 10.0, 20.0, 30.0] * 2)
    out = link(x, snr)
    err = (out.estimate / (1 - out.error_var) - _on_air(x)).abs().square().mean(dim=1)
    measured = 10 * torch.log10(1 / err)
    assert torch.allclose(measured, snr, atol=0.5)
    torch.testing.assert_close(receiver_snr_db(out.error_var), snr, atol=1e-3, rtol=0)


def test_high_snr_fading_recovers_input() -> None:
    seed_everything(207)
    link = AnalogLink(AnalogLinkConfig(channel=ChannelConfig("tdl-c"), ofdm=OfdmConfig(), csi="perfect"))
    x = _symbols(4, 200)
    out = link(x, 80.0)
    assert torch.allclose(out.estimate, _on_air(x), atol=1e-2)


def test_same_seed_same_output_different_seed_different_noise() -> None:
    link = AnalogLink(AnalogLinkConfig(channel=ChannelConfig("tdl-a"), ofdm=OfdmConfig(), csi="ls"))
    x = _symbols(4, 128)
    outs = []
    for seed in (9, 9, 10):
        seed_everything(seed)
        outs.append(link(x, 5.0))
    assert torch.equal(outs[0].estimate, outs[1].estimate)
    assert torch.equal(outs[0].error_var, outs[1].error_var)
    assert not torch.equal(outs[0].estimate, outs[2].estimate)


@pytest.mark.parametrize(
    ("symbols", "snr", "fragment"),
    [
        (torch.zeros(2, 8), 5.0, "symbols must be complex"),
        (torch.zeros(8, dtype=torch.complex64), 5.0, r"shape \[batch >= 1, num_symbols >= 1\]"),
        (torch.zeros(2, 0, dtype=torch.complex64), 5.0, r"shape \[batch >= 1"),
        (torch.full((2, 4), complex(math.nan, 0.0), dtype=torch.complex64), 5.0, "finite"),
        (torch.ones(2, 4, dtype=torch.complex64), float("-inf"), "snr_db must be a finite"),
        (torch.ones(2, 4, dtype=torch.complex64), torch.tensor([math.inf, 1.0]), "snr_db must be finite"),
        (torch.ones(2, 4, dtype=torch.complex64), torch.ones(3), r"shape \[\] or \[2\]"),
        ("abc", 5.0, "torch.Tensor"),
    ],
)
def test_bad_input(symbols: object, snr: object, fragment: str) -> None:
    link = AnalogLink(AnalogLinkConfig(ofdm=None))
    with pytest.raises(SemlinkError, match=fragment):
        link(symbols, snr)


def test_bad_constructor_and_sizes() -> None:
    with pytest.raises(SemlinkError, match="max_slots_per_chunk"):
        AnalogLink(AnalogLinkConfig(ofdm=None), max_slots_per_chunk=0)
    with pytest.raises(SemlinkError, match="num_symbols must be an integer >= 1, got 0"):
        AnalogLink(AnalogLinkConfig(ofdm=None)).channel_uses_with_padding(0)


@pytest.mark.parametrize("name, num, speed, ofdm", [
    ("tdl-a", 128, 0.0, True), ("tdl-a", 1000, 30.0, True), ("rayleigh", 100, 0.0, True),
    ("rayleigh", 64, 0.0, False), ("awgn", 64, 0.0, False), ("awgn", 64, 0.0, True),
])
def test_channel_gains_are_the_realisations_the_link_applies(name, num, speed, ofdm):
    """Same seed: |h|² from channel_gains equals no (1 - e) / e of a unit-energy transmission (perfect CSI)."""
    cfg = AnalogLinkConfig(channel=ChannelConfig(name=name, speed_mps=speed), ofdm=OfdmConfig() if ofdm else None)
    link = AnalogLink(cfg, pack_examples=False)
    seed_everything(3)
    gains = link.channel_gains(50, num)
    seed_everything(3)
    out = link(torch.ones(50, num, dtype=torch.complex64), 10.0)
    assert gains.shape == (50, num) and gains.dtype == torch.float32
    torch.testing.assert_close(gains, 0.1 * (1 - out.error_var) / out.error_var, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(("channel", "ofdm"), [("rayleigh", None), ("tdl-a", OfdmConfig())])
def test_infinite_snr_is_no_channel(channel, ofdm) -> None:
    """``snr_db = inf`` delivers the on-air symbols exactly with zero variance, and draws no random numbers."""
    link = AnalogLink(AnalogLinkConfig(channel=ChannelConfig(channel), ofdm=ofdm, csi="ls" if ofdm else "perfect"))
    x = _symbols(5, 100) * 3.0
    seed_everything(7)
    out = link(x, math.inf)
    after = torch.rand(1)
    torch.testing.assert_close(out.estimate, x * unit_energy_scale(x), rtol=0, atol=0)
    assert torch.equal(out.error_var, torch.zeros(5, 100))
    seed_everything(7)
    assert torch.equal(torch.rand(1), after)
