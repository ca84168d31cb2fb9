"""The folder dataset converts explicitly or refuses: 16-bit, transparency, EXIF orientation, sizes,
unreadable files. Every image is written with Pillow in the format a user would have."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from semlink.data import load_dataset
from semlink.errors import CorruptFileError, SemlinkError
from semlink.imaging import read_image

EXIF_ORIENTATION = 0x0112


def _solid(path, size=(8, 8), color=(10, 20, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    """The issue's case: a 16-bit PNG of mean 32374 loaded near-white (254.1); scaled it is ~126."""
    spread = np.random.default_rng(0).integers(0, 30000, 128)
    values = (32374 + np.concatenate([spread, -spread])).reshape(16, 16).astype(np.uint16)  # mean 32374
    (tmp_path / "a").mkdir()
    Image.fromarray(values).save(tmp_path / "a" / "deep.png")
    assert Image.open(tmp_path / "a" / "deep.png").mode == "I;16"
    ds = load_dataset("folder", root=tmp_path)
    expected = np.round(values.astype(np.float64) * 255 / 65535)
    assert abs(float(ds.images.mean()) - 32374 * 255 / 65535) < 0.6  # ~126, not 254
    assert np.array_equal(ds.images[0, :, :, 0], expected.astype(np.uint8))
    assert np.array_equal(ds.images[0, :, :, 0], ds.images[0, :, :, 2])  # gray in all three channels
    assert len(ds.notes) == 1 and "16-bit, scaled to 8 bits: a/deep.png" in ds.notes[0]


def test_transparency_composited_on_the_stated_background_or_refused(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200  # red...
    rgba[:, :2, 3] = 255  # ...opaque on the left half, fully transparent on the right
    rgba[0, 0, 3] = 128  # and one half-transparent pixel
    (tmp_path / "a").mkdir()
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a" / "cut.png")

    white = load_dataset("folder", root=tmp_path)
    assert tuple(white.images[0, 1, 0]) == (200, 0, 0)  # opaque: unchanged
    assert tuple(white.images[0, 1, 3]) == (255, 255, 255)  # transparent: the background
    half = 128 / 255  # the half-transparent pixel: 200 * a + 255 * (1 - a) for red, 255 * (1 - a) else
    expected = np.array([200 * half + 255 * (1 - half), 255 * (1 - half), 255 * (1 - half)])
    assert np.abs(white.images[0, 0, 0] - expected).max() <= 1
    assert "composited on the background white (255, 255, 255): a/cut.png" in white.notes[0]
    black = load_dataset("folder", root=tmp_path, background="black")
    assert tuple(black.images[0, 1, 3]) == (0, 0, 0)
    grey = load_dataset("folder", root=tmp_path, background=(7, 8, 9))
    assert tuple(grey.images[0, 1, 3]) == (7, 8, 9) and "(7, 8, 9)" in grey.notes[0]
    with pytest.raises(SemlinkError, match=r"cut\.png' has transparent pixels .*alpha='refuse'"):
        load_dataset("folder", root=tmp_path, alpha="refuse")
    with pytest.raises(SemlinkError, match="unknown alpha 'drop'"):
        load_dataset("folder", root=tmp_path, alpha="drop")
    with pytest.raises(SemlinkError, match="background"):
        load_dataset("folder", root=tmp_path, background=(0, 0, 300))


def test_opaque_alpha_and_palette_transparency(tmp_path):
    """A fully opaque alpha channel is no reason to refuse; a palette's transparent index is transparency."""
    opaque = np.full((4, 4, 4), 255, np.uint8)
    opaque[..., :3] = (1, 2, 3)
    (tmp_path / "a").mkdir()
    Image.fromarray(opaque, "RGBA").save(tmp_path / "a" / "opaque.png")
    ds = load_dataset("folder", root=tmp_path, alpha="refuse")
    assert tuple(ds.images[0, 0, 0]) == (1, 2, 3) and ds.notes == ()

    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 9, 90, 200] + [0] * 762)
    palette.putpixel((0, 0), 0)
    palette.info["transparency"] = 0
    palette.save(tmp_path / "a" / "opaque.png")  # the same name, now a palette image with a hole
    got = read_image(tmp_path / "a" / "opaque.png")
    assert got.conversions == ("alpha",)
    assert tuple(got.pixels[0, 0]) == (255, 255, 255) and tuple(got.pixels[1, 1]) == (9, 90, 200)


def test_exif_orientation_is_applied(tmp_path):
    """A phone photo stored sideways (orientation 6: rotate 90 degrees clockwise to view) comes out upright."""
    stored = Image.new("RGB", (40, 20), (255, 255, 255))  # 40 wide, 20 high as stored
    stored.paste((0, 0, 255), (0, 0, 40, 5))  # a blue band along the stored top edge
    exif = stored.getexif()
    exif[EXIF_ORIENTATION] = 6
    (tmp_path / "a").mkdir()
    stored.save(tmp_path / "a" / "phone.jpg", exif=exif, quality=95)
    ds = load_dataset("folder", root=tmp_path)
    assert ds.images.shape == (1, 40, 20, 3)  # upright: 20 wide, 40 high
    right, left = ds.images[0, :, -2:].mean(axis=(0, 1)), ds.images[0, :, :2].mean(axis=(0, 1))
    assert right[2] > 200 and right[0] < 60  # the band is now on the right edge
    assert left.min() > 200  # and the left edge is white
    assert "EXIF orientation: a/phone.jpg" in ds.notes[0]


def test_sizes_must_agree_unless_image_size_resizes(tmp_path):
    """The issue's case: a 1x1 PNG first in the first class folder made the whole dataset 1x1."""
    _solid(tmp_path / "a" / "0_tiny.png", (1, 1))
    for i in range(3):
        _solid(tmp_path / "a" / f"{i + 1}.png", (12, 10))
        _solid(tmp_path / "b" / f"{i}.png", (12, 10))
    with pytest.raises(SemlinkError) as refused:
        load_dataset("folder", root=tmp_path)
    message = str(refused.value)
    assert "10x12 in 6 file(s)" in message and "1x1 in 1 file(s) (a/0_tiny.png)" in message
    assert "image_size=(height, width)" in message
    ds = load_dataset("folder", root=tmp_path, image_size=(5, 7))
    assert ds.images.shape == (7, 5, 7, 3)


@pytest.mark.parametrize("damage", ["corrupt", "zero-byte", "truncated"])
def test_unreadable_files_refused_by_name_or_skipped_and_listed(tmp_path, damage):
    _solid(tmp_path / "a" / "good.png")
    _solid(tmp_path / "b" / "good.png")
    bad = tmp_path / "b" / "bad.png"
    if damage == "corrupt":
        bad.write_bytes(b"\x89PNG not really")
    elif damage == "zero-byte":
        bad.write_bytes(b"")
    else:
        _solid(bad, (64, 64))
        bad.write_bytes(bad.read_bytes()[:60])
    with pytest.raises(CorruptFileError, match=r"bad\.png.*unreadable='skip'"):
        load_dataset("folder", root=tmp_path)
    ds = load_dataset("folder", root=tmp_path, unreadable="skip")
    assert len(ds) == 2 and ds.labels.tolist() == [0, 1]
    assert ds.notes[-1].startswith("skipped 1 unreadable file(s): b/bad.png (")
    assert ds.describe()["notes"] == list(ds.notes)
    assert ds.subset([1]).notes == ds.notes
    with pytest.raises(SemlinkError, match="unknown unreadable 'ignore'"):
        load_dataset("folder", root=tmp_path, unreadable="ignore")


def test_all_unreadable_is_an_error_and_cmyk_is_converted(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"")
    with pytest.raises(CorruptFileError, match="none of the 1 image file"):
        load_dataset("folder", root=tmp_path, unreadable="skip")
    (tmp_path / "a" / "x.png").unlink()
    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(tmp_path / "a" / "x.jpg")
    ds = load_dataset("folder", root=tmp_path)
    red = ds.images[0, 0, 0]
    assert red[0] > 200 and red[1] < 40 and red[2] < 40
    assert "CMYK" in ds.notes[0]


def test_unknown_option_names_the_accepted_ones(tmp_path):
    _solid(tmp_path / "a" / "x.png")
    with pytest.raises(SemlinkError, match="image_size, alpha, background, unreadable"):
        load_dataset("folder", root=tmp_path, resize=True)


def test_read_image_refuses_float_pixels(tmp_path):
    Image.fromarray(np.ones((4, 4), np.float32)).save(tmp_path / "f.tiff")
    with pytest.raises(SemlinkError, match=r"f\.tiff' holds floating-point pixels"):
        read_image(tmp_path / "f.tiff")


def test_decoding_received_files_leaves_the_loaders_strict(tmp_path):
    """The receiver's Pillow decoder accepts truncated files for one call; the dataset loader after it
    still refuses a truncated file (Pillow's switch is process-wide)."""
    from semlink.tx.codecs import _decode_worker

    _solid(tmp_path / "a" / "good.png")
    bad = tmp_path / "a" / "bad.png"
    _solid(bad, (64, 64))
    bad.write_bytes(bad.read_bytes()[:60])
    assert _decode_worker.decode_file(bad.read_bytes(), "PNG", "auto", None, 1 << 20) is not None
    with pytest.raises(CorruptFileError, match=r"bad\.png"):
        load_dataset("folder", root=tmp_path)
