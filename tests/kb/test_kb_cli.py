"""`semlink kb build` / `semlink kb query` through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from semlink.cli.kb import app
from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError
from semlink.kb import KnowledgeBase, LabelSet
from semlink.kb.feature_file import write_feature_file

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
    assert set(got) == {"distances", "indices", "labels", "ids", "query_labels", "predicted"}
    assert got["indices"].shape == (200, 3) and torch.equal(got["ids"], got["indices"] + 100)
    assert got["predicted"].shape == (200,) and got["predicted"].dtype == torch.int64


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


# ------------------------------------------------------------------ label sets and answers
SET_A = LabelSet("set-a", "test", tuple(f"a{i}" for i in range(12)))
SET_B = LabelSet("set-b", "all", tuple(f"b{i}" for i in range(12)))


def _feature_file(path: Path, feats: torch.Tensor, labels: torch.Tensor, label_set: LabelSet) -> Path:
    return write_feature_file(path, feats, labels, torch.arange(len(labels)) + 500, encoder="toy-enc",
                              encoder_weights=None, label_set=label_set)


@pytest.fixture()
def kb_of_set_a(tmp_path, items) -> Path:
    _feature_file(tmp_path / "a.safetensors", *items, SET_A)
    assert _build({"items": tmp_path / "a.safetensors"}, tmp_path / "kb").exit_code == 0
    return tmp_path / "kb"


def test_query_refuses_labels_of_another_label_set(kb_of_set_a, tmp_path, queries) -> None:
    """The issue's case: labels of one dataset scored against a knowledge base of another."""
    other = _feature_file(tmp_path / "b.safetensors", *queries, SET_B)
    res = runner.invoke(app, ["query", "--kb", str(kb_of_set_a), "--features", str(other)])
    assert isinstance(res.exception, SemlinkError)
    message = str(res.exception)
    assert "\n" not in message and "not scored" in message
    assert "set-b (all) with 12 classes [b0, b1, b2, b3, ...]" in message
    assert "set-a (test) with 12 classes [a0, a1, a2, a3, ...]" in message
    assert "accuracy" not in res.output

    same_names = _feature_file(tmp_path / "c.safetensors", *queries, LabelSet("folder", "all", SET_A.class_names))
    res = runner.invoke(app, ["query", "--kb", str(kb_of_set_a), "--features", str(same_names)])
    assert res.exit_code == 0, res.output
    assert "top-1 accuracy" in res.output and "note:" not in res.output


def test_query_without_labels_shows_neighbours_of_any_label_set(kb_of_set_a, tmp_path, queries) -> None:
    unlabelled = tmp_path / "u.safetensors"
    save_file({"features": queries[0][:3].contiguous()}, str(unlabelled), metadata={"encoder": "toy-enc"})
    res = runner.invoke(app, ["query", "--kb", str(kb_of_set_a), "--features", str(unlabelled), "--k", "3",
                              "--show", "2"])
    assert res.exit_code == 0, res.output
    assert "labels: set-a (test) with 12 classes" in res.output
    truth = queries[1][:2].tolist()
    for q in range(2):  # well-separated clusters: every neighbour is of the query's own class
        assert f"query {q}: predicted a{truth[q]} (label {truth[q]}), 3 of 3 neighbours" in res.output
    assert "query 2:" not in res.output  # --show 2
    rows = [line.split() for line in res.output.splitlines() if line.strip()[:1].isdigit()]
    assert len(rows) == 6 and all(row[1] == f"a{row[2]}" for row in rows)  # rank, class, label, distance, id
    assert all(int(row[4]) >= 500 for row in rows)  # the items' ids, not their rows


def test_query_of_unknown_label_set_is_scored_with_a_note(kb_of_set_a, files, tmp_path) -> None:
    """A features file written before label sets were recorded: scored, saying what is not known."""
    res = runner.invoke(app, ["query", "--kb", str(kb_of_set_a), "--features", str(files["queries"])])
    assert res.exit_code == 0, res.output
    assert "cannot confirm that both number their classes alike" in res.output
    assert "top-1 accuracy" in res.output


def test_query_json(kb_of_set_a, tmp_path, queries) -> None:
    same = _feature_file(tmp_path / "q.safetensors", *queries, SET_A)
    res = runner.invoke(app, ["query", "--kb", str(kb_of_set_a), "--features", str(same), "--k", "12", "--json",
                              "--show", "1"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["knowledge_base"]["class_names"] == list(SET_A.class_names) and doc["prediction"] == "majority"
    assert doc["accuracy"]["queries"] == 200 and set(doc["accuracy"]) == {"queries", "top1", "top12", "majority"}
    assert 0.9 < doc["accuracy"]["top1"]["accuracy"] <= 1.0  # 12 well-separated clusters
    (answer,) = doc["queries"]
    assert answer["query"] == "query 0 (id 500)" and answer["true_class"] == f"a{int(queries[1][0])}"
    assert len(answer["neighbours"]) == 12 and answer["neighbours"][0]["class"] == answer["predicted_class"]
    assert any("k=12 is at least the 12 classes" in note for note in doc["notes"])
    res = runner.invoke(app, ["query", "--kb", str(kb_of_set_a), "--features", str(same), "--k", "1", "--json"])
    every = json.loads(res.output)["queries"]  # --json lists every query unless --show says otherwise
    assert len(every) == 200 and all(a["predicted_label"] == a["neighbours"][0]["label"] for a in every)  # k=1


def test_image_query_refusals(files, tmp_path) -> None:
    out = tmp_path / "kb"
    assert _build(files, out).exit_code == 0
    picture = tmp_path / "p.png"
    Image.new("RGB", (8, 8)).save(picture)
    res = runner.invoke(app, ["query", "--kb", str(out), "--image", str(picture)])
    assert isinstance(res.exception, SemlinkError) and "records encoder 'toy-enc', which semlink cannot build" in str(
        res.exception
    )
    for argv, expected in (
        (["--image", str(picture), "--features", str(files["queries"])], "either --features FILE or --image"),
        ([], "either --features FILE or --image"),
        (["--image", str(picture), "--encoder", "toy-enc"], "--encoder applies to --features"),
    ):
        res = runner.invoke(app, ["query", "--kb", str(out), *argv])
        assert isinstance(res.exception, SemlinkError) and expected in str(res.exception), argv
    (tmp_path / "empty").mkdir()
    for missing in (tmp_path / "nothing.png", tmp_path / "empty"):
        res = runner.invoke(app, ["query", "--kb", str(out), "--image", str(missing)])
        assert isinstance(res.exception, MissingResourceError), res.output
