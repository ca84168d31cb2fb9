"""The per-dimension APP demapper equals Sionna's Demapper("app") on square QAM."""

from __future__ import annotations

import pytest
import torch
from sionna.phy.mapping import Constellation, Demapper

from semlink.phy.demapping import SeparableQamDemapper, make_demapper


@pytest.mark.parametrize("bits_per_symbol", [2, 4, 6, 8])
def test_equals_sionna_app_demapper(bits_per_symbol: int) -> None:
    gen = torch.Generator().manual_seed(bits_per_symbol)
    constellation = Constellation("qam", bits_per_symbol)
    points = constellation()
    x = points[torch.randint(0, 2**bits_per_symbol, (40, 300), generator=gen)]
    no = torch.rand(40, 300, generator=gen) * 0.5 + 1e-3  # per-symbol noise, as after equalisation
    noise = torch.complex(torch.randn(40, 300, generator=gen), torch.randn(40, 300, generator=gen))
    y = x + torch.sqrt(no / 2) * noise
    demapper = SeparableQamDemapper(constellation)
    ours = demapper(y, no)  # the numba kernel (CPU)
    theirs = Demapper("app", constellation=constellation)(y, no)
    assert ours.shape == theirs.shape == (40, 300 * bits_per_symbol) and ours.dtype == torch.float32
    assert torch.allclose(ours, theirs, rtol=1e-5, atol=1e-4)
    assert torch.allclose(demapper._call_torch(y, no), theirs, rtol=1e-5, atol=1e-4)  # the GPU path's ops
    scalar = SeparableQamDemapper(constellation)(y, torch.tensor(0.1))  # a broadcast noise variance
    assert torch.allclose(scalar, Demapper("app", constellation=constellation)(y, torch.tensor(0.1)), rtol=1e-5, atol=1e-4)


def test_non_separable_constellations_fall_back_to_sionna() -> None:
    assert isinstance(make_demapper(Constellation("qam", 4)), SeparableQamDemapper)
    assert type(make_demapper(Constellation("pam", 2))) is Demapper  # real-only: not a square QAM
    rotated = Constellation("custom", 2, points=Constellation("qam", 2)() * torch.exp(torch.tensor(0.3j)))
    assert type(make_demapper(rotated)) is Demapper
    with pytest.raises(ValueError, match="separable"):
        SeparableQamDemapper(rotated)
