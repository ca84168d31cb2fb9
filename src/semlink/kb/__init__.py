"""The receiver's FAISS knowledge base.

``KnowledgeBase.build(features [N,D], labels [N], ids=None, factory="Flat", encoder=...)`` indexes
item features; ``kb.search(queries [Q,D], k) -> SearchResult`` returns distances, rows, labels and
item ids as torch tensors on the query's device; ``kb.save(dir)`` / ``KnowledgeBase.load(dir,
expect_encoder=..., expect_dim=...)`` persist it with checksums. ``top_k_accuracy`` and
``binomial_ci`` score retrieval. The CLI commands (``semlink kb build|query``) are in
:mod:`semlink.kb.cli`.
"""

from semlink.kb._base import KnowledgeBase, SearchResult
from semlink.kb.metrics import binomial_ci, top_k_accuracy, top_k_hits

__all__ = ["KnowledgeBase", "SearchResult", "binomial_ci", "top_k_accuracy", "top_k_hits"]
