"""`semlink kb build` / `semlink kb query` through typer's CliRunner."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError
from semlink.kb import KnowledgeBase
from semlink.kb.cli import app

runner = CliRunner()


@pytest.fixture()
def files(tmp_path, items, queries) -> dict[str, Path]:
    feats, labels = items
    q, q_labels = queries
    paths = {"items": tmp_path / "items.safetensors", "queries": tmp_path / "queries.safetensors"}
    save_file(
        {"features": feats, "labels": labels, "ids": torch.arange(1200) + 100},
        str(paths["items"]),
        metadata={"encoder": "toy-enc"},
    )
    save_file({"features": q, "labels": q_labels}, str(paths["queries"]), metadata={"encoder": "toy-enc"})
    return paths


def _build(files: dict[str, Path], out: Path, *extra: str):
    return runner.invoke(app, ["build", "--features", str(files["items"]), "--out", str(out), *extra])


def test_build_then_query(files, tmp_path) -> None:
    out = tmp_path / "kb"
    res = _build(files, out, "--factory", "HNSW32", "--ef-search", "32")
    assert res.exit_code == 0, res.output
    assert "HNSW32" in res.output
    kb = KnowledgeBase.load(out, expect_encoder="toy-enc")  # encoder taken from the file's metadata
    assert kb.search_params == {"ef_search": 32} and kb.ids[0].item() == 100

    before = sorted(p.name for p in tmp_path.iterdir())
    res = runner.invoke(app, ["query", "--kb", str(out), "--features", str(files["queries"]), "--k", "5"])
    assert res.exit_code == 0, res.output
    assert "queries: 200, k: 5" in res.output
    assert "top-1 accuracy: " in res.output and "top-5 accuracy: " in res.output
    assert "95% Wilson CI" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no --out: nothing written


def test_query_out_writes_results(files, tmp_path) -> None:
    out = tmp_path / "kb"
    assert _build(files, out).exit_code == 0
    res_file = tmp_path / "res.safetensors"
    res = runner.invoke(
        app,
        ["query", "--kb", str(out), "--features", str(files["queries"]), "--k", "3", "--out", str(res_file)],
    )
    assert res.exit_code == 0, res.output
    got = load_file(str(res_file))
    assert set(got) == {"distances", "indices", "labels", "ids", "query_labels"}
    assert got["indices"].shape == (200, 3) and torch.equal(got["ids"], got["indices"] + 100)


def test_query_without_labels(files, tmp_path, queries) -> None:
    out = tmp_path / "kb"
    assert _build(files, out).exit_code == 0
    bare = tmp_path / "bare.safetensors"
    save_file({"features": queries[0]}, str(bare))
    res = runner.invoke(app, ["query", "--kb", str(out), "--features", str(bare), "--k", "1"])
    assert res.exit_code == 0, res.output
    assert "no 'labels': accuracy not computed" in res.output


def test_build_refusals(files, tmp_path, items) -> None:
    res = _build(files, tmp_path / "kb", "--factory", "IVFbad")
    assert isinstance(res.exception, SemlinkError) and "bad FAISS factory string 'IVFbad'" in str(
        res.exception
    )
    no_labels = tmp_path / "nolabels.safetensors"
    save_file({"features": items[0]}, str(no_labels))
    res = runner.invoke(app, ["build", "--features", str(no_labels), "--out", str(tmp_path / "kb")])
    assert isinstance(res.exception, SemlinkError) and "no tensor 'labels'" in str(res.exception)
    res = runner.invoke(
        app, ["build", "--features", str(tmp_path / "missing.st"), "--out", str(tmp_path / "kb")]
    )
    assert isinstance(res.exception, MissingResourceError)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    res = runner.invoke(app, ["build", "--features", str(junk), "--out", str(tmp_path / "kb")])
    assert isinstance(res.exception, CorruptFileError)
    assert not (tmp_path / "kb").exists()


def test_query_refuses_other_encoder_and_dimension(files, tmp_path, queries) -> None:
    out = tmp_path / "kb"
    assert _build(files, out).exit_code == 0
    other = tmp_path / "other.safetensors"
    save_file({"features": queries[0]}, str(other), metadata={"encoder": "efficientnet-lite0"})
    res = runner.invoke(app, ["query", "--kb", str(out), "--features", str(other)])
    assert isinstance(res.exception, SemlinkError) and "'toy-enc' but 'efficientnet-lite0'" in str(
        res.exception
    )
    narrow = tmp_path / "narrow.safetensors"
    save_file({"features": queries[0][:, :8].contiguous()}, str(narrow))
    res = runner.invoke(app, ["query", "--kb", str(out), "--features", str(narrow)])
    assert isinstance(res.exception, SemlinkError) and "dimension 32 but 8 was expected" in str(res.exception)
