"""Feature extraction and its safetensors cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semlink.data import ImageDataset
from semlink.errors import SemlinkError
from semlink.tx import ImageEncoder, create_encoder, extract_features, feature_cache_path


class CountingEncoder(ImageEncoder):
    """A cheap deterministic encoder that counts the images it sees."""

    def __init__(self, name: str = "counting", dim: int = 8, seed: int = 0) -> None:
        self.name = name
        self.dim = dim
        self.device = torch.device("cpu")
        self.batch_size = 4
        self.calls = 0
        self.images_seen = 0
        self._proj = torch.randn(3, dim, generator=torch.Generator().manual_seed(seed))

    @property
    def weights_id(self) -> str:
        return f"proj-{self.name}"

    def _encode_batch(self, images: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.images_seen += images.shape[0]
        pooled = images.float().mean(dim=(1, 2))  # [b, 3]
        return pooled @ self._proj + 1.0


def _dataset(n: int = 10, seed: int = 0, name: str = "toy") -> ImageDataset:
    rng = np.random.default_rng(seed)
    return ImageDataset(
        images=rng.integers(0, 256, size=(n, 6, 6, 3), dtype=np.uint8),
        labels=np.arange(n) % 2,
        class_names=["a", "b"],
        name=name,
        split="test",
    )


def test_extract_features_without_cache():
    enc, ds = CountingEncoder(), _dataset()
    feats = extract_features(enc, ds, batch_size=3, progress=False)
    assert feats.shape == (10, 8) and feats.dtype == torch.float32 and feats.device.type == "cpu"
    torch.testing.assert_close(feats, enc.encode(ds.images))
    torch.testing.assert_close(feats.norm(dim=-1), torch.ones(10))
    with pytest.raises(SemlinkError):
        extract_features(enc, ds, batch_size=0)
    with pytest.raises(SemlinkError):
        extract_features(enc, ds.images)


def test_second_call_hits_the_cache(tmp_path):
    enc, ds = CountingEncoder(), _dataset()
    first = extract_features(enc, ds, cache_dir=tmp_path, progress=False)
    assert enc.images_seen == 10
    path = feature_cache_path(tmp_path, enc, ds)
    assert path.is_file() and not list(tmp_path.glob(".*.tmp"))
    second = extract_features(enc, ds, cache_dir=tmp_path, progress=False)
    assert enc.images_seen == 10, "cache hit must not run the encoder"
    torch.testing.assert_close(second, first, rtol=0, atol=0)

    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata()
    assert meta["encoder"] == "counting" and meta["weights_id"] == "proj-counting"
    assert meta["dataset_fingerprint"] == ds.fingerprint()


def test_cache_key_changes_with_encoder_and_dataset(tmp_path):
    ds = _dataset()
    enc_a, enc_b = CountingEncoder("enc-a"), CountingEncoder("enc-b", seed=1)
    extract_features(enc_a, ds, cache_dir=tmp_path, progress=False)
    extract_features(enc_b, ds, cache_dir=tmp_path, progress=False)
    assert enc_b.images_seen == 10  # another encoder: computed, not read from enc-a's cache

    sub = ds.subset([0, 2, 4])
    assert sub.fingerprint() != ds.fingerprint()
    feats_sub = extract_features(enc_a, sub, cache_dir=tmp_path, progress=False)
    assert enc_a.images_seen == 13 and feats_sub.shape == (3, 8)

    changed = _dataset(seed=5)  # same name/split/size, other pixels
    assert changed.fingerprint() != ds.fingerprint()
    extract_features(enc_a, changed, cache_dir=tmp_path, progress=False)
    assert enc_a.images_seen == 23
    assert len(list(tmp_path.glob("*.safetensors"))) == 4


def test_corrupted_cache_is_recomputed(tmp_path):
    enc, ds = CountingEncoder(), _dataset()
    first = extract_features(enc, ds, cache_dir=tmp_path, progress=False)
    path = feature_cache_path(tmp_path, enc, ds)
    path.write_bytes(b"not a safetensors file")
    with pytest.warns(RuntimeWarning, match="unreadable feature cache"):
        again = extract_features(enc, ds, cache_dir=tmp_path, progress=False)
    assert enc.images_seen == 20
    torch.testing.assert_close(again, first)
    extract_features(enc, ds, cache_dir=tmp_path, progress=False)  # rewritten: a hit again
    assert enc.images_seen == 20


def test_real_encoder_features_cached(tmp_path):
    enc = create_encoder("efficientnet-lite0", image_size=32, device="cpu")
    ds = _dataset(n=6)
    feats = extract_features(enc, ds, cache_dir=tmp_path, batch_size=4, progress=False)
    assert feats.shape == (6, 1280)
    torch.testing.assert_close(feats, enc.encode(ds.images), atol=1e-5, rtol=1e-4)
    other = create_encoder("efficientnet-lite0", image_size=40, device="cpu")
    assert feature_cache_path(tmp_path, other, ds) != feature_cache_path(tmp_path, enc, ds)
    torch.testing.assert_close(extract_features(enc, ds, cache_dir=tmp_path), feats, rtol=0, atol=0)
