"""The ``bpg`` codec (HEVC intra through x265 and ffmpeg): round trips, payload accounting, side information."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from semlink.errors import MissingResourceError, SemlinkError
from semlink.tx.codecs import create_codec, qp_to_quality, quality_to_qp
from semlink.tx.codecs.bitstream import write_ue7
from semlink.tx.codecs.bpg_format import read_header


@pytest.fixture(scope="module")
def bpg():
    if shutil.which("x265") is None or shutil.which("ffmpeg") is None:
        pytest.skip("Debian's x265 and ffmpeg are not installed (scripts/setup.sh installs them)")
    return create_codec("bpg")


def test_quality_and_qp_map_both_ways(bpg):
    assert bpg.qualities == tuple(range(52))
    assert [quality_to_qp(q) for q in (0, 21, 51)] == [51, 30, 0]
    assert all(qp_to_quality(quality_to_qp(q)) == q for q in bpg.qualities)
    assert bpg.quality_to_qp(bpg.qp_to_quality(37)) == 37
    with pytest.raises(SemlinkError, match="QP must be an integer 0..51"):
        bpg.qp_to_quality(52)
    with pytest.raises(SemlinkError, match=r"accepted: integers 0\.\.51"):
        bpg.quality_to_qp(-1)


@pytest.mark.parametrize("chroma_format", ["420", "444"])
def test_round_trip_psnr_rises_with_quality_and_size_follows(bpg, gray28, rgb32, psnr, chroma_format):
    codec = bpg if chroma_format == "420" else create_codec("bpg", chroma_format="444")
    for images in (gray28, rgb32):
        results = []
        for quality in (11, 21, 31, 41, 51):
            encoded = codec.encode(images, quality)
            decoded = codec.decode([e.payload for e in encoded])
            assert all(d is not None and d.shape == images.shape[1:] and d.dtype == np.uint8 for d in decoded)
            assert all(e.quality == quality and e.encode_seconds > 0 for e in encoded)
            results.append((psnr(images, np.stack(decoded)), sum(len(e.payload) for e in encoded)))
        qualities, sizes = zip(*results)
        assert all(a < b for a, b in zip(qualities, qualities[1:])), results
        assert all(a < b for a, b in zip(sizes, sizes[1:])), results
        assert qualities[2] > 30  # QP 20: a good picture
    assert codec.stats.decode_seconds_per_image > 0


def test_header_is_the_documented_bpg_style_header(bpg, gray28, rgb32):
    for images, fmt in ((gray28, "400"), (rgb32, "420")):
        for encoded in bpg.encode(images, 30):
            header, pos = read_header(encoded.payload)
            height, width = images.shape[1:3]
            assert (header.pixel_format, header.width, header.height) == (fmt, width, height)
            assert encoded.payload[0] >> 4 == 0xB
            assert pos == encoded.header_bytes == 1 + 1 + 1 + len(write_ue7(header.data_length))
            assert encoded.header_bytes in (4, 5)
            assert header.data_length == len(encoded.payload) - encoded.header_bytes
    big = bpg.encode(np.zeros((1, 512, 512), np.uint8) + 77, 40)[0]
    assert big.header_bytes == 1 + 2 + 2 + 1  # 512 needs two ue7 bytes; a flat picture is short


def test_count_parameter_sets_adds_exactly_the_parameter_set_bytes(bpg, gray28, rgb32):
    counting = create_codec("bpg", count_parameter_sets=True)
    for images in (gray28, rgb32):
        plain = bpg.encode(images, 25)
        counted = counting.encode(images, 25)
        assert all(p.side_info_bytes > 40 and c.side_info_bytes == 0 for p, c in zip(plain, counted))
        for p, c in zip(plain, counted):
            assert len(c.payload) == len(p.payload) + p.side_info_bytes
            assert c.header_bytes == p.header_bytes + p.side_info_bytes
            assert c.payload[: p.header_bytes] == p.payload[: p.header_bytes]
            assert c.payload[c.header_bytes :] == p.payload[p.header_bytes :]
        # the parameter sets depend on size and format only, not on the QP or the content
        blocks = {c.payload[p.header_bytes : c.header_bytes] for p, c in zip(plain, counted)}
        blocks |= {e.payload[e.header_bytes - plain[0].side_info_bytes : e.header_bytes]
                   for e in counting.encode(images, 5)}
        assert len(blocks) == 1
        decoded_plain = bpg.decode([p.payload for p in plain])
        decoded_counted = counting.decode([c.payload for c in counted])
        assert all(np.array_equal(a, b) for a, b in zip(decoded_plain, decoded_counted))


def test_batch_encode_is_bit_exact_with_single_encodes(bpg, gray28):
    qualities = [5, 51, 20, 0, 33, 33, 12, 40, 27, 18, 49, 2]
    batch = bpg.encode(gray28, qualities)
    singles = [bpg.encode(gray28[i : i + 1], q)[0] for i, q in enumerate(qualities)]
    assert [b.payload for b in batch] == [s.payload for s in singles]
    assert [b.quality for b in batch] == qualities


def test_trailing_padding_is_ignored_and_odd_sizes_work(bpg, psnr):
    rng = np.random.default_rng(3)
    smooth = np.cumsum(np.cumsum(rng.normal(0, 3, (4, 17, 33)), 1), 2)
    gray = np.clip(smooth - smooth.min() + 20, 0, 255).astype(np.uint8)
    colour = np.stack([gray[:, :5, :7]] * 3, -1)
    tiny = np.full((2, 1, 1, 3), (200, 30, 90), np.uint8)
    for images in (gray, colour, tiny):
        encoded = bpg.encode(images, 45)
        padded = bpg.decode([e.payload + bytes(37) for e in encoded])
        plain = bpg.decode([e.payload for e in encoded])
        assert all(a.shape == images.shape[1:] and np.array_equal(a, b) for a, b in zip(padded, plain))
        assert psnr(images, np.stack(plain)) > 35


def test_a_512x512_photo_round_trips(bpg, psnr):
    from skimage import data

    photo = data.astronaut()
    (encoded,) = bpg.encode(photo[None], 25)  # QP 26
    (decoded,) = bpg.decode([encoded.payload], expected_shape=photo.shape)
    assert decoded.shape == (512, 512, 3)
    assert psnr(photo, decoded) > 33
    assert 10_000 < len(encoded.payload) < 60_000
    assert encoded.header_bytes in (7, 8)


def test_bad_options_and_inputs_name_what_is_accepted(bpg):
    with pytest.raises(SemlinkError, match="unknown chroma_format '422'; accepted: 420, 444"):
        create_codec("bpg", chroma_format="422")
    with pytest.raises(SemlinkError, match="unknown x265 preset 'turbo'; accepted: ultrafast"):
        create_codec("bpg", preset="turbo")
    with pytest.raises(SemlinkError, match="unknown option 'qp' for codec 'bpg'; accepted: chroma_format"):
        create_codec("bpg", qp=30)
    with pytest.raises(SemlinkError, match="count_parameter_sets must be True or False"):
        create_codec("bpg", count_parameter_sets="yes")
    with pytest.raises(SemlinkError, match="quality 52 is not on its scale"):
        bpg.encode(np.zeros((1, 8, 8), np.uint8), 52)
    with pytest.raises(SemlinkError, match="uint8"):
        bpg.encode(np.zeros((1, 8, 8), np.float32), 30)
    with pytest.raises(SemlinkError, match=r"\[N,H,W\] \(grayscale\) or \[N,H,W,3\]"):
        bpg.encode(np.zeros((1, 8, 8, 4), np.uint8), 30)
    with pytest.raises(SemlinkError, match="2 qualities for 1 images"):
        bpg.encode(np.zeros((1, 8, 8), np.uint8), [30, 31])


def test_missing_x265_or_ffmpeg_says_what_to_install(monkeypatch, tmp_path):
    x265 = shutil.which("x265")
    monkeypatch.setenv("PATH", "")
    with pytest.raises(MissingResourceError, match="'x265' was not found on PATH.*Debian's x265 and ffmpeg"):
        create_codec("bpg")
    only_x265 = tmp_path / "bin"
    only_x265.mkdir()
    if x265 is None:
        pytest.skip("x265 is not installed")
    os.symlink(x265, only_x265 / "x265")
    monkeypatch.setenv("PATH", str(only_x265))
    with pytest.raises(MissingResourceError, match="'ffmpeg' was not found"):
        create_codec("bpg")


def test_an_ffmpeg_that_cannot_decode_is_reported_not_silent(monkeypatch, tmp_path, gray28):
    x265 = shutil.which("x265")
    if x265 is None:
        pytest.skip("x265 is not installed")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(x265, bin_dir / "x265")
    broken = bin_dir / "ffmpeg"
    broken.write_text("#!/bin/sh\necho 'Unrecognized option' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    codec = create_codec("bpg")
    with pytest.raises(SemlinkError, match="cannot decode x265's 32x32 400 stream"):
        codec.encode(gray28[:2], 30)
