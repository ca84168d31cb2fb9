"""MemoisedEncoder: one feature per distinct image, the same whatever the memo held before."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semlink.errors import SemlinkError
from semlink.tx import create_encoder
from semlink.tx.encoders.memo import MemoisedEncoder


@pytest.fixture(scope="module")
def encoder():
    return create_encoder("efficientnet-lite0", image_size=32)


def _images(n, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)


def test_a_sample_depends_on_the_batch_size_only_not_on_its_neighbours(encoder):
    # The property the memo rests on: at one batch size, a sample's feature is bitwise the same
    # whatever else is in the batch and wherever it sits.
    images = _images(8, 0)
    alone = encoder.encode(images)
    others = np.concatenate([images[[5, 1]], _images(6, 1)])
    mixed = encoder.encode(others)
    assert torch.equal(mixed[0], alone[5]) and torch.equal(mixed[1], alone[1])


def test_features_do_not_depend_on_what_was_encoded_before(encoder):
    images = _images(11, 2)
    fresh = MemoisedEncoder(encoder, batch=4).encode(images)
    warmed = MemoisedEncoder(encoder, batch=4)
    warmed.encode(images[[9, 3, 3, 0]])
    warmed.encode(_images(5, 3))
    assert torch.equal(warmed.encode(images[::-1].copy()), fresh.flip(0))
    # ...and they are the encoder's own features, computed at the memo's batch size.
    assert torch.allclose(fresh, encoder.encode(images), atol=1e-5)


def test_repeated_images_are_encoded_once(encoder):
    memo = MemoisedEncoder(encoder, batch=4)
    fallback = np.full((28, 28), 128, dtype=np.uint8)
    received = np.stack([fallback] * 6 + list(_images(2, 4)))
    out = memo.encode(received)
    assert memo.encoded == 3 and memo.reused == 5
    assert torch.equal(out[0], out[5])
    memo.encode(received)
    assert memo.encoded == 3 and memo.reused == 13


def test_a_full_memo_starts_afresh_with_the_same_values(encoder):
    images = _images(6, 5)
    small = MemoisedEncoder(encoder, batch=2, max_items=3)
    first = small.encode(images[:3])
    small.encode(images[3:])
    assert torch.equal(small.encode(images[:3]), first)


def test_bad_settings_are_refused(encoder):
    with pytest.raises(SemlinkError, match="batch"):
        MemoisedEncoder(encoder, batch=0)
    with pytest.raises(SemlinkError, match="max_items"):
        MemoisedEncoder(encoder, max_items=0)
