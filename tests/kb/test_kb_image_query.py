"""`semlink kb query --image` end to end with the real offline encoder (EfficientNet-Lite0, shipped
weights) on a handful of tiny images: features of a folder → knowledge base → image queries."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from semlink.cli import app
from semlink.errors import SemlinkError

runner = CliRunner()
CLASSES = ("blue", "disc", "stripes")  # labels 0, 1, 2
FASHION_ROOT = "/usr/share/datasets/fashion-mnist"


def _picture(kind: str, size: tuple[int, int], seed: int) -> Image.Image:
    """A blue field, a white disc on black or horizontal stripes, with seeded pixel noise; ``size = (h, w)``.

    Measured with EfficientNet-Lite0 at 32 px (the knowledge base's encoder): each query below is
    within squared-L2 distance 0.25 of every item of its class and 1.6 or more from any other item,
    so the answers do not hang on rounding.
    """
    rng = np.random.default_rng(seed)
    h, w = size
    y, x = np.mgrid[0:h, 0:w]
    if kind == "blue":
        base = np.broadcast_to(np.array([30.0, 40.0, 220.0]), (h, w, 3))
    elif kind == "disc":
        base = np.repeat(((((y - h / 2) ** 2 + (x - w / 2) ** 2) < (min(h, w) / 3) ** 2) * 255.0)[..., None], 3, -1)
    else:
        base = np.repeat(((y * 8 // h) % 2 * 255.0)[..., None], 3, -1)
    return Image.fromarray(np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8))


def _invoke(*argv: str):
    res = runner.invoke(app, list(argv))
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    assert res.exit_code == 0, res.output
    return res.output


@pytest.fixture(scope="module")
def shapes_kb(tmp_path_factory) -> dict[str, Path]:
    """A knowledge base of three classes (3 images each) by `semlink features` + `kb build`, and
    query images of other sizes and formats than the items."""
    root = tmp_path_factory.mktemp("shapes")
    for c, name in enumerate(CLASSES):
        (root / "items" / name).mkdir(parents=True)
        for i in range(3):
            _picture(name, (32, 32), seed=10 * c + i).save(root / "items" / name / f"{i}.png")
    (root / "more").mkdir()
    _picture("disc", (48, 40), seed=100).save(root / "disc.png")
    blue = np.asarray(_picture("blue", (36, 36), seed=107).convert("RGBA")).copy()
    blue[:2, :, 3] = 0  # a transparent strip: composited on white
    Image.fromarray(blue, "RGBA").save(root / "blue.png")
    _picture("stripes", (32, 32), seed=114).save(root / "more" / "stripes.jpg", quality=95)
    (root / "items" / "blue" / "3.png").write_bytes(b"")  # damaged: left out with unreadable=skip
    printed = _invoke("features", "--dataset", "folder", "--root", str(root / "items"), "--image-size", "32",
                      "--data-option", "unreadable=skip", "--out", str(root / "items.safetensors"))
    _invoke("kb", "build", "--features", str(root / "items.safetensors"), "--out", str(root / "kb"))
    return {"root": root, "kb": root / "kb", "features": root / "items.safetensors", "printed": printed}


def test_features_of_a_folder_say_what_was_left_out(shapes_kb, tmp_path) -> None:
    assert "note: skipped 1 unreadable file(s): blue/3.png (" in shapes_kb["printed"]
    assert "(9, 1280) features by efficientnet-lite0@imagenet+32px; labels: folder (all) with 3 classes" in (
        shapes_kb["printed"]
    )
    with pytest.raises(SemlinkError, match="'unreadable' is not KEY=VALUE"):
        _invoke("features", "--dataset", "folder", "--root", str(shapes_kb["root"] / "items"),
                "--data-option", "unreadable", "--out", str(tmp_path / "f.safetensors"))
    with pytest.raises(SemlinkError, match=r"blue/3\.png.*unreadable='skip'"):  # the default refuses it
        _invoke("features", "--dataset", "folder", "--root", str(shapes_kb["root"] / "items"),
                "--out", str(tmp_path / "f.safetensors"))


def test_image_query_prints_neighbours_class_names(shapes_kb) -> None:
    root = shapes_kb["root"]
    printed = _invoke("kb", "query", "--kb", str(shapes_kb["kb"]), "--image", str(root / "disc.png"),
                      "--image", str(root / "blue.png"), "--image", str(root / "more"), "--k", "3")
    assert "encoder 'efficientnet-lite0@imagenet+32px'" in printed
    assert "labels: folder (all) with 3 classes [blue, disc, stripes]" in printed
    assert "queries: 3, k: 3" in printed
    assert f"note: {root / 'blue.png'}: with transparent pixels, composited on the background white" in printed
    blocks = {block.split(":")[0]: block for block in printed.split("\n\n")[1:]}
    for name, label, path in (("disc", 1, root / "disc.png"), ("blue", 0, root / "blue.png"),
                              ("stripes", 2, root / "more" / "stripes.jpg")):
        block = blocks[str(path)]
        assert f"{path}: predicted {name} (label {label}), 3 of 3 neighbours" in block
        rows = [line.split() for line in block.splitlines()[2:]]  # rank, class, label, distance, id
        assert [row[:3] for row in rows] == [[str(r), name, str(label)] for r in (1, 2, 3)]
        distances = [float(row[3]) for row in rows]
        assert distances == sorted(distances) and sorted(int(row[4]) for row in rows) == [3 * label + i for i in range(3)]
    assert "accuracy" not in printed  # images carry no labels

    doc = json.loads(_invoke("kb", "query", "--kb", str(shapes_kb["kb"]), "--image", str(root / "disc.png"),
                             "--k", "1", "--predict", "nearest", "--json"))
    (answer,) = doc["queries"]
    assert answer["predicted_class"] == "disc" and answer["neighbours"][0]["class"] == "disc"
    assert doc["accuracy"] is None and doc["knowledge_base"]["dataset"] == "folder"


def test_old_knowledge_base_answers_images_with_label_numbers(shapes_kb, tmp_path) -> None:
    """A kb.json written before label sets and weights were recorded still answers image queries."""
    old = tmp_path / "old-kb"
    old.mkdir()
    for f in shapes_kb["kb"].iterdir():
        (old / f.name).write_bytes(f.read_bytes())
    meta = json.loads((old / "kb.json").read_text())
    for key in ("dataset", "split", "class_names", "encoder_weights"):
        del meta[key]
    (old / "kb.json").write_text(json.dumps(meta))
    printed = _invoke("kb", "query", "--kb", str(old), "--image", str(shapes_kb["root"] / "disc.png"), "--k", "2")
    assert "labels: unknown dataset and class names" in printed
    assert "records no class names" in printed
    assert "predicted label 1 (class name unknown), 2 of 2 neighbours" in printed


def test_image_query_refuses_an_encoder_it_cannot_rebuild_exactly(shapes_kb, tmp_path) -> None:
    edited = tmp_path / "kb"
    edited.mkdir()
    for f in shapes_kb["kb"].iterdir():
        (edited / f.name).write_bytes(f.read_bytes())
    meta = json.loads((edited / "kb.json").read_text())
    picture = str(shapes_kb["root"] / "disc.png")
    for change, expected in (
        ({"encoder_weights": "0" * 64}, "weights of encoder 'efficientnet-lite0@imagenet+32px' changed"),
        ({"encoder": "efficientnet-lite0"}, "leaves its weights or input size open"),
    ):
        (edited / "kb.json").write_text(json.dumps({**meta, **change}))
        with pytest.raises(SemlinkError, match=re.escape(expected)):
            _invoke("kb", "query", "--kb", str(edited), "--image", picture)


@pytest.mark.skipif(not os.path.isdir(FASHION_ROOT), reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_labels_are_not_scored_against_a_folder_kb(shapes_kb, tmp_path) -> None:
    """The issue's case, with real files: folder class 0 ("blue") is not Fashion-MNIST class 0 ("T-shirt/top")."""
    fashion = tmp_path / "fashion.safetensors"
    _invoke("features", "--dataset", "fashion-mnist", "--split", "test", "--per-class", "1", "--image-size", "32",
            "--out", str(fashion))
    with pytest.raises(SemlinkError) as refused:
        _invoke("kb", "query", "--kb", str(shapes_kb["kb"]), "--features", str(fashion))
    assert "fashion-mnist (test) with 10 classes [T-shirt/top, Trouser, Pullover, Dress, ...]" in str(refused.value)
    assert "folder (all) with 3 classes [blue, disc, stripes]" in str(refused.value)
