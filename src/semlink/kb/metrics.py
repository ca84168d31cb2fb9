"""Retrieval scoring: top-k accuracy of knowledge-base answers, with binomial confidence intervals.

>>> import torch
>>> found = torch.tensor([[3, 1, 2], [0, 0, 5], [7, 8, 9]])    # labels of the top-3 items per query
>>> truth = torch.tensor([3, 5, 1])
>>> top_k_accuracy(found, truth, k=1), top_k_accuracy(found, truth, k=3)
(0.3333333333333333, 0.6666666666666666)
"""

from __future__ import annotations

from typing import Any

import torch

from semlink.bridge import describe, to_torch
from semlink.errors import SemlinkError
from semlink.metrics import binomial_ci

__all__ = ["binomial_ci", "top_k_accuracy", "top_k_hits"]


def top_k_hits(result_labels: Any, query_labels: Any, k: int | None = None) -> torch.Tensor:
    """``[Q] bool``: whether each query's label is among the first ``k`` result labels.

    ``result_labels`` is ``[Q, K]`` integer (e.g. :attr:`SearchResult.labels`, ``-1`` for a missing
    result), ``query_labels`` ``[Q]`` integer; ``k`` defaults to ``K`` and must satisfy
    ``1 <= k <= K``. Torch tensors or NumPy arrays.
    """
    found = to_torch(result_labels)
    truth = to_torch(query_labels)
    if found.dim() != 2:
        raise SemlinkError(f"result_labels must be [Q, k]; got {describe(found)}")
    if truth.dim() != 1 or truth.shape[0] != found.shape[0]:
        raise SemlinkError(
            f"query_labels must be [Q] with Q={found.shape[0]} (rows of result_labels); got {describe(truth)}"
        )
    for name, t in (("result_labels", found), ("query_labels", truth)):
        if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            raise SemlinkError(f"{name} must hold integer class labels; got {describe(t)}")
    kk = found.shape[1] if k is None else k
    if isinstance(kk, bool) or not isinstance(kk, int) or not 1 <= kk <= found.shape[1]:
        raise SemlinkError(
            f"k must be an integer in [1, {found.shape[1]}] (columns of result_labels); got {k!r}"
        )
    truth = truth.to(found.device, torch.int64)
    return (found[:, :kk].to(torch.int64) == truth[:, None]).any(dim=1)


def top_k_accuracy(result_labels: Any, query_labels: Any, k: int | None = None) -> float:
    """Fraction of queries whose label is among the first ``k`` result labels (see :func:`top_k_hits`).

    For a confidence interval use ``binomial_ci(int(top_k_hits(...).sum()), Q)``.
    """
    hits = top_k_hits(result_labels, query_labels, k)
    if hits.numel() == 0:
        raise SemlinkError("top_k_accuracy needs at least one query; got Q=0")
    return float(hits.to(torch.float64).mean().item())
