"""Features of images by content, so a sweep re-encodes each distinct reconstructed image once.

Reconstructions repeat across the points of a run: the fallback image at every failed
transmission, and the same decoded picture wherever one (image, codec quality) got through,
whatever the SNR, channel or MCS. Scoring re-encodes every reconstruction with the run's encoder,
so without a memo most of a separation sweep's time goes into encoding the same pictures again.

An encoder's output for one sample depends on the batch size it is computed in (different kernels
round differently) but not on the other samples of the batch or its position (checked in the
tests). :class:`MemoisedEncoder` therefore always encodes in batches of exactly ``batch`` (the last
padded by repeating an image), so an image's feature is a function of the image alone, whatever
the memo held before: results stay identical in any point order, process or executor.

>>> import numpy as np
>>> from semlink.tx.encoders import create_encoder
>>> memo = MemoisedEncoder(create_encoder("efficientnet-lite0", image_size=32), batch=4)
>>> images = np.zeros((3, 28, 28), dtype=np.uint8)
>>> memo.encode(images).shape, memo.encoded, memo.reused
(torch.Size([3, 1280]), 1, 2)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from semlink.errors import require
from semlink.imaging import image_digest

__all__ = ["MemoisedEncoder"]


class MemoisedEncoder:
    """``encode(images [N, H, W(, C)] uint8) -> [N, D] float32``: ``encoder``'s features, memoised by content.

    :param encoder: an :class:`~semlink.tx.encoders.ImageEncoder`.
    :param batch: the one batch size every image is encoded in.
    :param max_items: distinct images kept (then the memo starts afresh; values never change).
    """

    def __init__(self, encoder: Any, batch: int = 32, max_items: int = 100_000) -> None:
        require(isinstance(batch, int) and batch > 0, f"batch = {batch!r}; must be a positive integer")
        require(isinstance(max_items, int) and max_items > 0, f"max_items = {max_items!r}; must be a positive integer")
        self.encoder = encoder
        self.batch = batch
        self.max_items = max_items
        self._features: dict[bytes, torch.Tensor] = {}
        self.encoded = 0  # distinct images encoded so far
        self.reused = 0  # images answered from the memo

    @property
    def name(self) -> str:
        return self.encoder.name

    def encode(self, images: Any) -> torch.Tensor:
        images = np.asarray(images)
        keys = [image_digest(image) for image in images]
        missing: dict[bytes, int] = {}
        for index, key in enumerate(keys):
            if key not in self._features and key not in missing:
                missing[key] = index
        self.reused += len(keys) - len(missing)
        if missing:
            if len(self._features) + len(missing) > self.max_items:
                self._features.clear()
            order = list(missing.values())
            for start in range(0, len(order), self.batch):
                chunk = order[start : start + self.batch]
                padded = chunk + [chunk[-1]] * (self.batch - len(chunk))
                features = self.encoder.encode(images[padded])
                for offset, index in enumerate(chunk):
                    self._features[keys[index]] = features[offset].clone()
            self.encoded += len(order)
        return torch.stack([self._features[key] for key in keys])
