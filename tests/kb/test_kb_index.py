"""KnowledgeBase: building every index type, searching it, search parameters and refusals."""

from __future__ import annotations

import doctest

import pytest
import torch

import semlink.kb.index
from semlink.errors import SemlinkError
from semlink.kb import KnowledgeBase
from semlink.metrics import top_k_accuracy


# ----------------------------------------------------------------------------- build & search
def test_build_and_search(built, items, queries, factory) -> None:
    kb = built[factory]
    feats, labels = items
    q, q_labels = queries
    assert (kb.ntotal, kb.dim, kb.factory, kb.encoder, kb.metric) == (1200, 32, factory, "toy-enc", "l2")
    res = kb.search(q, k=5)
    assert res.distances.shape == res.indices.shape == res.labels.shape == res.ids.shape == (200, 5)
    assert (res.distances.dtype, res.indices.dtype, res.labels.dtype, res.ids.dtype) == (
        torch.float32,
        torch.int64,
        torch.int64,
        torch.int64,
    )
    assert torch.equal(res.labels, labels[res.indices])
    assert torch.all(res.distances[:, 1:] >= res.distances[:, :-1] - 1e-5)  # best first
    assert top_k_accuracy(res.labels, q_labels, k=1) >= 0.95  # well separated classes
    exact = built["Flat"].search(q, k=1)
    recall = (res.indices[:, 0] == exact.indices[:, 0]).float().mean().item()
    # PQ8x4 keeps 4 bytes of 128: class accuracy stays, exact neighbours mostly do not
    assert recall >= {"Flat": 1.0, "HNSW32": 0.99, "IVF16,SQ8": 0.8, "IVF16,PQ8x4": 0.1}[factory]


def test_flat_finds_each_item_itself(built, items) -> None:
    feats, labels = items
    res = built["Flat"].search(feats[:50], k=1)
    assert res.indices[:, 0].tolist() == list(range(50))
    assert torch.allclose(res.distances[:, 0], torch.zeros(50), atol=1e-5)


def test_default_search_params(built) -> None:
    assert built["Flat"].search_params == {}
    assert built["IVF16,PQ8x4"].search_params == {"nprobe": 8}
    assert built["HNSW32"].search_params == {"ef_search": 64}


def test_ivf_with_all_lists_probed_is_exact(items, queries, built, assert_same) -> None:
    feats, labels = items
    kb = KnowledgeBase.build(feats, labels, factory="IVF16,Flat", nprobe=16, seed=3)
    q, _ = queries
    assert_same(kb.search(q, k=3), built["Flat"].search(q, k=3))


def test_seeded_training_is_reproducible(items, queries, assert_same) -> None:
    feats, labels = items
    a = KnowledgeBase.build(feats, labels, factory="IVF16,PQ8x4", seed=5)
    b = KnowledgeBase.build(feats, labels, factory="IVF16,PQ8x4", seed=5)
    assert_same(a.search(queries[0], k=4), b.search(queries[0], k=4))


def test_separate_train_set_and_search_params(items, queries) -> None:
    feats, labels = items
    train, _ = queries
    kb = KnowledgeBase.build(feats, labels, factory="IVF8,Flat", train_features=train, nprobe=2)
    assert kb.search_params == {"nprobe": 2}
    kb.set_search_params(nprobe=8)
    assert kb.search_params == {"nprobe": 8}
    hnsw = KnowledgeBase.build(feats, labels, factory="HNSW16", ef_search=200)
    assert hnsw.search_params == {"ef_search": 200}


def test_numpy_queries_and_custom_ids(items) -> None:
    feats, labels = items
    ids = torch.arange(1200) * 10 + 7
    kb = KnowledgeBase.build(feats.numpy(), labels.numpy(), ids=ids.numpy())
    res = kb.search(feats[:4].numpy(), k=2)
    assert isinstance(res.indices, torch.Tensor) and res.indices.device.type == "cpu"
    assert res.ids[:, 0].tolist() == [7, 17, 27, 37]
    assert torch.equal(kb.ids, ids) and torch.equal(kb.labels, labels)


def test_torch_queries_reach_faiss_without_copy(built, queries) -> None:
    kb = built["Flat"]
    seen: list[int] = []
    original = kb.index.search_ex

    def spy(n, x_ptr, *rest):
        seen.append(int(x_ptr))
        return original(n, x_ptr, *rest)

    kb.index.search_ex = spy
    try:
        q = queries[0]
        kb.search(q, k=1)
    finally:
        del kb.index.search_ex
    assert seen == [q.data_ptr()]


def test_missing_results_get_label_minus_one(items) -> None:
    feats, labels = items
    kb = KnowledgeBase.build(feats, labels, factory="IVF16,Flat", nprobe=1)
    res = kb.search(feats[:3], k=1200)  # one list holds far fewer than 1200 items
    missing = res.indices == -1
    assert missing.any()
    assert torch.all(res.labels[missing] == -1) and torch.all(res.ids[missing] == -1)
    assert torch.all(res.labels[~missing] >= 0)


def test_inner_product_metric(items, queries, built) -> None:
    feats, labels = items
    kb = KnowledgeBase.build(feats, labels, metric="ip")
    q, _ = queries
    res = kb.search(q, k=1)
    assert torch.equal(res.indices, built["Flat"].search(q, k=1).indices)  # normalised: same ranking
    assert torch.all(res.distances <= 1.0 + 1e-5)


def test_empty_query_batch(built) -> None:
    res = built["Flat"].search(torch.empty(0, 32), k=3)
    assert res.indices.shape == (0, 3)


# ----------------------------------------------------------------------------- refusals
def test_bad_factory_string(items) -> None:
    feats, labels = items
    with pytest.raises(SemlinkError, match=r"bad FAISS factory string 'Fat'.*could not parse.*examples"):
        KnowledgeBase.build(feats, labels, factory="Fat")
    with pytest.raises(SemlinkError, match=r"'IVF16,PQ7'.*multiple of the number of subquantizers"):
        KnowledgeBase.build(feats, labels, factory="IVF16,PQ7")


def test_too_few_training_points_names_the_minimum(items) -> None:
    feats, labels = items
    with pytest.raises(SemlinkError, match=r"at least 256 training vectors .*256 PQ centroids.*got 200"):
        KnowledgeBase.build(feats[:200], labels[:200], factory="IVF16,PQ8")
    with pytest.raises(SemlinkError, match=r"at least 64 training vectors \(64 IVF lists\); got 10"):
        KnowledgeBase.build(feats, labels, factory="IVF64,Flat", train_features=feats[:10])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"labels": torch.arange(5)}, r"labels must be \[N\] with N=1200"),
        ({"labels": torch.zeros(1200)}, r"labels must be integers"),
        ({"ids": torch.arange(3)}, r"ids must be \[N\] with N=1200"),
        ({"metric": "cosine"}, r"unknown metric 'cosine'; accepted: l2, ip"),
        ({"device": "tpu"}, r"unknown device 'tpu'"),
        ({"encoder": ""}, r"encoder must be a non-empty name"),
    ],
)
def test_build_refusals(items, kwargs, match) -> None:
    feats, labels = items
    args = {"features": feats, "labels": labels, **kwargs}
    with pytest.raises(SemlinkError, match=match):
        KnowledgeBase.build(**args)


def test_non_finite_and_bad_dtype_features(items) -> None:
    feats, labels = items
    bad = feats.clone()
    bad[3, 4] = float("nan")
    with pytest.raises(SemlinkError, match="NaN or infinite"):
        KnowledgeBase.build(bad, labels)
    with pytest.raises(SemlinkError, match=r"float32.*dtype=float64"):
        KnowledgeBase.build(feats.double(), labels)
    with pytest.raises(SemlinkError, match=r"2-D \[n, d\]"):
        KnowledgeBase.build(feats[None], labels)


def test_search_refusals(built, queries) -> None:
    kb = built["Flat"]
    q, _ = queries
    with pytest.raises(SemlinkError, match="dimension 16 but the knowledge base has dimension 32"):
        kb.search(q[:, :16].contiguous(), k=1)
    with pytest.raises(SemlinkError, match=r"k must be an integer in \[1, 1200\]"):
        kb.search(q, k=5000)
    with pytest.raises(SemlinkError, match=r"float32.*dtype=float64"):
        kb.search(q.double(), k=1)
    with pytest.raises(SemlinkError, match="C-contiguous"):
        kb.search(q.t().contiguous().t(), k=1)
    inf = q.clone()
    inf[0, 0] = float("inf")
    with pytest.raises(SemlinkError, match="NaN or infinite"):
        kb.search(inf, k=1)


def test_search_param_refusals(built) -> None:
    with pytest.raises(SemlinkError, match="ef_search applies to HNSW indexes only"):
        built["Flat"].set_search_params(ef_search=10)
    with pytest.raises(SemlinkError, match="nprobe applies to IVF indexes only"):
        built["HNSW32"].set_search_params(nprobe=4)
    with pytest.raises(SemlinkError, match="nprobe must be a positive integer"):
        built["IVF16,SQ8"].set_search_params(nprobe=0)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(semlink.kb.index)
    assert result.failed == 0 and result.attempted > 0
