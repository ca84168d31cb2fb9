"""``photos``: the natural colour photographs bundled inside the scikit-image and scikit-learn wheels.

Only images shipped in the installed packages are used (no pooch/network fetch; scikit-image's
larger files such as ``lily`` or ``eagle`` need a download and are left out):

* ``test``: astronaut (``skimage.data.astronaut``), chelsea (a cat, ``skimage.data.chelsea``),
  coffee (``skimage.data.coffee``), motorcycle (left view of ``skimage.data.stereo_motorcycle``);
* ``train``: rocket (``skimage.data.rocket``), hubble_deep_field (``skimage.data.hubble_deep_field``),
  china and flower (``sklearn.datasets.load_sample_images``), motorcycle (right view).

One class per scene, named after the photo. The two views of the stereo motorcycle pair are one
class ("motorcycle") split across the two sides, so exactly one test query has a same-class
train entry; every other test class is absent from ``train``. The split is fixed and disjoint:
``train`` is what a receiver's library (``kb-compose``) or a training set may hold, ``test`` the
photos that are sent, so a library never contains a query. Left out on purpose: ``retina`` and
``immunohistochemistry`` (medical/microscopy imagery), ``colorwheel`` and ``logo`` (graphics), the
grayscale images and ``cat()`` (the same file as ``chelsea()``).

Every photo is scaled so it covers ``image_size`` (an int for a square, or ``(height, width)``;
default 256) and centre-cropped to it, aspect ratio kept. Class indices follow :data:`CLASSES`.

``views = N`` (default 1) gives every photo N items: the whole photo, then N - 1 views of it —
crops of 55 to 90 % of its shorter side at seeded random places, every other one mirrored — so a
class has several items (a run's queries and the receiver's knowledge-base items are different
views of one scene). The views are fixed by the photo and N alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from semlink.data.base import ImageDataset
from semlink.errors import MissingResourceError, SemlinkError
from semlink.imaging import as_rgb_image, parse_size, resize_cover

DEFAULT_IMAGE_SIZE = 256


def _skimage(name: str, index: int | None = None) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        out = getattr(skimage.data, name)()
        return out[index] if index is not None else out

    return load


def _sklearn(filename: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_images

        bunch = load_sample_images()
        for path, image in zip(bunch.filenames, bunch.images):
            if str(path).endswith(filename):
                return image
        raise MissingResourceError(f"scikit-learn's sample images have no {filename!r}")

    return load


# (class name, loader, split), in a fixed order: class index = position of the name in CLASSES.
PHOTOS: tuple[tuple[str, Callable[[], np.ndarray], str], ...] = (
    ("astronaut", _skimage("astronaut"), "test"),
    ("chelsea", _skimage("chelsea"), "test"),
    ("coffee", _skimage("coffee"), "test"),
    ("motorcycle", _skimage("stereo_motorcycle", 0), "test"),
    ("rocket", _skimage("rocket"), "train"),
    ("hubble_deep_field", _skimage("hubble_deep_field"), "train"),
    ("china", _sklearn("china.jpg"), "train"),
    ("flower", _sklearn("flower.jpg"), "train"),
    ("motorcycle", _skimage("stereo_motorcycle", 1), "train"),
)
CLASSES: tuple[str, ...] = tuple(dict.fromkeys(name for name, _, _ in PHOTOS))


def load_photos(
    root: Any = None,
    split: str = "train",
    download: bool = False,
    image_size: int | tuple[int, int] = DEFAULT_IMAGE_SIZE,
    **options: Any,
) -> ImageDataset:
    """The ``split`` photos as ``[N, H, W, 3] uint8`` (see the module docstring for the split)."""
    views = options.pop("views", 1)
    if options:
        raise SemlinkError(f"dataset 'photos' takes only image_size= and views=, not {sorted(options)}")
    if isinstance(views, bool) or not isinstance(views, int) or not 1 <= views <= 1000:
        raise SemlinkError(f"photos views = {views!r}; accepted: an integer from 1 to 1000")
    if root is not None:
        raise SemlinkError("dataset 'photos' is bundled with scikit-image/scikit-learn and takes no root=")
    if download:
        raise SemlinkError(
            "dataset 'photos' is bundled with scikit-image/scikit-learn: download=True is not needed"
        )
    size = parse_size(image_size, "photos image_size")
    images, labels = [], []
    for name, load, photo_split in PHOTOS:
        if photo_split != split:
            continue
        try:
            photo = load()
        except (ModuleNotFoundError, OSError) as exc:  # a file that skimage would have to download
            raise MissingResourceError(
                f"photo {name!r} is not bundled in the installed package: {exc}"
            ) from exc
        photo = as_rgb_image(photo, f"photo {name!r}")
        for view in _views(photo, views, seed=len(images)):
            images.append(resize_cover(view, size))
            labels.append(CLASSES.index(name))
    return ImageDataset(
        images=np.stack(images),
        labels=np.asarray(labels, dtype=np.int64),
        class_names=list(CLASSES),
        name="photos",
        split=split,
        source="skimage.data + sklearn.datasets.load_sample_images",
    )


def _views(photo: np.ndarray, count: int, seed: int) -> list[np.ndarray]:
    """The photo itself, then ``count - 1`` seeded square-ish crops (every other one mirrored)."""
    rng = np.random.default_rng([0x50484F54, seed])  # "PHOT"
    height, width = photo.shape[:2]
    out = [photo]
    for i in range(1, count):
        side = int(min(height, width) * rng.uniform(0.55, 0.9))
        top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
        view = photo[top : top + side, left : left + side]
        out.append(np.ascontiguousarray(view[:, ::-1] if i % 2 else view))
    return out
