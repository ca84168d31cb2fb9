"""Captioning: block split, the offline ImageNet-label captioner on real photos, LLaVA and BLIP loading."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from semlink.errors import MissingResourceError, SemlinkError
from semlink.tx.caption import (
    PAPER_QUERY,
    available_captioners,
    block_boxes,
    caption_words,
    create_captioner,
    sentence_of,
    split_blocks,
    with_article,
)

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def labels_captioner():
    return create_captioner("imagenet-labels", device="cpu")


@pytest.mark.parametrize("shape, grid", [((300, 451, 3), 2), ((5, 7, 3), 2), ((64, 64), 4), ((10, 9, 3), 3)])
def test_blocks_tile_the_image_row_major(shape, grid):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=shape, dtype=np.uint8)
    blocks = split_blocks(image, grid)
    boxes = block_boxes(shape[:2], grid)
    assert len(blocks) == grid * grid
    rgb = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=-1)
    covered = np.zeros(shape[:2], np.int64)
    for block, (t, left, b, r) in zip(blocks, boxes):
        assert block.flags.c_contiguous and np.array_equal(block, rgb[t:b, left:r])
        covered[t:b, left:r] += 1
    assert (covered == 1).all()  # every pixel in exactly one block
    heights = {b - t for t, _, b, _ in boxes}
    assert max(heights) - min(heights) <= 1
    assert boxes[1][1] > boxes[0][1] and boxes[grid][0] > boxes[0][0]  # second block is to the right
    with pytest.raises(SemlinkError, match="cannot be cut"):
        split_blocks(np.zeros((1, 5, 3), np.uint8), 2)


def test_sentences_and_articles():
    assert (
        sentence_of(["tabby", "tiger cat", "Egyptian cat"])
        == "a photo of a tabby, a tiger cat or an Egyptian cat"
    )
    assert sentence_of(["espresso"]) == "a photo of an espresso"
    assert sentence_of(["crane", "pole"]) == "a photo of a crane or a pole"
    assert with_article("unicycle") == "a unicycle" and with_article("orange") == "an orange"
    assert caption_words("a photo of a potter's wheel, or a black-and-tan coonhound.") == [
        "a", "photo", "of", "a", "potter's", "wheel", "or", "a", "black-and-tan", "coonhound",
    ]  # fmt: skip


def test_imagenet_labels_describe_the_cat_blocks(labels_captioner):
    captions = labels_captioner.caption(split_blocks(skimage.data.chelsea(), 2))
    assert len(captions) == 4 and all(c.startswith("a photo of ") for c in captions)
    # Every block of the close-up shows cat fur: each caption names a domestic cat class.
    cats = ("tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat")
    assert all(any(c in caption for c in cats) for caption in captions), captions
    words = {w for c in captions for w in caption_words(c)}
    assert words <= labels_captioner.vocabulary
    assert {"Egyptian", "tabby", "photo", "an"} <= labels_captioner.vocabulary
    assert labels_captioner.closed_vocabulary and {"tiger cat", "a photo of"} <= labels_captioner.phrases


def test_imagenet_labels_batches_of_mixed_sizes(labels_captioner):
    coffee = skimage.data.coffee()
    images = [coffee, coffee[:100, :150], skimage.data.camera()]  # different sizes, one grayscale
    captions = labels_captioner.caption(images)
    assert len(captions) == 3 and "espresso" in captions[0]
    kept = labels_captioner.top_classes([coffee])[0]
    assert 1 <= len(kept) <= 3 and kept[0][1] >= kept[-1][1]
    assert labels_captioner.caption([]) == []
    with pytest.raises(SemlinkError, match="list of images"):
        labels_captioner.caption(coffee)


def test_llava_backend_generates_through_the_chat_template(tiny_llava_dir):
    captioner = create_captioner(f"llava:{tiny_llava_dir}", max_new_tokens=4, device="cpu")
    assert PAPER_QUERY in captioner.prompt and "<image>" in captioner.prompt
    assert captioner.prompt.endswith("<|assistant|>")  # the generation prompt of the folder's template
    assert not captioner.closed_vocabulary and not captioner.vocabulary  # open vocabulary
    blocks = split_blocks(skimage.data.astronaut()[::8, ::8], 2)
    captions = captioner.caption(blocks)
    assert len(captions) == 4 and all(isinstance(c, str) for c in captions)
    # greedy decoding is deterministic
    assert captioner.caption(blocks[:1]) == captions[:1]


def test_blip_backend_generates_captions(tiny_blip_dir):
    captioner = create_captioner(f"blip:{tiny_blip_dir}", max_new_tokens=5, device="cpu")
    captions = captioner.caption([skimage.data.chelsea()[::4, ::4], skimage.data.coffee()[::4, ::4]])
    assert len(captions) == 2 and all(isinstance(c, str) and c for c in captions)
    words = set("a photo of cat dog on mat the tabby sitting".split())
    assert all(set(c.split()) <= words for c in captions), captions  # only the tiny vocabulary's words
    assert all(len(c.split()) <= 5 for c in captions)


@pytest.mark.parametrize("backend", ["llava", "blip"])
def test_missing_model_folder_fails_fast_with_one_line(tmp_path, backend):
    with pytest.raises(MissingResourceError) as info:
        create_captioner(f"{backend}:{tmp_path / 'absent'}")
    message = str(info.value)
    assert str(tmp_path / "absent") in message and "config.json" in message and "\n" not in message
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "config.json").write_text("{}")
    with pytest.raises(MissingResourceError, match="lacks model.safetensors"):
        create_captioner(f"{backend}:{tmp_path / 'partial'}")


def test_registry_names_its_backends():
    assert available_captioners() == ["blip:<dir>", "imagenet-labels", "llava:<dir>"]
    with pytest.raises(SemlinkError, match="imagenet-labels"):
        create_captioner("gpt")
    with pytest.raises(SemlinkError, match="takes no option"):
        create_captioner("imagenet-labels", query="hi")
    with pytest.raises(SemlinkError, match="top_k"):
        create_captioner("imagenet-labels", top_k=0)
