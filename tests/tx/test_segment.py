"""Segmentation (``semlink.tx.segment`` and its backends in ``semlink.tx.segmenters``): U2-Net-p on
real photos, FCN-ResNet50 loading, masks → boxes → crops, box bits."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError
from semlink.tx.segment import (
    BOX_BITS,
    Segmentation,
    available_segmenters,
    center_box,
    create_segmenter,
    decode_box,
    encode_box,
)
from semlink.tx.segmenters import main_class_mask, u2netp_model_path

pytestmark = pytest.mark.usefixtures("single_thread")

# The cat in skimage.data.chelsea() (300 x 451), measured by eye on the image: the ears are cut by the
# top edge, chin and chest by the bottom edge; the left ear/cheek/chest reach x ~ 25 and the right
# ear tip x ~ 400; the rest on the right is blurred background.
CHELSEA_CAT_BOX = (0, 25, 300, 400)


def _iou(a, b) -> float:
    top, left = max(a[0], b[0]), max(a[1], b[1])
    bottom, right = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, bottom - top) * max(0, right - left)
    area = lambda x: (x[2] - x[0]) * (x[3] - x[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


@pytest.fixture(scope="module")
def u2netp():
    return create_segmenter("u2netp", num_threads=1)


def test_u2netp_model_is_found_without_importing_rembg():
    import sys

    path = u2netp_model_path()
    assert path.name == "u2netp.onnx" and path.parent.name == "rembg" and path.stat().st_size > 1_000_000
    assert "rembg" not in sys.modules


def test_chelsea_box_covers_the_cat(u2netp):
    image = skimage.data.chelsea()
    seg = u2netp.segment(image)
    assert seg.found
    assert seg.mask.shape == image.shape[:2] and seg.mask.dtype == bool
    assert all(abs(a - b) <= 25 for a, b in zip(seg.box, CHELSEA_CAT_BOX)), seg.box
    assert _iou(seg.box, CHELSEA_CAT_BOX) >= 0.85
    top, left, bottom, right = seg.box
    assert np.array_equal(seg.crop, image[top:bottom, left:right])
    assert 0.4 < seg.area_fraction < 0.9  # the cat fills much of the frame, not all of it


def test_a_cat_filling_the_frame_is_boxed_by_its_salient_parts(u2netp):
    """Centre-cropped to 256 x 256 the cat fills the frame and U2-Net marks its two eyes (and a
    little of the nose); the box spans both eyes instead of one eye's blob."""
    from semlink.imaging import resize_cover

    seg = u2netp.segment(resize_cover(skimage.data.chelsea(), (256, 256)))
    top, left, bottom, right = seg.box
    assert seg.found and left < 70 and right > 200  # eyes near x ~ 80 and ~ 210
    assert 40 < top < 130 and bottom > 120


def test_u2netp_finds_the_rocket_in_a_tall_narrow_box(u2netp):
    seg = u2netp.segment(skimage.data.rocket())  # 427 x 640, the rocket stands near x ~ 320
    top, left, bottom, right = seg.box
    assert seg.found and (bottom - top) > 4 * (right - left)
    assert 280 < (left + right) / 2 < 360


def test_u2netp_at_a_smaller_input_size_runs_and_grayscale_is_accepted():
    small = create_segmenter("u2netp", input_size=160, num_threads=1)
    assert small.input_size == 160 and "160px" in small.name
    seg = small.segment(skimage.data.camera())  # grayscale [H, W]
    assert seg.mask.shape == (512, 512) and seg.crop.ndim == 3 and seg.crop.shape[-1] == 3
    with pytest.raises(SemlinkError, match="multiple of 32"):
        create_segmenter("u2netp", input_size=100)


def test_empty_mask_gives_the_centre_region():
    image = np.arange(40 * 60 * 3, dtype=np.uint8).reshape(40, 60, 3)
    seg = Segmentation.from_mask(image, np.zeros((40, 60), bool))
    assert not seg.found and seg.box == center_box((40, 60)) == (10, 15, 30, 45)
    assert not seg.mask.any() and np.array_equal(seg.crop, image[10:30, 15:45])


def test_component_and_bbox_modes():
    image = np.zeros((50, 50, 3), np.uint8)
    mask = np.zeros((50, 50), bool)
    mask[5:25, 5:25] = True  # 400 px
    mask[40:45, 40:48] = True  # 40 px, separate: under a quarter of the largest, dropped
    assert Segmentation.from_mask(image, mask).box == (5, 5, 25, 25)
    assert Segmentation.from_mask(image, mask, mode="bbox").box == (5, 5, 45, 48)
    assert Segmentation.from_mask(image, mask, component_fraction=0.1).box == (5, 5, 45, 48)
    mask[28:38, 28:38] = True  # 100 px = a quarter of the largest: kept with it
    seg = Segmentation.from_mask(image, mask)
    assert seg.box == (5, 5, 38, 38) and seg.mask.sum() == 500
    assert Segmentation.from_mask(image, mask, component_fraction=1.0).box == (5, 5, 25, 25)
    grown = Segmentation.from_mask(image, mask, margin=0.25, component_fraction=1.0)
    assert grown.box == (0, 0, 30, 30)  # 5 px per side, clipped at the border
    with pytest.raises(SemlinkError, match="box mode"):
        Segmentation.from_mask(image, mask, mode="circle")


def test_main_class_mask_picks_the_largest_non_background_class():
    classes = np.zeros((10, 10), np.int64)
    classes[:6, :6] = 15  # person, 36 px
    classes[7:, :] = 8  # cat, 30 px
    assert main_class_mask(classes).sum() == 36
    assert not main_class_mask(np.zeros((4, 4), np.int64)).any()


def test_box_bits_round_trip_and_survive_errors():
    bits = encode_box((10, 20, 200, 300))
    assert bits.shape == (BOX_BITS,) == (64,)
    assert decode_box(bits, (256, 512)) == (10, 20, 200, 300)
    assert decode_box(bits, (100, 100)) == (10, 20, 100, 100)  # clipped to the image
    swapped = encode_box((200, 300, 10, 20))
    assert decode_box(swapped, (256, 512)) == (10, 20, 200, 300)
    assert decode_box(encode_box((300, 300, 400, 400)), (256, 256)) is None  # outside the image
    rng = np.random.default_rng(0)
    for _ in range(100):
        noisy = bits.numpy().copy()
        flips = rng.random(64) < 0.2
        noisy[flips] = 1 - noisy[flips]
        out = decode_box(noisy, (256, 512))
        assert out is None or (0 <= out[0] < out[2] <= 256 and 0 <= out[1] < out[3] <= 512)


def test_fcn_backend_loads_a_state_dict_and_segments(tiny_fcn_file):
    seg = create_segmenter(f"fcn:{tiny_fcn_file}", input_size=64, device="cpu")
    assert seg.name.startswith("fcn:")
    image = skimage.data.astronaut()[::4, ::4]  # 128 x 128
    classes = seg.class_map(image)
    assert (
        classes.shape == (128, 128)
        and classes.dtype == np.int64
        and classes.min() >= 0
        and classes.max() < 21
    )
    out = seg.segment(image)
    assert out.mask.shape == (128, 128) and out.crop.dtype == np.uint8
    top, left, bottom, right = out.box
    assert 0 <= top < bottom <= 128 and 0 <= left < right <= 128
    assert out.crop.shape == (bottom - top, right - left, 3)


def test_fcn_refuses_a_file_that_is_not_fcn(tmp_path):
    import torch

    bad = tmp_path / "other.pth"
    torch.save({"layer.weight": torch.zeros(2, 2)}, bad)
    with pytest.raises(CorruptFileError, match="FCN-ResNet50"):
        create_segmenter(f"fcn:{bad}")


def test_missing_model_files_fail_fast_with_one_line(tmp_path):
    for spec, needle in [
        (f"fcn:{tmp_path / 'nope.pth'}", "FCN-ResNet50 state dict"),
        (f"u2netp:{tmp_path / 'nope.onnx'}", ".onnx"),
    ]:
        with pytest.raises(MissingResourceError) as info:
            create_segmenter(spec)
        message = str(info.value)
        assert str(tmp_path) in message and needle in message and "\n" not in message


def test_registry_names_its_backends():
    assert available_segmenters() == ["fcn:<weights file>", "u2netp[:<file.onnx>]"]
    with pytest.raises(SemlinkError, match="u2netp"):
        create_segmenter("deeplab")
    with pytest.raises(SemlinkError, match="needs its model"):
        create_segmenter("fcn")
    with pytest.raises(SemlinkError, match="takes no option"):
        create_segmenter("u2netp", colour="red")
