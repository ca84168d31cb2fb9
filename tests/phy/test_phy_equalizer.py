"""The two equalisers against a direct matrix computation, Sionna, and Monte Carlo error variances."""

from __future__ import annotations

import pytest
import torch
from sionna.phy.mimo import lmmse_equalizer

from semlink.errors import SemlinkError
from semlink.phy.equalizer import equalize, siso_lmmse, siso_lmmse_biased
from semlink.phy.receiver import FlatReceiver


def _direct(y: torch.Tensor, h: torch.Tensor, s: torch.Tensor) -> dict[str, torch.Tensor]:
    """Textbook LMMSE per element with 1x1 matrices (unit-energy prior, noise covariance S):
    G = (H^H S^-1 H + I)^-1 H^H S^-1, biased estimate G y with error covariance I - G H; the unbiased
    estimate divides by d = G H, with error variance 1/d - 1."""
    eye = torch.eye(1, dtype=torch.complex128)
    hm, sm = h.reshape(-1, 1, 1), s.to(torch.complex128).reshape(-1, 1, 1) * eye
    g = torch.linalg.solve(hm.mH @ torch.linalg.inv(sm) @ hm + eye, hm.mH @ torch.linalg.inv(sm))
    d = (g @ hm).reshape(-1)
    biased = (g @ y.reshape(-1, 1, 1)).reshape(-1)
    return {
        "biased": biased, "biased_mse": (eye - g @ hm).reshape(-1).real,
        "unbiased": biased / d, "unbiased_var": (1.0 / d - 1.0).real,
    }


def test_formulas_equal_the_direct_matrix_computation() -> None:
    g = torch.Generator().manual_seed(31)
    y = torch.randn(200, dtype=torch.complex128, generator=g)
    h = torch.randn(200, dtype=torch.complex128, generator=g)
    s = torch.rand(200, dtype=torch.float64, generator=g) * 2 + 0.01
    ref = _direct(y, h, s)
    x_b, mse_b = siso_lmmse_biased(y, h, s)
    x_u, var_u = siso_lmmse(y, h, s)
    torch.testing.assert_close(x_b, ref["biased"])
    torch.testing.assert_close(mse_b, ref["biased_mse"])
    torch.testing.assert_close(x_u, ref["unbiased"])
    torch.testing.assert_close(var_u, ref["unbiased_var"])
    # The relations of the module docstring: shrink by g = 1/(1 + no_eff), mse = no_eff/(1 + no_eff).
    torch.testing.assert_close(x_b, x_u / (1 + var_u))
    torch.testing.assert_close(mse_b, var_u / (1 + var_u))
    # And the unbiased one is Sionna's (which computes in its configured single precision).
    x_s, no_s = lmmse_equalizer(y[:, None], h[:, None, None], s.to(torch.complex128)[:, None, None])
    torch.testing.assert_close(x_u.to(x_s.dtype), x_s[:, 0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(var_u.to(no_s.dtype), no_s[:, 0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("h", "s"), [(0.3 - 0.4j, 0.5), (1.2 + 0.1j, 0.05)])
def test_error_variances_by_monte_carlo(h: complex, s: float) -> None:
    """QPSK symbols (unit energy, not Gaussian) through y = h x + n, 200 000 draws.

    The error powers are means of 200 000 i.i.d. terms whose standard deviation is at most twice
    their mean, so 2 % is more than 4 standard errors; the gain estimate has a standard error below
    0.3 % of 1, so 0.02 is more than 6."""
    g = torch.Generator().manual_seed(32)
    n = 200_000
    bits = torch.randint(0, 2, (n, 2), generator=g).to(torch.float64)
    x = torch.complex(1 - 2 * bits[:, 0], 1 - 2 * bits[:, 1]) / 2**0.5
    noise = torch.complex(torch.randn(n, generator=g, dtype=torch.float64),
                          torch.randn(n, generator=g, dtype=torch.float64)) * (s / 2) ** 0.5
    hh = torch.tensor(h, dtype=torch.complex128)
    y = hh * x + noise
    st = torch.tensor(s, dtype=torch.float64)
    for fn in (siso_lmmse, siso_lmmse_biased):
        x_hat, var = fn(y, hh, st)
        assert float((x_hat - x).abs().square().mean()) == pytest.approx(float(var), rel=0.02)
    x_u, var_u = siso_lmmse(y, hh, st)
    x_b, _ = siso_lmmse_biased(y, hh, st)
    gain = lambda est: float((est * x.conj()).mean().real)  # noqa: E731 - E[x_hat x*] with E|x|^2 = 1
    assert gain(x_u) == pytest.approx(1.0, abs=0.02)
    assert gain(x_b) == pytest.approx(float(1 / (1 + var_u)), abs=0.02)


def test_unit_channel_and_flat_receiver() -> None:
    y = torch.tensor([[2 + 2j, 4j]], dtype=torch.complex64)
    s = torch.tensor([[0.25]])
    x_hat, var = equalize(y, None, s, "lmmse-biased")
    torch.testing.assert_close(x_hat, y / 1.25)
    torch.testing.assert_close(var, torch.full((1, 2), 0.2))
    x_hat, var = equalize(y, None, s, "lmmse")
    assert torch.equal(x_hat, y) and torch.equal(var, torch.full((1, 2), 0.25))
    x_hat, var = FlatReceiver("lmmse-biased")(y, torch.tensor([[2j]], dtype=torch.complex64), torch.tensor([0.4]))
    torch.testing.assert_close(x_hat, y * (-2j) / 4.4)
    torch.testing.assert_close(var, torch.full((1, 2), 0.4 / 4.4))


def test_unknown_equalizer_is_refused() -> None:
    with pytest.raises(SemlinkError, match="unknown equalizer 'zf'; accepted: lmmse, lmmse-biased"):
        equalize(torch.ones(1, 1, dtype=torch.complex64), None, torch.ones(1, 1), "zf")
    with pytest.raises(SemlinkError, match="accepted: lmmse, lmmse-biased"):
        FlatReceiver("mmse")
