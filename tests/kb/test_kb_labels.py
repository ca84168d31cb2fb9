"""Label sets: what labels mean, kept by features files and knowledge bases, and predicted classes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from semlink.errors import CorruptFileError, SemlinkError
from semlink.kb import KnowledgeBase, LabelSet
from semlink.kb.answers import predict_labels
from semlink.kb.feature_file import read_feature_file, write_feature_file

FASHION = LabelSet("fashion-mnist", "test", ("T-shirt/top", "Trouser", "Pullover"))
FOLDER = LabelSet("folder", "all", ("a", "b", "c"))
NEW_FIELDS = ("dataset", "split", "class_names", "encoder_weights")


def test_label_sets_conflict_by_class_names_else_by_dataset():
    assert FASHION.conflicts(FOLDER) and FOLDER.conflicts(FASHION)
    same_names = LabelSet("folder", "all", FASHION.class_names)  # photos sorted into Fashion-MNIST's classes
    assert not FASHION.conflicts(same_names)
    assert not FASHION.conflicts(LabelSet("fashion-mnist", "train", FASHION.class_names))
    assert LabelSet("cifar10").conflicts(FASHION)  # names unknown on one side: the dataset decides
    assert not LabelSet("fashion-mnist").conflicts(FASHION)
    assert not LabelSet().conflicts(FASHION) and not LabelSet().known  # unknown: no conflict to prove
    with pytest.raises(SemlinkError) as refused:
        FASHION.check_comparable(FOLDER, "knowledge base kb/", "q.safetensors")
    message = str(refused.value)
    assert "\n" not in message
    assert "q.safetensors are folder (all) with 3 classes [a, b, c]" in message
    assert "kb/ are fashion-mnist (test) with 3 classes [T-shirt/top, Trouser, Pullover]" in message


def test_label_set_names_and_checks():
    assert FASHION.class_name(1) == "Trouser" and FASHION.class_name(-1) is None and FASHION.class_name(3) is None
    assert LabelSet("cifar10").class_name(0) is None
    assert str(LabelSet("cifar10")) == "cifar10, class names unknown"
    FASHION.check_labels(np.array([0, 2]), "labels")
    with pytest.raises(SemlinkError, match=r"labels lie in \[0, 3\] but there are 3 class names"):
        FASHION.check_labels(np.array([0, 3]), "labels")
    with pytest.raises(SemlinkError, match="class_names must be a sequence of strings"):
        LabelSet("x", None, "abc")
    assert LabelSet.from_metadata(FASHION.to_metadata(), "f") == FASHION
    assert LabelSet.from_json(FASHION.to_json(), "f") == FASHION
    assert LabelSet.from_metadata({}, "f") == LabelSet()
    with pytest.raises(CorruptFileError, match="'class_names' is not a JSON list"):
        LabelSet.from_metadata({"class_names": "[a,"}, "f")


def test_feature_file_round_trip_and_old_files(tmp_path):
    feats = torch.nn.functional.normalize(torch.randn(6, 4), dim=1)
    labels, ids = torch.tensor([0, 1, 2, 0, 1, 2]), torch.arange(6) + 10
    path = write_feature_file(tmp_path / "f.safetensors", feats, labels, ids, encoder="enc+8px",
                              encoder_weights="ab" * 32, label_set=FASHION)
    got = read_feature_file(path, need_labels=True)
    assert got.label_set == FASHION and got.encoder == "enc+8px" and got.encoder_weights == "ab" * 32
    assert torch.equal(got.labels, labels) and torch.equal(got.ids, ids) and torch.equal(got.features, feats)

    from safetensors.torch import save_file

    save_file({"features": feats, "labels": labels}, str(tmp_path / "old.safetensors"))  # no metadata
    old = read_feature_file(tmp_path / "old.safetensors", need_labels=True)
    assert old.label_set == LabelSet() and old.encoder is None and old.encoder_weights is None and old.ids is None
    save_file({"features": feats, "labels": labels + 1}, str(tmp_path / "bad.safetensors"),
              metadata=FASHION.to_metadata())
    with pytest.raises(SemlinkError, match=r"bad.safetensors lie in \[1, 3\] but there are 3 class names"):
        read_feature_file(tmp_path / "bad.safetensors", need_labels=True)


def test_knowledge_base_keeps_its_label_set(tmp_path):
    feats = torch.nn.functional.normalize(torch.randn(9, 8, generator=torch.Generator().manual_seed(0)), dim=1)
    labels = torch.arange(9) % 3
    kb = KnowledgeBase.build(feats, labels, encoder="toy", label_set=FASHION, encoder_weights="cd" * 32)
    kb.save(tmp_path / "kb")
    meta = json.loads((tmp_path / "kb" / "kb.json").read_text())
    assert meta["dataset"] == "fashion-mnist" and meta["split"] == "test"
    assert meta["class_names"] == list(FASHION.class_names) and meta["encoder_weights"] == "cd" * 32
    back = KnowledgeBase.load(tmp_path / "kb")
    assert back.label_set == FASHION and back.encoder_weights == "cd" * 32
    with pytest.raises(SemlinkError, match=r"labels lie in \[1, 3\] but there are 3 class names"):
        KnowledgeBase.build(feats, labels + 1, encoder="toy", label_set=FASHION)

    meta["class_names"] = ["only", "two"]  # kb.json edited: labels 2 has no name
    (tmp_path / "kb" / "kb.json").write_text(json.dumps(meta))
    with pytest.raises(CorruptFileError, match=r"labels.npy lie in \[0, 2\] but there are 2 class names"):
        KnowledgeBase.load(tmp_path / "kb")
    meta["class_names"] = "a,b,c"
    (tmp_path / "kb" / "kb.json").write_text(json.dumps(meta))
    with pytest.raises(CorruptFileError, match="class_names must be a sequence of strings"):
        KnowledgeBase.load(tmp_path / "kb")


def test_old_knowledge_base_without_label_set_still_loads(tmp_path):
    """A kb.json written before label sets were recorded: loads, with the label set unknown."""
    feats = torch.nn.functional.normalize(torch.randn(9, 8, generator=torch.Generator().manual_seed(1)), dim=1)
    KnowledgeBase.build(feats, torch.arange(9) % 3, encoder="toy", label_set=FASHION).save(tmp_path / "kb")
    meta = json.loads((tmp_path / "kb" / "kb.json").read_text())
    for key in NEW_FIELDS:
        del meta[key]
    (tmp_path / "kb" / "kb.json").write_text(json.dumps(meta))
    old = KnowledgeBase.load(tmp_path / "kb")
    assert old.label_set == LabelSet() and old.encoder_weights is None
    assert torch.equal(old.search(feats[:2], k=1).indices[:, 0], torch.tensor([0, 1]))


def test_predicted_labels_majority_and_nearest():
    found = torch.tensor([[2, 1, 1, 2, 0], [1, 0, 0, 0, 1], [4, -1, -1, -1, -1], [-1, -1, -1, -1, -1]])
    majority, votes = predict_labels(found, "majority")
    assert majority.tolist() == [2, 0, 4, -1] and votes.tolist() == [2, 3, 1, 0]  # row 0: a tie, 2 is nearer
    nearest, votes = predict_labels(found, "nearest")
    assert nearest.tolist() == [2, 1, 4, -1] and votes.tolist() == [2, 2, 1, 0]
    with pytest.raises(SemlinkError, match="unknown prediction rule 'vote'"):
        predict_labels(found, "vote")
