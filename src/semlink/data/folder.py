"""A folder of images with one sub-folder per class.

Two layouts are accepted::

    root/<class>/<image files>                 # one pool; split is recorded as "all"
    root/train/<class>/...  root/test/<class>/...   # split sub-folders

Class indices follow the sorted class-folder names (over both splits in the second layout, so train
and test agree). Every file is decoded by :func:`semlink.imaging.read_image`, which converts
explicitly or refuses: 16-bit images are scaled to 8 bits, transparency is composited on a stated
background (or refused), EXIF orientation is applied. Nothing is resized unless asked: all images
must share one size, or ``image_size`` names the size every image is resized to. What was
converted or skipped is listed in :attr:`ImageDataset.notes`.

>>> ds = load_dataset("folder", root="photos/", image_size=64, unreadable="skip")  # doctest: +SKIP
>>> ds.notes                                                                         # doctest: +SKIP
('skipped 1 unreadable file(s): cat/broken.jpg (cannot identify image file ...)',)
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from semlink.data.base import ImageDataset
from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError, choice_error
from semlink.imaging import (
    ALPHA_MODES,
    BACKGROUNDS,
    CONVERSIONS,
    parse_background,
    parse_size,
    read_image,
    resize,
)

UNREADABLE_MODES = ("refuse", "skip")
_WHERE_OPTIONS = "a dataset option: [data] options in a run config, --data-option in semlink features"
OPTIONS = ("image_size", "alpha", "background", "unreadable")

_NAMES_SHOWN = 5


def _image_extensions() -> set[str]:
    from PIL import Image

    return {ext.lower() for ext in Image.registered_extensions()}


def _class_dirs(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))


def _some(names: list[str]) -> str:
    """The first few of ``names``, then how many more."""
    shown = ", ".join(names[:_NAMES_SHOWN])
    return shown + (f" and {len(names) - _NAMES_SHOWN} more" if len(names) > _NAMES_SHOWN else "")


def load_folder(
    root: str | os.PathLike[str] | None = None,
    split: str = "train",
    download: bool = False,
    image_size: int | tuple[int, int] | None = None,
    alpha: str = "composite",
    background: str | tuple[int, int, int] = "white",
    unreadable: str = "refuse",
    **options: Any,
) -> ImageDataset:
    """Images under ``root`` (one sub-folder per class) as ``[N, H, W, 3] uint8``.

    - ``image_size``: ``(height, width)`` or an int for a square; every image is resized to it
      (bicubic, aspect ratio not kept). Default ``None``: no resizing, and images of different
      sizes are refused with a message naming the sizes and files.
    - ``alpha``: ``"composite"`` (default; transparent pixels are composited on ``background``) or
      ``"refuse"`` (an image with transparent pixels is an error).
    - ``background``: ``"white"`` (default), ``"black"`` or ``(r, g, b)``.
    - ``unreadable``: ``"refuse"`` (default; a file that is not a readable image is an error naming
      it) or ``"skip"`` (left out, and listed with the reason in ``notes``).

    16-bit images are scaled to 8 bits and EXIF orientation is applied (both listed in ``notes``).
    """
    if options:
        raise SemlinkError(
            f"dataset 'folder' takes only the options {', '.join(OPTIONS)}; got {sorted(options)}"
        )
    if download:
        raise SemlinkError("dataset 'folder' cannot be downloaded; pass root= to a local folder")
    if root is None:
        raise SemlinkError("dataset 'folder' needs root= (a folder with one sub-folder of images per class)")
    if alpha not in ALPHA_MODES:
        raise choice_error("alpha", alpha, ALPHA_MODES)
    if unreadable not in UNREADABLE_MODES:
        raise choice_error("unreadable", unreadable, UNREADABLE_MODES)
    fill = parse_background(background)
    size = None if image_size is None else parse_size(image_size, "image_size")
    base = Path(os.path.expanduser(str(root)))
    if not base.is_dir():
        raise MissingResourceError(f"image folder {str(base)!r} does not exist")

    directory, split_name, class_names = _layout(base, split)
    files = _image_files(directory, class_names)

    images: list[np.ndarray] = []
    labels: list[int] = []
    kept: list[Path] = []
    converted: dict[str, list[str]] = defaultdict(list)
    skipped: list[str] = []
    for path, label in files:
        shown = str(path.relative_to(directory))
        try:
            decoded = read_image(path, alpha=alpha, background=fill)
        except CorruptFileError as exc:
            if unreadable == "refuse":
                raise CorruptFileError(
                    f"{exc}; pass unreadable='skip' ({_WHERE_OPTIONS}) to leave such files out, listed"
                ) from exc
            skipped.append(f"{shown} ({str(exc.__cause__ or exc).splitlines()[0]})")
            continue
        for kind in decoded.conversions:
            converted[kind].append(shown)
        pixels = decoded.pixels
        if size is not None:
            pixels = resize(pixels, size)
        images.append(pixels)
        labels.append(label)
        kept.append(path)
    if not images:
        raise CorruptFileError(f"none of the {len(files)} image file(s) under {str(directory)!r} is readable: "
                               f"{_some(skipped)}")
    if size is None:
        _check_one_size(images, kept, directory)

    backdrop = next((f"{name} {rgb}" for name, rgb in BACKGROUNDS.items() if rgb == fill), str(fill))
    notes = [
        f"{len(names)} image(s) {CONVERSIONS[kind]}{' ' + backdrop if kind == 'alpha' else ''}: {_some(names)}"
        for kind, names in converted.items()
    ]
    if skipped:
        notes.append(f"skipped {len(skipped)} unreadable file(s): {_some(skipped)}")
    return ImageDataset(
        images=np.stack(images),
        labels=np.asarray(labels, dtype=np.int64),
        class_names=class_names,
        name="folder",
        split=split_name,
        source=str(base.resolve()),
        notes=tuple(notes),
    )


def _layout(base: Path, split: str) -> tuple[Path, str, list[str]]:
    """``(folder holding the class folders, split name, class names)``."""
    split_dirs = {s: base / s for s in ("train", "test") if (base / s).is_dir()}
    if split_dirs:
        if split not in split_dirs:
            raise MissingResourceError(f"image folder {str(base)!r} has no {split!r} sub-folder")
        directory, split_name = split_dirs[split], split
        class_names = sorted({p.name for d in split_dirs.values() for p in _class_dirs(d)})
    else:
        directory, split_name = base, "all"
        class_names = [p.name for p in _class_dirs(base)]
    if not class_names:
        raise MissingResourceError(f"image folder {str(directory)!r} has no class sub-folders")
    return directory, split_name, class_names


def _image_files(directory: Path, class_names: list[str]) -> list[tuple[Path, int]]:
    """``(file, label)`` of every image file (by extension) in the class folders, sorted."""
    extensions = _image_extensions()
    files: list[tuple[Path, int]] = []
    for label, cls in enumerate(class_names):
        cls_dir = directory / cls
        if not cls_dir.is_dir():
            continue
        for path in sorted(cls_dir.iterdir()):
            if path.is_file() and not path.name.startswith(".") and path.suffix.lower() in extensions:
                files.append((path, label))
    if not files:
        raise MissingResourceError(
            f"no image files ({', '.join(sorted(e for e in extensions if e in {'.png', '.jpg', '.jpeg'}))}, ...) "
            f"found under {str(directory)!r}"
        )
    return files


def _check_one_size(images: list[np.ndarray], paths: list[Path], directory: Path) -> None:
    """Refuse images of more than one size, naming each size, how many files have it, and some of them."""
    sizes = [img.shape[:2] for img in images]
    counts = Counter(sizes)
    if len(counts) == 1:
        return
    by_size: dict[tuple[int, ...], list[str]] = defaultdict(list)
    for shape, path in zip(sizes, paths):
        by_size[shape].append(str(path.relative_to(directory)))
    parts = [
        f"{h}x{w} in {n} file(s) ({_some(by_size[(h, w)])})" for (h, w), n in counts.most_common()
    ]
    raise SemlinkError(
        f"images under {str(directory)!r} differ in size (height x width): {'; '.join(parts)}. "
        f"Pass image_size=(height, width) ({_WHERE_OPTIONS}) to resize every image to it"
    )
