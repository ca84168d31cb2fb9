"""The bundled-photos dataset: offline loading, sizes, disjoint fixed split."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from semlink.data import available_datasets, load_dataset
from semlink.data.photos import CLASSES
from semlink.errors import SemlinkError
from semlink.imaging import resize_cover


def test_photos_load_offline_with_a_fixed_disjoint_split():
    assert "photos" in available_datasets()
    train = load_dataset("photos", split="train")
    test = load_dataset("photos", split="test")
    assert train.images.shape == (5, 256, 256, 3) and test.images.shape == (4, 256, 256, 3)
    assert train.images.dtype == np.uint8 and train.class_names == test.class_names == list(CLASSES)
    assert [test.class_names[i] for i in test.labels] == ["astronaut", "chelsea", "coffee", "motorcycle"]
    assert [train.class_names[i] for i in train.labels] == [
        "rocket",
        "hubble_deep_field",
        "china",
        "flower",
        "motorcycle",
    ]
    # no photo is on both sides; only the two stereo views share a class
    for query in test.images:
        assert not any(np.array_equal(query, entry) for entry in train.images)
    shared = set(train.labels.tolist()) & set(test.labels.tolist())
    assert [CLASSES[i] for i in shared] == ["motorcycle"]
    # the content is the scaled, centre-cropped photo
    assert np.array_equal(test.images[1], resize_cover(skimage.data.chelsea(), (256, 256)))
    # the same call gives the same bytes (usable as a feature-cache key)
    assert load_dataset("photos", split="test").fingerprint() == test.fingerprint()


def test_photos_size_option_and_bad_options():
    small = load_dataset("photos", split="test", image_size=(48, 64))
    assert small.images.shape == (4, 48, 64, 3)
    with pytest.raises(SemlinkError, match="image_size"):
        load_dataset("photos", image_size=0)
    with pytest.raises(SemlinkError, match="root"):
        load_dataset("photos", root="/tmp")
    with pytest.raises(SemlinkError, match="takes only image_size"):
        load_dataset("photos", colour=True)
    with pytest.raises(SemlinkError, match="split"):
        load_dataset("photos", split="val")
