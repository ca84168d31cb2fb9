"""``dataset = "shapes"``: synthetic 32×32 grayscale images of squares, discs and crosses (made, not downloaded).

Each image draws one shape of its class at a random size, position and brightness on a noisy
background; the images of a split are the same every time (a fixed seed per split).
"""

from __future__ import annotations

import numpy as np

from semlink.data import ImageDataset, register_dataset

CLASSES = ["square", "disc", "cross"]


def _draw(kind: int, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    cy, cx = rng.uniform(10, size - 10, 2)
    radius = rng.uniform(5, 9)
    if kind == 0:
        mask = (abs(yy - cy) <= radius) & (abs(xx - cx) <= radius)
    elif kind == 1:
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
    else:
        mask = ((abs(yy - cy) <= radius) & (abs(xx - cx) <= 2)) | ((abs(xx - cx) <= radius) & (abs(yy - cy) <= 2))
    image = rng.normal(60, 40, (size, size)) + mask * rng.uniform(40, 110)
    return np.clip(image, 0, 255).astype(np.uint8)


def load_shapes(root=None, split: str = "train", download: bool = False, per_class: int | None = None) -> ImageDataset:
    """``per_class`` images of each class (default 100 for train, 50 for test)."""
    count = per_class if per_class is not None else (100 if split == "train" else 50)
    rng = np.random.default_rng(0 if split == "train" else 1)
    labels = np.repeat(np.arange(len(CLASSES)), count)
    images = np.stack([_draw(int(label), rng) for label in labels])
    return ImageDataset(images, labels, CLASSES, name="shapes", split=split, source="generated")


register_dataset("shapes", load_shapes)  # for `plugins = [...]` in a config (no installation)
