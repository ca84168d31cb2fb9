from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from semlink.kb import KnowledgeBase, SearchResult

FACTORIES = ["Flat", "IVF16,PQ8x4", "HNSW32", "IVF16,SQ8"]


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


@pytest.fixture(scope="session")
def built(items) -> dict[str, KnowledgeBase]:
    """One knowledge base per factory of :data:`FACTORIES` over ``items``, encoder ``"toy-enc"``."""
    feats, labels = items
    return {f: KnowledgeBase.build(feats, labels, factory=f, encoder="toy-enc") for f in FACTORIES}


@pytest.fixture(params=FACTORIES)
def factory(request) -> str:
    """Each factory of :data:`FACTORIES` in turn."""
    return request.param


@pytest.fixture(scope="session")
def assert_same() -> Callable[[SearchResult, SearchResult], None]:
    """``assert_same(a, b)``: two search results are equal, field by field."""

    def _assert_same(a: SearchResult, b: SearchResult) -> None:
        for name in ("distances", "indices", "labels", "ids"):
            assert torch.equal(getattr(a, name), getattr(b, name)), name

    return _assert_same
