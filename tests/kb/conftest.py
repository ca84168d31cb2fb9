from __future__ import annotations

import pytest
import torch


def clustered(
    n: int, dim: int, classes: int, seed: int, spread: float = 0.35
) -> tuple[torch.Tensor, torch.Tensor]:
    """L2-normalised Gaussian clusters, one per class: ``features [n, dim] float32``, ``labels [n] int64``."""
    g = torch.Generator().manual_seed(1000)  # the same class centres for every seed
    centres = torch.nn.functional.normalize(torch.randn(classes, dim, generator=g), dim=1)
    g.manual_seed(seed)
    labels = torch.arange(n) % classes
    x = centres[labels] + spread * torch.randn(n, dim, generator=g) / dim**0.5
    return torch.nn.functional.normalize(x, dim=1).contiguous(), labels


@pytest.fixture(scope="session")
def items() -> tuple[torch.Tensor, torch.Tensor]:
    return clustered(1200, 32, 12, seed=1)


@pytest.fixture(scope="session")
def queries() -> tuple[torch.Tensor, torch.Tensor]:
    return clustered(200, 32, 12, seed=2)
