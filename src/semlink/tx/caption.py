"""Image captioning for Multi-SC: image blocks → short texts, and the n×n block split.

Backends (``create_captioner(spec)``)
-------------------------------------
* ``imagenet-labels`` (default, offline) - the offline image encoder's top ImageNet classes
  (EfficientNet-Lite0 with its shipped weights at 224 px, ``semlink.tx.create_encoder`` and its
  ``classify`` logits), written as a sentence: ``"a photo of an Egyptian cat, a tabby or a tiger
  cat"``. Up to ``top_k`` (3) classes, each further one only if its softmax probability is at least
  ``min_prob`` (0.05). Class names: torchvision's bundled ImageNet category list (no download).
  Its :attr:`Captioner.vocabulary` is every word it can emit (``closed_vocabulary = True``); the
  correction stage can restrict its dictionary to it.
* ``llava:<dir>`` - a transformers LLaVA model (``LlavaForConditionalGeneration`` + ``AutoProcessor``,
  e.g. a LLaVA with Qwen1.5-0.5B as in Multi-SC) asked the paper's fixed query
  :data:`PAPER_QUERY` through the processor's chat template; greedy decoding,
  ``max_new_tokens`` (48).
* ``blip:<dir>`` - ``BlipForConditionalGeneration`` + ``BlipProcessor`` (VLM-CSC's captioner),
  unconditional captioning (or after ``prompt=``), greedy, ``max_new_tokens`` (30).

Folder layout of the model backends: what ``save_pretrained`` writes for the model and its
processor, i.e. ``config.json``, the weights (``model.safetensors``, sharded
``model-0000x-of-0000y.safetensors`` + ``model.safetensors.index.json``, or ``pytorch_model.bin``),
the tokenizer (``tokenizer.json`` and/or its vocabulary files + ``tokenizer_config.json``) and the
image processor (``preprocessor_config.json`` or ``processor_config.json``); LLaVA also needs a chat
template (``chat_template.jinja``/``chat_template.json``, or inside ``tokenizer_config.json``). A
Hugging Face snapshot folder such as ``llava-hf/llava-interleave-qwen-0.5b-hf`` or
``Salesforce/blip-image-captioning-base`` has this layout. Nothing is downloaded: a missing folder or
file raises :class:`MissingResourceError` naming it, before any model library is imported.

>>> import numpy as np
>>> blocks = split_blocks(np.zeros((5, 7, 3), np.uint8), grid=2)
>>> [b.shape for b in blocks]
[(2, 4, 3), (2, 3, 3), (3, 4, 3), (3, 3, 3)]
"""

from __future__ import annotations

import abc
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from semlink.errors import SemlinkError, require
from semlink.imaging import Box, as_rgb_image, resize_cover
from semlink.registry import Registry

PAPER_QUERY = "Relay a brief, clear account of the picture shown."

# --------------------------------------------------------------------------------------------------
# Blocks
# --------------------------------------------------------------------------------------------------


def block_boxes(size: tuple[int, int], grid: int) -> list[Box]:
    """The ``grid × grid`` blocks of an image of ``size = (H, W)``, row-major, as boxes.

    Edges fall at ``round(i · H / grid)``: sizes not divisible by ``grid`` give blocks that differ by at
    most one pixel, and the blocks tile the image exactly.
    """
    require(
        isinstance(grid, int) and not isinstance(grid, bool) and grid >= 1,
        f"block grid {grid!r}; accepted: a positive integer",
    )
    H, W = size
    require(H >= grid and W >= grid, f"an image of {H}x{W} pixels cannot be cut into {grid}x{grid} blocks")
    rows = [round(i * H / grid) for i in range(grid + 1)]
    cols = [round(j * W / grid) for j in range(grid + 1)]
    return [(rows[i], cols[j], rows[i + 1], cols[j + 1]) for i in range(grid) for j in range(grid)]


def split_blocks(image: Any, grid: int = 2) -> list[np.ndarray]:
    """``image [H,W,3] uint8`` → ``grid²`` contiguous blocks ``[h_i, w_i, 3] uint8``, row-major.

    Block edges as in :func:`block_boxes`.
    """
    rgb = as_rgb_image(image)
    return [np.ascontiguousarray(rgb[t:b, lo:r]) for t, lo, b, r in block_boxes(rgb.shape[:2], grid)]


# --------------------------------------------------------------------------------------------------
# The interface and the registry
# --------------------------------------------------------------------------------------------------


class Captioner(abc.ABC):
    """Describes images in short texts.

    Subclasses set :attr:`name` and :attr:`vocabulary` and implement :meth:`_caption_batch`.
    """

    name: str
    #: Words this captioner emits (case as emitted); empty for open-vocabulary models.
    vocabulary: frozenset[str] = frozenset()
    #: Multi-word names it emits (``"tiger cat"``); their word pairs help a corrector choose.
    phrases: frozenset[str] = frozenset()
    #: True when :attr:`vocabulary` holds every word the captioner can emit (a corrector may then
    #: map every received word onto it: ``create_corrector("symspell", closed_vocabulary=True)``).
    closed_vocabulary: bool = False
    batch_size: int = 16

    @abc.abstractmethod
    def _caption_batch(self, images: list[np.ndarray]) -> list[str]:
        """``[h,w,3] uint8`` images (sizes may differ) → one text each."""

    def caption(self, images: Sequence[Any]) -> list[str]:
        """One text per image; ``images`` is a list of ``[H,W,3]``/``[H,W]`` uint8 arrays (sizes may differ)."""
        require(
            not isinstance(images, np.ndarray) or images.ndim == 4,
            "caption() takes a list of images (or a [B,H,W,3] array), not a single image: wrap it in a list",
        )
        rgb = [as_rgb_image(im, "caption image") for im in images]
        out: list[str] = []
        for start in range(0, len(rgb), self.batch_size):
            out.extend(self._caption_batch(rgb[start : start + self.batch_size]))
        return out

    __call__ = caption

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


CAPTIONERS: Registry[Captioner] = Registry("captioner", {
    "imagenet-labels": "semlink.tx.caption:make_imagenet_labels",
    "llava": ("semlink.tx.caption_models:make_llava", "required", "<dir>"),
    "blip": ("semlink.tx.caption_models:make_blip", "required", "<dir>"),
}, entry_points="semlink.captioners")
"""Captioners by name (:mod:`semlink.registry`)."""


def create_captioner(spec: str = "imagenet-labels", **options: Any) -> Captioner:
    """Build a captioner: ``"imagenet-labels"``, ``"llava:<dir>"`` or ``"blip:<dir>"``.

    Options: ``device`` (all); ``top_k``, ``min_prob``, ``image_size``, ``encoder`` (imagenet-labels);
    ``query``, ``max_new_tokens``, ``dtype`` (llava); ``prompt``, ``max_new_tokens``, ``dtype`` (blip);
    ``batch_size`` (all).

    Raises
    ------
    SemlinkError
        Unknown backend or option; :class:`MissingResourceError` for a missing model folder or file;
        :class:`CorruptFileError` for a folder its library cannot load.
    """
    return CAPTIONERS.create(spec, **options)


def available_captioners() -> list[str]:
    return CAPTIONERS.available()


def check_batch_size(batch_size: Any) -> int:
    require(
        isinstance(batch_size, int) and not isinstance(batch_size, bool) and batch_size >= 1,
        f"batch_size {batch_size!r}; accepted: a positive integer",
    )
    return int(batch_size)


# --------------------------------------------------------------------------------------------------
# ImageNet labels (offline)
# --------------------------------------------------------------------------------------------------


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names bundled with torchvision (index = classifier output)."""
    from torchvision.models import EfficientNet_B0_Weights

    return list(EfficientNet_B0_Weights.IMAGENET1K_V1.meta["categories"])


_AN_EXCEPTIONS = re.compile(r"^(uni|use|usu|eu|one|ewe)", re.IGNORECASE)


TEMPLATE_WORDS = frozenset({"a", "an", "photo", "of", "or"})  # the words sentence_of adds


def with_article(noun: str) -> str:
    """``"Egyptian cat"`` → ``"an Egyptian cat"``; ``"unicycle"`` → ``"a unicycle"`` (spelling heuristic)."""
    vowel = noun[:1].lower() in "aeiou" and not _AN_EXCEPTIONS.match(noun)
    return f"{'an' if vowel else 'a'} {noun}"


def sentence_of(nouns: Sequence[str]) -> str:
    """``["tabby", "tiger cat", "Egyptian cat"]`` → ``"a photo of a tabby, a tiger cat or an Egyptian cat"``."""
    require(len(nouns) > 0, "a caption needs at least one class name")
    parts = [with_article(n) for n in nouns]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]
    return f"a photo of {listed}"


def caption_words(text: str) -> list[str]:
    """Whitespace words of ``text`` with leading/trailing punctuation stripped (inner ``-``/``'`` kept)."""
    words = (w.strip('.,;:!?"()[]{}') for w in text.split())
    return [w for w in words if w]


class ImageNetLabelCaptioner(Captioner):
    """Top ImageNet classes of an offline classifier as a sentence (see the module docstring)."""

    def __init__(
        self,
        encoder: str = "efficientnet-lite0",
        *,
        image_size: int = 224,
        top_k: int = 3,
        min_prob: float = 0.05,
        device: str | torch.device | None = None,
        batch_size: int = 16,
    ) -> None:
        from semlink.tx.encoders import create_encoder

        require(
            isinstance(top_k, int) and not isinstance(top_k, bool) and 1 <= top_k <= 10,
            f"top_k {top_k!r}; accepted: 1 to 10",
        )
        require(0.0 <= float(min_prob) < 1.0, f"min_prob {min_prob!r}; accepted: 0 <= min_prob < 1")
        self.encoder = create_encoder(encoder, image_size=image_size, device=device)
        if not hasattr(self.encoder, "classify"):
            raise SemlinkError(
                f"captioner 'imagenet-labels' needs an encoder with an ImageNet classifier head "
                f"(efficientnet-lite0[@weights]), got {encoder!r}"
            )
        self.categories = imagenet_categories()
        self.top_k, self.min_prob = top_k, float(min_prob)
        self.batch_size = check_batch_size(batch_size)
        self.vocabulary = frozenset({w for c in self.categories for w in caption_words(c)} | TEMPLATE_WORDS)
        self.phrases = frozenset(c for c in self.categories if " " in c) | {"a photo of"}
        self.closed_vocabulary = True
        self.name = f"imagenet-labels@{self.encoder.name}"

    def top_classes(self, images: Sequence[Any]) -> list[list[tuple[int, float]]]:
        """Per image, the kept ``(class index, probability)`` pairs, most probable first."""
        if len(images) == 0:
            return []
        # Blocks differ in size: bring each to the encoder's square input the way its own preprocessing
        # would (shorter side scaled, centre crop), so they stack into one batch.
        side = self.encoder.image_size
        batch = np.stack([resize_cover(as_rgb_image(im), (side, side)) for im in images])
        probs = torch.softmax(self.encoder.classify(batch).float(), dim=-1).cpu()
        values, indices = probs.topk(self.top_k, dim=-1)
        out = []
        for vals, idx in zip(values.tolist(), indices.tolist()):
            kept = [(idx[0], vals[0])] + [(i, v) for i, v in zip(idx[1:], vals[1:]) if v >= self.min_prob]
            out.append(kept)
        return out

    def describe(self, class_indices: Sequence[int]) -> str:
        """The sentence for ImageNet classes ``class_indices`` (most probable first)."""
        return sentence_of([self.categories[i] for i in class_indices])

    def _caption_batch(self, images: list[np.ndarray]) -> list[str]:
        return [self.describe([i for i, _ in kept]) for kept in self.top_classes(images)]


def make_imagenet_labels(argument: str | None, **options: Any) -> Captioner:
    CAPTIONERS.check_options(
        "imagenet-labels", options, {"encoder", "image_size", "top_k", "min_prob", "device", "batch_size"}
    )
    return ImageNetLabelCaptioner(**options)

