"""The linear analog code: water-filling, KLT fit, and its MSE against the closed-form prediction."""

from __future__ import annotations

import math

import pytest
import torch

from semlink.errors import SemlinkError
from semlink.phy import AnalogLink, AnalogLinkConfig, ChannelConfig
from semlink.phy.analog import AnalogOutput
from semlink.rx.linear_analog import LinearAnalogDecoder
from semlink.seeding import seed_everything
from semlink.tx import linear_analog
from semlink.tx.linear_analog import (
    KltBasis,
    LinearAnalogEncoder,
    fit_klt,
    lee_petersen_powers,
    predicted_mse,
)


def _bisection_powers(lam: torch.Tensor, sigma2: float, power: float) -> torch.Tensor:
    """Water-filling by bisection on the level θ: p_i = (σ √λ_i θ − σ²)⁺ with Σ p = P (independent check)."""
    sigma = math.sqrt(sigma2)
    low, high = 0.0, 1e6
    for _ in range(200):
        theta = 0.5 * (low + high)
        if float((sigma * lam.sqrt() * theta - sigma2).clamp_min(0).sum()) > power:
            high = theta
        else:
            low = theta
    return (sigma * lam.sqrt() * low - sigma2).clamp_min(0)


@pytest.mark.parametrize("sigma2", [1e-3, 0.05, 0.5, 5.0])
def test_closed_form_allocation_equals_water_filling_by_bisection(sigma2):
    torch.manual_seed(0)
    lam = torch.rand(50, dtype=torch.float64).pow(3).sort(descending=True).values
    p = lee_petersen_powers(lam, torch.tensor([sigma2], dtype=torch.float64), 10.0)[0]
    torch.testing.assert_close(p, _bisection_powers(lam, sigma2, 10.0), atol=1e-9, rtol=1e-7)
    assert float(p.sum()) == pytest.approx(10.0, rel=1e-12)
    # KKT: λ σ² / (p + σ²)² is the same (ν) wherever p > 0, and at most ν where p = 0.
    marginal = lam * sigma2 / (p + sigma2).square()
    active = p > 0
    nu = marginal[active]
    torch.testing.assert_close(nu, nu.mean().expand_as(nu), rtol=1e-9, atol=0)
    assert bool((marginal[~active] <= nu.mean() * (1 + 1e-9)).all())


def test_allocation_is_one_row_per_noise_level_and_spreads_like_sqrt_variance_without_noise():
    lam = torch.tensor([4.0, 1.0, 0.25], dtype=torch.float64)
    p = lee_petersen_powers(lam, torch.tensor([1e-14, 0.5, 100.0]), 3.0)
    torch.testing.assert_close(p[0], 3.0 * lam.sqrt() / lam.sqrt().sum())  # σ → 0: p ∝ √λ
    assert p.shape == (3, 3) and float(p[2, 1:].abs().max()) == 0.0  # very noisy: all power on the first


def _gaussian_klt(n: int, k_decay: float, seed: int) -> KltBasis:
    """A source on a (1, n) "image" with covariance U diag(λ) Uᵀ, λ_i ∝ i^-k_decay, random orthonormal U."""
    g = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, generator=g))
    lam = (torch.arange(1, n + 1, dtype=torch.float64) ** -k_decay) * 0.05
    return KltBasis((1, n, 1), torch.full((n,), 0.5), basis, lam, 0.0)


def _samples(klt: KltBasis, count: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(count, klt.num_components, dtype=torch.float64, generator=g)
    x = klt.mean.double() + (w * klt.variances.sqrt()) @ klt.basis.double().T
    return x.to(torch.float32).reshape(count, 1, 1, -1)


@pytest.mark.parametrize("snr_db", [-4.0, 4.0, 13.0])
def test_mse_equals_the_closed_form_on_gaussian_vectors_without_normalisation(snr_db):
    """n = 48 Gaussian values, 12 channel uses (24 of 48 coefficients), 20000 vectors.

    The channel here is the front end's model without the link's per-image normalisation: the scaled
    coefficients plus N(0, no/2) per real, delivered in MMSE form (estimate y/(1+no), error variance
    no/(1+no): exactly what AnalogLink's AWGN front end returns for a unit-energy symbol). The decoder
    then equals the LMMSE the prediction assumes, so the measured mean squared error per vector must
    match D* within Monte Carlo error: |mean − D*| < 4 standard errors (two-sided, ~99.99 %)."""
    klt = _gaussian_klt(48, 1.0, seed=1)
    uses, count = 12, 20000
    x = _samples(klt, count, seed=2)
    encoder, decoder = LinearAnalogEncoder(klt, uses), LinearAnalogDecoder(klt, uses)
    sent = encoder.scaled_coefficients(x, snr_db).double()  # [count, 24], E‖·‖² = 12
    no = 10 ** (-snr_db / 10)
    received = sent + math.sqrt(no / 2) * torch.randn(sent.shape, generator=torch.Generator().manual_seed(3),
                                                       dtype=torch.float64)
    estimate = torch.view_as_complex((received / (1 + no)).to(torch.float32).reshape(count, uses, 2).contiguous())
    error_var = torch.full((count, uses), no / (1 + no))
    x_hat = decoder.estimate_values(estimate, error_var)
    per_vector = (x_hat.double() - x.flatten(1).double()).square().sum(1)
    predicted = predicted_mse(klt, uses, snr_db)
    standard_error = float(per_vector.std()) / math.sqrt(count)
    assert abs(float(per_vector.mean()) - predicted) < 4 * standard_error, (float(per_vector.mean()), predicted)
    assert float(sent.square().sum(1).mean()) == pytest.approx(uses, rel=0.03)  # the power constraint, on average


def test_mse_through_the_analog_link_approaches_the_closed_form_in_high_dimension():
    """Through AnalogLink (flat AWGN, 0 dB): every vector is normalised to unit symbol energy, a gain ρ
    the receiver does not know. n = 2048, 512 channel uses (1024 coefficients, a slowly decaying
    spectrum: ~1000 active): ‖a‖²/P then has a relative spread √(2 Σp²)/P of about 6 %, so ρ is within
    ~3 % of 1 and the excess error it causes is second order. Measured: 0.05 % above D*, with a Monte
    Carlo standard error of 0.1 % over 1500 vectors; the bound is 1 %."""
    klt = _gaussian_klt(2048, 0.5, seed=4)
    uses, count, snr_db = 512, 1500, 0.0
    x = _samples(klt, count, seed=5)
    seed_everything(6)
    link = AnalogLink(AnalogLinkConfig(channel=ChannelConfig("awgn"), ofdm=None))
    encoder, decoder = LinearAnalogEncoder(klt, uses), LinearAnalogDecoder(klt, uses)
    spread = encoder.scaled_coefficients(x, snr_db).double().square().sum(1).div(uses)
    assert 0.03 < float(spread.std()) < 0.1  # the regime the docstring describes
    out = link(encoder(x, snr_db), snr_db)
    per_vector = (decoder.estimate_values(*out).double() - x.flatten(1).double()).square().sum(1)
    predicted = predicted_mse(klt, uses, snr_db)
    assert float(per_vector.mean()) == pytest.approx(predicted, rel=0.01)


def test_fit_recovers_the_spectrum_and_the_randomised_branch_agrees(monkeypatch):
    """64-dim Gaussian source with a known spectrum, 20000 samples: each sample variance has a relative
    standard error of √(2/20000) = 1 %; 6 % is a 6-sigma bound. The randomised SVD (forced by lowering
    the full-eigen limit) finds the same leading variances and subspace."""
    klt = _gaussian_klt(64, 1.5, seed=7)
    x = _samples(klt, 20000, seed=8)
    full = fit_klt(x, 10)
    torch.testing.assert_close(full.variances, klt.variances[:10], rtol=0.06, atol=0)
    torch.testing.assert_close(full.basis.T @ full.basis, torch.eye(10), atol=1e-5, rtol=0)
    total = float(x.flatten(1).double().var(0).sum())
    assert float(full.variances.sum() + full.tail_variance) == pytest.approx(total, rel=1e-9)
    monkeypatch.setattr(linear_analog, "FULL_EIGEN_MAX_DIM", 16)
    randomised = fit_klt(x, 10, seed=0)
    torch.testing.assert_close(randomised.variances[:5], full.variances[:5], rtol=1e-3, atol=0)
    overlap = (full.basis[:, :5].T @ randomised.basis[:, :5]).abs().diagonal()
    assert float(overlap.min()) > 0.99


def test_encoder_sends_unit_energy_and_a_noiseless_receiver_projects_onto_the_kept_subspace():
    torch.manual_seed(0)
    images = torch.rand(300, 1, 6, 6)
    klt = fit_klt(images, 20)
    encoder, decoder = LinearAnalogEncoder(klt, 10), LinearAnalogDecoder(klt, 10)
    x = images[:4]
    symbols = encoder(x, snr_db=float("inf"))
    torch.testing.assert_close(symbols.abs().square().mean(1), torch.ones(4), atol=1e-5, rtol=0)
    # No noise (error variance 0): the receiver recovers the KLT coefficients up to the unknown
    # per-image gain ρ; with the sent reals rescaled by 1/ρ it returns the projection exactly.
    sent = encoder.scaled_coefficients(x, float("inf"))
    on_air = torch.view_as_complex(sent.reshape(4, 10, 2).contiguous())
    x_hat = decoder.estimate_values(on_air, torch.zeros(4, 10))
    centred = x.flatten(1) - klt.mean
    projection = klt.mean + centred @ klt.basis @ klt.basis.T
    torch.testing.assert_close(x_hat, projection, atol=1e-4, rtol=0)
    # A receiver that learned nothing (error variance 1 everywhere) returns the mean image.
    nothing = decoder.estimate_values(torch.zeros(4, 10, dtype=torch.complex64), torch.ones(4, 10))
    torch.testing.assert_close(nothing, klt.mean.expand(4, -1), atol=1e-6, rtol=0)


def test_a_budget_beyond_the_source_pads_with_zeros():
    torch.manual_seed(0)
    klt = fit_klt(torch.rand(100, 1, 3, 3), 9)
    symbols = LinearAnalogEncoder(klt, 8)(torch.rand(2, 1, 3, 3), 10.0)  # 16 reals, 9 coefficients
    assert symbols.shape == (2, 8)
    assert float(symbols[:, 5:].abs().max()) == 0.0 and float(symbols[:, 4].imag.abs().max()) == 0.0


def test_bad_inputs_are_refused():
    torch.manual_seed(0)
    images = torch.rand(10, 1, 3, 3)
    with pytest.raises(SemlinkError, match="num_components = 0"):
        fit_klt(images, 0)
    with pytest.raises(SemlinkError, match="at least 2"):
        fit_klt(images[:1], 2)
    klt = fit_klt(images, 4)
    with pytest.raises(SemlinkError, match="channel_uses = 0"):
        LinearAnalogEncoder(klt, 0)
    with pytest.raises(SemlinkError, match=r"float \[B, 1, 3, 3\]"):
        LinearAnalogEncoder(klt, 2)(torch.rand(2, 3, 3), 0.0)
    with pytest.raises(SemlinkError, match="snr_db"):
        LinearAnalogEncoder(klt, 2)(images[:2], float("nan"))
    with pytest.raises(SemlinkError, match=r"complex \[B, 2\]"):
        LinearAnalogDecoder(klt, 2)(*AnalogOutput(torch.zeros(2, 3, dtype=torch.complex64), torch.zeros(2, 3)))
