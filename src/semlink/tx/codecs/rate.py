"""Rate matching: per image, the best quality whose payload fits a bit budget.

The budget comes from the channel: :func:`semlink.phy.payload_bits_for_budget` turns a budget
of channel uses into the largest payload (whole 5G LDPC code blocks, padding counted as
``DigitalLink.channel_uses`` counts it); a capacity bound gives each image its own budget
(``floor(sum log2(1 + SNR |h|^2))``), so budgets may differ per image.

:func:`fit_to_budget` never returns a payload above its budget. Where nothing fits, the
:class:`Fitted` says so and the system sends its fallback, the mean training image
(:func:`mean_image`).

Search (``search=``):

- ``"binary"`` (default): binary search over the quality scale, all images at once, so each step
  is one batch encode (``ceil(log2(len(scale) + 1))`` steps: 6 for BPG's 52 QPs). It returns the
  highest fitting quality when payload size does not decrease with quality; where a codec's
  sizes are not monotone (a few bytes, at tiny images) it returns a fitting quality whose next
  quality does not fit.
- ``"exhaustive"``: encodes every quality (one batch each) and returns exactly the highest
  fitting one.

Encodes go through an :class:`~semlink.tx.codecs.cache.EncodeCache` (pass one to share encodes
across budgets, SNRs and runs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from semlink.errors import SemlinkError, choice_error
from semlink.tx.codecs.base import Encoded, ImageCodec, as_image_list
from semlink.tx.codecs.cache import EncodeCache

__all__ = ["Fitted", "fit_to_budget", "mean_image", "SEARCHES"]

SEARCHES = ("binary", "exhaustive")


@dataclass(frozen=True)
class Fitted:
    """The outcome of rate matching one image.

    ``encoded`` is ``None`` when no quality fits ``budget_bits`` (send the fallback image).
    """

    budget_bits: int
    encoded: Encoded | None

    @property
    def fits(self) -> bool:
        return self.encoded is not None

    @property
    def quality(self) -> int | None:
        return None if self.encoded is None else self.encoded.quality

    @property
    def payload_bits(self) -> int:
        return 0 if self.encoded is None else self.encoded.payload_bits


def _budgets(max_payload_bits: Any, count: int) -> np.ndarray:
    budgets = np.asarray(max_payload_bits)
    whole_floats = budgets.dtype.kind == "f" and bool(np.all(np.isfinite(budgets) & (budgets == np.round(budgets))))
    if budgets.dtype.kind not in "iu" and not whole_floats:
        raise SemlinkError(f"max_payload_bits must be whole numbers of bits, got {max_payload_bits!r}")
    if budgets.ndim > 1 or (budgets.ndim == 1 and budgets.shape[0] != count):
        raise SemlinkError(
            f"max_payload_bits must be one budget or one per image ({count}), got shape {budgets.shape}"
        )
    if np.any(budgets < 0):
        raise SemlinkError(f"max_payload_bits must be >= 0, got {max_payload_bits!r}")
    return np.broadcast_to(budgets.astype(np.int64), (count,))


def fit_to_budget(
    codec: ImageCodec,
    images: Any,
    max_payload_bits: int | Sequence[int] | np.ndarray,
    *,
    cache: EncodeCache | None = None,
    search: str = "binary",
) -> list[Fitted]:
    """Per image, the highest quality of ``codec`` whose payload has at most ``max_payload_bits`` bits.

    :param images: ``[N,H,W]`` / ``[N,H,W,3]`` uint8 or a list of images.
    :param max_payload_bits: one budget for all images, or ``[N]`` budgets.
    :param cache: encodes to reuse (default: a fresh in-memory cache for this call).
    :param search: ``"binary"`` or ``"exhaustive"`` (see the module docstring).
    """
    if search not in SEARCHES:
        raise choice_error("search", search, SEARCHES)
    image_list = as_image_list(images)
    budgets = _budgets(max_payload_bits, len(image_list))
    cache = EncodeCache() if cache is None else cache
    scale = codec.qualities
    best: list[Encoded | None] = [None] * len(image_list)
    if search == "exhaustive":
        everyone = list(range(len(image_list)))
        for quality in scale:  # worst -> best: later fits replace earlier ones
            for i, enc in zip(everyone, cache.encode(codec, image_list, quality)):
                if enc.payload_bits <= budgets[i]:
                    best[i] = enc
        return [Fitted(int(b), e) for b, e in zip(budgets, best)]
    low = np.full(len(image_list), -1)  # index of the best quality known to fit
    high = np.full(len(image_list), len(scale))  # index of the worst quality known not to fit
    while True:
        active = np.flatnonzero(high - low > 1)
        if active.size == 0:
            break
        mid = (low[active] + high[active]) // 2
        encoded = cache.encode(codec, [image_list[i] for i in active], [scale[m] for m in mid])
        for i, m, enc in zip(active, mid, encoded):
            if enc.payload_bits <= budgets[i]:
                low[i], best[i] = m, enc
            else:
                high[i] = m
    return [Fitted(int(b), e) for b, e in zip(budgets, best)]


def mean_image(images: Any) -> np.ndarray:
    """The pixel-wise mean of ``images`` (all one shape), rounded to uint8: the fallback image."""
    image_list = as_image_list(images)
    shapes = {im.shape for im in image_list}
    if len(shapes) != 1:
        raise SemlinkError(f"mean_image needs images of one shape, got {sorted(shapes)}")
    stack = images if isinstance(images, np.ndarray) else np.stack(image_list)
    return np.clip(np.rint(stack.mean(axis=0, dtype=np.float64)), 0, 255).astype(np.uint8)
