"""The receiver's FAISS knowledge base.

``KnowledgeBase.build(features [N,D], labels [N], ids=None, factory="Flat", encoder=...)`` indexes
item features; ``kb.search(queries [Q,D], k) -> SearchResult`` returns distances, rows, labels and
item ids as torch tensors on the query's device; ``kb.save(dir)`` / ``KnowledgeBase.load(dir,
expect_encoder=..., expect_dim=...)`` persist it with checksums. Retrieval is scored by
:mod:`semlink.metrics` (``top_k_accuracy``, ``binomial_ci``). The CLI commands (``semlink kb
build|query``) are in :mod:`semlink.cli.kb`.

A knowledge base records what its labels mean (:class:`LabelSet`: dataset, split, class names),
so queries labelled from another label set are refused rather than scored.

Modules: ``index`` (build, search, search parameters), ``store`` (the checksummed files),
``labels`` (label sets), ``answers`` (predicted classes and the printed neighbour tables),
``gpu`` (FAISS device placement), ``validation`` (vectors, labels, ids, metric).
"""

from typing import TYPE_CHECKING

from semlink.lazy import lazy_exports

__all__ = ["KnowledgeBase", "LabelSet", "SearchResult"]
# Lazy: `semlink kb --help` needs neither torch nor FAISS.
__getattr__, __dir__ = lazy_exports(
    __name__, {"KnowledgeBase": "index", "SearchResult": "index", "LabelSet": "labels"}
)


if TYPE_CHECKING:  # pragma: no cover
    from semlink.kb.index import KnowledgeBase, SearchResult  # noqa: F401
    from semlink.kb.labels import LabelSet  # noqa: F401
