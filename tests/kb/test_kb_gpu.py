"""Where the index lives: device names, and GPU requests on a machine without faiss-gpu."""

from __future__ import annotations

import pytest

from semlink.bridge import import_faiss
from semlink.errors import MissingResourceError, SemlinkError
from semlink.kb import KnowledgeBase
from semlink.kb.gpu import faiss_gpu_count, index_device


def test_index_device_names() -> None:
    faiss = import_faiss()
    assert index_device(faiss, "cpu") == "cpu"
    with pytest.raises(SemlinkError, match=r"unknown device 'cuda:1'; accepted: cpu, cuda, auto"):
        index_device(faiss, "cuda:1")


def test_gpu_requests_without_faiss_gpu(items) -> None:
    import faiss

    if faiss_gpu_count(faiss) > 0:  # pragma: no cover
        pytest.skip("faiss-gpu with a GPU is present")
    feats, labels = items
    with pytest.raises(MissingResourceError, match=r"device='cuda' needs faiss-gpu"):
        KnowledgeBase.build(feats[:20], labels[:20], device="cuda")
    assert KnowledgeBase.build(feats[:20], labels[:20], device="auto").device == "cpu"
