"""Retrieval scoring: top-k class matching of knowledge-base answers, with binomial confidence intervals.

:func:`top_k_hits` is the one place a hit is decided; :func:`retrieval_metrics` (what a run reports
for decoded features), :func:`nearest_labels` (exact cosine search without FAISS, for training-time
validation) and the ``semlink kb query`` command all go through it.

>>> import torch
>>> found = torch.tensor([[3, 1, 2], [0, 0, 5], [7, 8, 9]])    # labels of the top-3 items per query
>>> truth = torch.tensor([3, 5, 1])
>>> top_k_accuracy(found, truth, k=1), top_k_accuracy(found, truth, k=3)
(0.3333333333333333, 0.6666666666666666)
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from semlink.bridge import describe, to_torch
from semlink.errors import SemlinkError
from semlink.metrics.intervals import binomial_ci

__all__ = ["nearest_labels", "retrieval_metrics", "top_k_accuracy", "top_k_hits"]


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


def nearest_labels(queries: torch.Tensor, items: torch.Tensor, item_labels: torch.Tensor, k: int = 1) -> torch.Tensor:
    """``[Q, k]`` labels of the ``k`` items most cosine-similar to each query (exact, on the queries' device).

    ``queries [Q, D]``, ``items [N, D]`` float; ``item_labels [N]`` integer. Used where a FAISS index
    would be overkill (validation during training); :meth:`semlink.kb.KnowledgeBase.search` ranks
    the same way for L2-normalised features.
    """
    sims = F.normalize(queries.float(), dim=-1) @ F.normalize(items.float(), dim=-1).T
    return item_labels.to(queries.device)[sims.topk(min(k, items.shape[0]), dim=-1).indices]


def retrieval_metrics(
    decoded: torch.Tensor, sent: torch.Tensor, labels: torch.Tensor, kb: Any, top_k: int = 5
) -> tuple[dict[str, float | int], dict[str, torch.Tensor]]:
    """Top-1/top-k semantic matching (95 % Wilson intervals), feature MSE and cosine of decoded features.

    ``decoded``/``sent`` ``[Q, D]`` float, ``labels`` ``[Q]`` int64, ``kb`` a
    :class:`semlink.kb.KnowledgeBase`. ``decoded`` is L2-normalised before the search (the KB holds
    normalised features), so the exact L2 search ranks by cosine similarity. Returns the row's
    metrics and the per-query vectors ``{"top1_hit": [Q] bool, "predicted_label": [Q] int64 (the
    nearest item's label), "feature_cosine": [Q] float32}`` (for paired comparisons between systems).
    """
    decoded = F.normalize(decoded.float(), dim=-1)
    result = kb.search(decoded.contiguous(), k=top_k)
    found = result.labels.to(labels.device)
    top1 = top_k_hits(found, labels, 1)
    topk = top_k_hits(found, labels, min(top_k, found.shape[1]))
    n = int(labels.numel())
    top1_hits, topk_hits = int(top1.sum()), int(topk.sum())
    low, high = binomial_ci(top1_hits, n, confidence=0.95)
    k_low, k_high = binomial_ci(topk_hits, n, confidence=0.95)
    sent = sent.to(decoded.device).float()
    # Per-query values first, averaged in float64 by NumPy: the same numbers whatever torch's
    # thread count (a parallel float32 reduction over the whole batch is not).
    cosine = F.cosine_similarity(decoded, sent, dim=-1).cpu()
    mse = (decoded - sent).square().mean(dim=1).cpu()
    metrics = {
        "top1_accuracy": top1_hits / n,
        "top1_ci_low": float(low),
        "top1_ci_high": float(high),
        f"top{top_k}_accuracy": topk_hits / n,
        f"top{top_k}_ci_low": float(k_low),
        f"top{top_k}_ci_high": float(k_high),
        "n_queries": n,
        "feature_mse": float(mse.numpy().astype("float64").mean()),
        "feature_cosine": float(cosine.numpy().astype("float64").mean()),
    }
    return metrics, {"top1_hit": top1.cpu(), "predicted_label": found[:, 0].cpu(), "feature_cosine": cosine}
