"""Rate matching (fit_to_budget), the fallback image and the encode cache."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from semlink.errors import SemlinkError
from semlink.tx.codecs import EncodeCache, create_codec, fit_to_budget, mean_image
from semlink.tx.codecs.cache import image_digest


@pytest.fixture(scope="module", params=["bpg", "jpeg2000", "webp"])
def codec(request):
    if request.param == "bpg" and (shutil.which("x265") is None or shutil.which("ffmpeg") is None):
        pytest.skip("Debian's x265 and ffmpeg are not installed")
    return create_codec(request.param)


def _all_sizes(codec, images, cache):
    """``[N, Q]`` payload bits at every quality (brute force)."""
    return np.array([[e.payload_bits for e in cache.encode(codec, images, q)] for q in codec.qualities]).T


def test_fit_never_exceeds_and_matches_brute_force(codec, gray28, rgb32):
    for images in (gray28[:6], rgb32[:6]):
        cache = EncodeCache()
        sizes = _all_sizes(codec, images, cache)
        rng = np.random.default_rng(5)
        budgets = rng.integers(sizes.min() - 50, sizes.max() + 50, size=len(images))
        budgets[0] = sizes[0].min() - 1  # nothing fits the first image
        exhaustive = fit_to_budget(codec, images, budgets, cache=cache, search="exhaustive")
        binary = fit_to_budget(codec, images, budgets, cache=cache)
        for i, (ex, bi) in enumerate(zip(exhaustive, binary)):
            fitting = np.flatnonzero(sizes[i] <= budgets[i])
            brute = codec.qualities[fitting[-1]] if fitting.size else None
            assert ex.quality == brute and ex.budget_bits == budgets[i]
            assert bi.payload_bits <= budgets[i] and ex.payload_bits <= budgets[i]
            if bi.fits:  # binary search ends on a boundary: this quality fits, the next does not
                q = codec.qualities.index(bi.quality)
                assert sizes[i, q] == bi.payload_bits
                assert q + 1 == len(codec.qualities) or sizes[i, q + 1] > budgets[i]
            monotone = bool(np.all(np.diff(sizes[i]) >= 0))
            if monotone:
                assert bi.quality == brute
        assert not binary[0].fits and binary[0].encoded is None and binary[0].payload_bits == 0


def test_one_budget_for_all_and_generous_budgets_give_the_best_quality(gray28):
    codec = create_codec("jpeg")
    fitted = fit_to_budget(codec, gray28[:4], 10**6)
    assert [f.quality for f in fitted] == [100] * 4
    assert [f.budget_bits for f in fitted] == [10**6] * 4
    assert all(not f.fits for f in fit_to_budget(codec, gray28[:4], 0))


def test_bad_budgets_and_searches_are_refused(gray28):
    codec = create_codec("jpeg")
    with pytest.raises(SemlinkError, match="one budget or one per image"):
        fit_to_budget(codec, gray28[:3], [100, 200])
    with pytest.raises(SemlinkError, match=">= 0"):
        fit_to_budget(codec, gray28[:2], -8)
    with pytest.raises(SemlinkError, match="whole numbers of bits"):
        fit_to_budget(codec, gray28[:2], 10.5)
    with pytest.raises(SemlinkError, match="unknown search 'linear'; accepted: binary, exhaustive"):
        fit_to_budget(codec, gray28[:2], 100, search="linear")


def test_mean_image_is_the_rounded_pixel_mean(gray28, rgb32):
    assert np.array_equal(mean_image(gray28), np.rint(gray28.mean(0)).astype(np.uint8))
    assert mean_image(rgb32).shape == (32, 32, 3) and mean_image(rgb32).dtype == np.uint8
    assert np.array_equal(mean_image(list(gray28[:2])), np.rint(gray28[:2].mean(0)).astype(np.uint8))
    with pytest.raises(SemlinkError, match="one shape"):
        mean_image([gray28[0], rgb32[0]])


def test_cache_encodes_each_image_once_per_quality_and_persists(tmp_path, gray28):
    codec = create_codec("jpeg")
    cache = EncodeCache(tmp_path / "encodes")
    first = cache.encode(codec, gray28, 40)
    before = codec.stats.encoded_images
    again = cache.encode(codec, np.concatenate([gray28, gray28[:3]]), 40)
    assert codec.stats.encoded_images == before and cache.hits == len(gray28) + 3
    assert [e.payload for e in again[: len(gray28)]] == [e.payload for e in first]
    # a new process (a new cache on the same folder) reads them back without encoding
    fresh_codec = create_codec("jpeg")
    reread = EncodeCache(tmp_path / "encodes").encode(fresh_codec, gray28, 40)
    assert fresh_codec.stats.encoded_images == 0
    assert reread == first
    # other options are another codec: encoded anew
    other = create_codec("jpeg", subsampling="4:4:4", optimize=False)
    EncodeCache(tmp_path / "encodes").encode(other, gray28[:2], 40)
    assert other.stats.encoded_images == 2
    assert len(list((tmp_path / "encodes").glob("*/q40.bin"))) == 2


def test_corrupt_cache_shard_is_ignored_with_a_warning_and_rebuilt(tmp_path, gray28):
    codec = create_codec("jpeg")
    EncodeCache(tmp_path).encode(codec, gray28[:3], 60)
    (shard,) = tmp_path.glob("*/q60.bin")
    data = bytearray(shard.read_bytes())
    data[20] ^= 0xFF
    shard.write_bytes(bytes(data))
    fresh = create_codec("jpeg")
    with pytest.warns(RuntimeWarning, match="corrupt encode cache"):
        EncodeCache(tmp_path).encode(fresh, gray28[:3], 60)
    assert fresh.stats.encoded_images == 3
    again = create_codec("jpeg")
    EncodeCache(tmp_path).encode(again, gray28[:3], 60)  # rebuilt: read back cleanly
    assert again.stats.encoded_images == 0


def test_image_digest_depends_on_content_and_shape(gray28):
    assert image_digest(gray28[0]) == image_digest(gray28[0].copy())
    assert image_digest(gray28[0]) != image_digest(gray28[1])
    assert image_digest(gray28[0]) != image_digest(gray28[0].reshape(14, 56))
