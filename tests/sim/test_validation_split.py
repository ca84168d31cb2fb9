"""Choose on validation, report on test: the validation images are neither test images nor images any
codec learns from (KBSC's training split, the image schemes' training pool)."""

from __future__ import annotations

import numpy as np

from semlink.config import validate
from semlink.data import kbsc_split, load_dataset, subset_per_class
from semlink.sim.experiment_config import ExperimentConfig
from semlink.sim.resources import _training_pool


def _rows(images: np.ndarray) -> set[bytes]:
    return {np.ascontiguousarray(image).tobytes() for image in images}


def test_validation_images_are_disjoint_from_the_queries_and_from_every_training_set():
    cfg = validate(ExperimentConfig, {
        "name": "split", "budgets": [64], "data": {"dataset": "fashion-mnist", "train_per_class": 30,
                                                   "test_per_class": 20},
        "systems": [{"type": "linear-analog"}], "eval": {"snr_db": [0.0]},
    })
    train_set = load_dataset("fashion-mnist", split="train")
    train_set = train_set.subset(subset_per_class(train_set.labels, 30, seed=cfg.seed))
    test_set = load_dataset("fashion-mnist", split="test")
    test_set = test_set.subset(subset_per_class(test_set.labels, 20, seed=None))
    split = kbsc_split(train_set.labels, test_set.labels, seed=cfg.seed, train_fraction=cfg.data.train_fraction)

    validation = _rows(train_set.images[np.concatenate([split.val_sender, split.val_receiver])])
    queries = _rows(test_set.images[split.test_sender])
    assert validation and not validation & queries  # what selection sees is not what is reported
    assert not validation & _rows(train_set.images[split.train])  # KBSC never trains on it
    pool = _training_pool(cfg, train_set, split)  # deep JSCC's and the linear code's training images
    assert len(pool) > 50_000 and not validation & _rows(pool)
