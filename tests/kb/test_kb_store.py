"""The knowledge base on disk: round trips, metadata, and every kind of damaged or missing file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError
from semlink.kb import KnowledgeBase


def test_round_trip_gives_identical_results(built, queries, tmp_path, factory, assert_same) -> None:
    kb = built[factory]
    kb.save(tmp_path / "kb")
    assert sorted(p.name for p in (tmp_path / "kb").iterdir()) == [
        "ids.npy",
        "index.faiss",
        "kb.json",
        "labels.npy",
    ]
    loaded = KnowledgeBase.load(tmp_path / "kb", expect_encoder="toy-enc", expect_dim=32)
    assert (loaded.factory, loaded.metric, loaded.encoder, loaded.ntotal, loaded.search_params) == (
        kb.factory,
        kb.metric,
        kb.encoder,
        kb.ntotal,
        kb.search_params,
    )
    q, _ = queries
    assert_same(loaded.search(q, k=5), kb.search(q, k=5))


def test_metadata_contents(built, tmp_path) -> None:
    built["IVF16,PQ8x4"].save(tmp_path)
    meta = json.loads((tmp_path / "kb.json").read_text())
    assert meta["format"] == "semlink-kb" and meta["format_version"] == 1
    assert (meta["dim"], meta["metric"], meta["factory"], meta["encoder"], meta["ntotal"]) == (
        32,
        "l2",
        "IVF16,PQ8x4",
        "toy-enc",
        1200,
    )
    assert set(meta["files"]) == {"index", "labels", "ids"}
    assert all(len(entry["sha256"]) == 64 for entry in meta["files"].values())
    labels = np.load(tmp_path / "labels.npy", allow_pickle=False)
    assert labels.dtype == np.int64 and labels.shape == (1200,)


@pytest.fixture()
def saved(built, tmp_path) -> Path:
    return built["Flat"].save(tmp_path / "kb")


def test_flipped_bytes_in_index_refused(saved) -> None:
    path = saved / "index.faiss"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match=r"index\.faiss fails its checksum"):
        KnowledgeBase.load(saved)


def test_truncated_index_refused(saved) -> None:
    path = saved / "index.faiss"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CorruptFileError, match=r"index\.faiss has 1000 bytes .* truncated"):
        KnowledgeBase.load(saved)


def test_edited_checksum_refused(saved) -> None:
    meta = json.loads((saved / "kb.json").read_text())
    meta["files"]["labels"]["sha256"] = "0" * 64
    (saved / "kb.json").write_text(json.dumps(meta))
    with pytest.raises(
        CorruptFileError,
        match=r"labels\.npy fails its checksum: sha256 [0-9a-f]{64} but .*kb\.json records 0{64}",
    ):
        KnowledgeBase.load(saved)


def test_relabelled_labels_file_refused(saved) -> None:
    np.save(saved / "labels.npy", np.zeros(1200, dtype=np.int64))  # same size, different content
    with pytest.raises(CorruptFileError, match="labels.npy fails its checksum"):
        KnowledgeBase.load(saved)


def _rewrite_with_valid_checksum(saved: Path, name: str, data: bytes) -> None:
    import hashlib

    (saved / name).write_bytes(data)
    meta = json.loads((saved / "kb.json").read_text())
    role = {"index.faiss": "index", "labels.npy": "labels", "ids.npy": "ids"}[name]
    meta["files"][role].update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    (saved / "kb.json").write_text(json.dumps(meta))


def test_garbage_index_with_matching_checksum_refused(saved) -> None:
    _rewrite_with_valid_checksum(saved, "index.faiss", b"not a faiss index at all")
    with pytest.raises(CorruptFileError, match=r"index\.faiss is not a readable FAISS index"):
        KnowledgeBase.load(saved)


def test_pickled_labels_refused(saved, tmp_path) -> None:
    tmp = tmp_path / "obj.npy"
    np.save(tmp, np.array([object()] * 1200), allow_pickle=True)
    _rewrite_with_valid_checksum(saved, "labels.npy", tmp.read_bytes())
    with pytest.raises(CorruptFileError, match=r"labels\.npy is not a readable \.npy array"):
        KnowledgeBase.load(saved)


def test_invalid_metadata_refused(saved) -> None:
    (saved / "kb.json").write_text("{ not json")
    with pytest.raises(CorruptFileError, match=r"kb\.json is not valid JSON"):
        KnowledgeBase.load(saved)
    (saved / "kb.json").write_text(json.dumps({"format": "semlink-kb", "format_version": 1}))
    with pytest.raises(CorruptFileError, match=r"field 'dim' is missing"):
        KnowledgeBase.load(saved)
    (saved / "kb.json").write_text(json.dumps({"format": "semlink-kb", "format_version": 99}))
    with pytest.raises(SemlinkError, match="format_version 99; this semlink reads version 1"):
        KnowledgeBase.load(saved)


def test_missing_files_refused(saved, tmp_path) -> None:
    with pytest.raises(MissingResourceError, match="does not exist"):
        KnowledgeBase.load(tmp_path / "nowhere")
    (saved / "ids.npy").unlink()
    with pytest.raises(MissingResourceError, match=r"ids\.npy not found \(listed in .*kb\.json\)"):
        KnowledgeBase.load(saved)
    (saved / "kb.json").unlink()
    with pytest.raises(MissingResourceError, match=r"kb\.json not found"):
        KnowledgeBase.load(saved)


def test_encoder_and_dimension_mismatch_refused(saved) -> None:
    with pytest.raises(
        SemlinkError, match=r"built with encoder 'toy-enc' but 'clip:ViT-B-32@openai' was expected"
    ):
        KnowledgeBase.load(saved, expect_encoder="clip:ViT-B-32@openai")
    with pytest.raises(SemlinkError, match="has dimension 32 but 512 was expected"):
        KnowledgeBase.load(saved, expect_dim=512)


def test_save_leaves_no_temporary_files(built, tmp_path) -> None:
    built["HNSW32"].save(tmp_path)
    built["HNSW32"].save(tmp_path)  # overwrite in place
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    KnowledgeBase.load(tmp_path)
