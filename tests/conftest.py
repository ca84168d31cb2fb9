"""Shared fixtures: real features (EfficientNet-Lite0, shipped weights) on Fashion-MNIST."""

from __future__ import annotations

import pytest
import torch

FASHION_ROOT = "/usr/share/datasets/fashion-mnist"


@pytest.fixture(scope="session")
def fashion_features(tmp_path_factory):
    """``dict`` of L2-normalised 1280-d features: 150 train and 100 test images per class."""
    import os

    if not os.path.isdir(FASHION_ROOT):
        pytest.skip("Debian's dataset-fashion-mnist is not installed (scripts/setup.sh installs it)")
    from semlink.data import load_dataset, subset_per_class
    from semlink.tx import create_encoder, extract_features

    cache = tmp_path_factory.mktemp("feature-cache")
    train = load_dataset("fashion-mnist", split="train")
    test = load_dataset("fashion-mnist", split="test")
    train = train.subset(subset_per_class(train.labels, 150, seed=0))
    test = test.subset(subset_per_class(test.labels, 100, seed=None))
    encoder = create_encoder("efficientnet-lite0", image_size=64)
    return {
        "train": extract_features(encoder, train, cache_dir=cache),
        "train_labels": torch.as_tensor(train.labels),
        "test": extract_features(encoder, test, cache_dir=cache),
        "test_labels": torch.as_tensor(test.labels),
        "encoder": encoder.name,
    }
