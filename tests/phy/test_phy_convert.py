"""Interleaved real <-> complex packing."""

from __future__ import annotations

import pytest
import torch

from semlink.errors import SemlinkError
from semlink.phy import complex_to_real, real_to_complex


def test_layout_and_round_trip() -> None:
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    z = real_to_complex(x)
    assert z.dtype == torch.complex64 and z.shape == (1, 2)
    assert torch.equal(z, torch.tensor([[1 + 2j, 3 + 4j]], dtype=torch.complex64))
    assert torch.equal(complex_to_real(z), x)
    y = torch.randn(5, 3, 8, dtype=torch.float64)
    assert torch.allclose(complex_to_real(real_to_complex(y)), y.float())


def test_differentiable() -> None:
    x = torch.randn(2, 6, requires_grad=True)
    (real_to_complex(x).abs().square().sum()).backward()
    assert torch.allclose(x.grad, 2 * x.detach())
    z = torch.randn(2, 3, dtype=torch.complex64, requires_grad=True)
    complex_to_real(z.conj()).sum().backward()
    assert z.grad is not None


def test_errors() -> None:
    with pytest.raises(SemlinkError, match="even"):
        real_to_complex(torch.zeros(2, 3))
    with pytest.raises(SemlinkError, match="real floating-point"):
        real_to_complex(torch.zeros(2, 4, dtype=torch.complex64))
    with pytest.raises(SemlinkError, match="complex tensor"):
        complex_to_real(torch.zeros(2, 4))
