"""Reconstruction: kb-compose (TF-IDF retrieval + crop pasting) and Stable Diffusion + IP-Adapter loading."""

from __future__ import annotations

import numpy as np
import pytest

from semlink.data import load_dataset
from semlink.errors import MissingResourceError, SemlinkError
from semlink.imaging import resize
from semlink.rx.reconstruct import (
    CaptionLibrary,
    KbComposeReconstructor,
    available_reconstructors,
    create_reconstructor,
    fuse_texts,
)

pytestmark = pytest.mark.usefixtures("single_thread")


def _solid(colour, size=(32, 48)) -> np.ndarray:
    return np.broadcast_to(np.asarray(colour, np.uint8), (*size, 3)).copy()


@pytest.fixture
def toy_library() -> CaptionLibrary:
    """Three one-colour images with hand-written captions (the ranking is real TF-IDF)."""
    return CaptionLibrary(
        images=np.stack([_solid((200, 0, 0)), _solid((0, 200, 0)), _solid((0, 0, 200))]),
        captions=[
            "a photo of a tabby. a photo of a tiger cat or an Egyptian cat",
            "a photo of an espresso or a cup. a photo of a strainer",
            "a photo of a missile or a projectile. a photo of a crane",
        ],
        labels=np.array([0, 1, 2]),
        class_names=["cat", "coffee", "rocket"],
        captioner="hand-written",
    )


def test_fuse_texts():
    assert fuse_texts(["a photo of a cat.", "  ", "a photo of a dog"]) == "a photo of a cat. a photo of a dog"
    assert fuse_texts([]) == ""


def test_retrieval_ranks_by_caption_words(toy_library):
    kb = KbComposeReconstructor(toy_library)
    assert kb.retrieve(["a photo of an Egyptian cat", "a photo of a tabby"]).index == 0
    assert kb.retrieve(["a photo of a cup"]).index == 1
    assert kb.retrieve(["a photo of a crane", "a photo of a missile"]).index == 2
    none = kb.retrieve(["xyzzy"])  # no word in common: the library's mean image
    assert none.index == -1 and none.score == 0.0
    out = kb.reconstruct(["xyzzy"], (32, 48))
    assert np.array_equal(out, _solid((67, 67, 67)))


def test_kb_compose_returns_the_requested_size_with_the_crop_at_the_box(toy_library):
    kb = KbComposeReconstructor(toy_library)
    crop = np.random.default_rng(0).integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    box = (10, 40, 30, 70)  # 20 x 30: pasted as it is
    out = kb.reconstruct(["a photo of an espresso"], (64, 96), crop=crop, box=box)
    assert out.shape == (64, 96, 3) and out.dtype == np.uint8
    assert np.array_equal(out[10:30, 40:70], crop)
    outside = np.ones((64, 96), bool)
    outside[10:30, 40:70] = False
    assert (out[outside] == (0, 200, 0)).all()  # the retrieved espresso image elsewhere
    # a box of another size gets the crop resized to it; a box partly outside is clipped first
    # (as decode_box does with a received box), and the crop fills what is left
    out = kb.reconstruct(["a photo of an espresso"], 64, crop=crop, box=(0, 0, 40, 60))
    assert out.shape == (64, 64, 3) and np.array_equal(out[:40, :60], resize(crop, (40, 60)))
    out = kb.reconstruct(["a photo of an espresso"], 64, crop=crop, box=(50, 50, 90, 110))
    assert np.array_equal(out[50:, 50:], resize(crop, (14, 14)))
    # no crop or a lost box: the retrieved image alone
    assert (kb.reconstruct(["a photo of a tabby"], (8, 8)) == (200, 0, 0)).all()


def test_kb_compose_from_the_photos_library_through_the_registry():
    """The real chain: the photos train split captioned block by block by the ImageNet-label captioner."""
    from semlink.tx.caption import create_captioner, split_blocks

    library = load_dataset("photos", split="train", image_size=128)
    queries = load_dataset("photos", split="test", image_size=128)
    captioner = create_captioner("imagenet-labels", device="cpu")
    kb = create_reconstructor("kb-compose", library=library, captioner=captioner)
    assert len(kb.library) == 5 and all(c.startswith("a photo of") for c in kb.library.captions)
    kb.check_disjoint(queries.images)
    with pytest.raises(SemlinkError, match="disjoint"):
        kb.check_disjoint(library.images[:1])
    # the left motorcycle view finds the right view, the only same-scene entry
    motorcycle = queries.images[3]
    texts = captioner.caption(split_blocks(motorcycle, 2))
    match = kb.retrieve(texts)
    assert kb.library.class_names[kb.library.labels[match.index]] == "motorcycle", (
        texts,
        kb.library.captions,
    )
    out = kb.reconstruct(texts, (128, 128), crop=motorcycle[32:96, 32:96], box=(32, 32, 96, 96))
    assert out.shape == (128, 128, 3) and np.array_equal(out[32:96, 32:96], motorcycle[32:96, 32:96])
    with pytest.raises(SemlinkError, match="library="):
        create_reconstructor("kb-compose")


def test_ip_adapter_backend_generates_deterministically(tiny_sd_dir):
    gen = create_reconstructor(
        f"ip-adapter:{tiny_sd_dir}", ip_scale=0.7, steps=2, guidance=3.0, seed=5, device="cpu"
    )
    assert gen.uses_crop and gen.generation_size == 16
    crop = np.random.default_rng(0).integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    a = gen.reconstruct(["a photo of a cat", "a dog"], (40, 56), crop=crop, box=(0, 0, 20, 30))
    assert a.shape == (40, 56, 3) and a.dtype == np.uint8
    assert np.array_equal(a, gen.reconstruct(["a photo of a cat", "a dog"], (40, 56), crop=crop))
    assert not np.array_equal(a, gen.reconstruct(["a photo of a cat", "a dog"], (40, 56), crop=crop, seed=6))
    other_crop = gen.reconstruct(["a photo of a cat", "a dog"], (40, 56), crop=255 - crop)
    assert not np.array_equal(a, other_crop)  # the image prompt reaches the UNet
    with pytest.raises(SemlinkError, match="needs the received crop"):
        gen.reconstruct(["a cat"], 16)


def test_ip_adapter_scale_zero_is_text_to_image(tiny_sd_dir, tmp_path):
    import shutil

    text_only = tmp_path / "sd-without-ip-adapter"
    shutil.copytree(tiny_sd_dir, text_only, ignore=shutil.ignore_patterns("ip_adapter"))
    gen = create_reconstructor(f"ip-adapter:{text_only}", ip_scale=0.0, steps=1, device="cpu")
    assert not gen.uses_crop and gen.pipe.image_encoder is None
    out = gen.reconstruct(["a photo of a cat"], 24)
    assert out.shape == (24, 24, 3) and out.dtype == np.uint8
    with pytest.raises(MissingResourceError, match="ip-adapter_sd15.safetensors"):
        create_reconstructor(f"ip-adapter:{text_only}", ip_scale=0.5)


def test_missing_model_folder_fails_fast_with_one_line(tmp_path):
    with pytest.raises(MissingResourceError) as info:
        create_reconstructor(f"ip-adapter:{tmp_path / 'absent'}")
    message = str(info.value)
    assert (
        str(tmp_path / "absent") in message
        and "model_index.json" in message
        and "unet/config.json" in message
    )
    assert "\n" not in message


def test_registry_names_its_backends():
    assert available_reconstructors() == ["ip-adapter:<dir>", "kb-compose"]
    with pytest.raises(SemlinkError, match="kb-compose"):
        create_reconstructor("gan")
    with pytest.raises(SemlinkError, match="ip_scale"):
        create_reconstructor("ip-adapter:/x", ip_scale=-1)
