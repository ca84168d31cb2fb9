"""A folder of images with one sub-folder per class.

Two layouts are accepted::

    root/<class>/<image files>                 # one pool; split is recorded as "all"
    root/train/<class>/...  root/test/<class>/...   # split sub-folders

Class indices follow the sorted class-folder names (over both splits in the second layout, so train
and test agree). Images are read with PIL, converted to RGB and resized to one common size.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from semlink.data.base import ImageDataset
from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError


def _image_extensions() -> set[str]:
    from PIL import Image

    return {ext.lower() for ext in Image.registered_extensions()}


def _class_dirs(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))


def _parse_size(image_size: Any) -> tuple[int, int] | None:
    if image_size is None:
        return None
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        size = (image_size, image_size)
    elif isinstance(image_size, (tuple, list)) and len(image_size) == 2:
        size = (int(image_size[0]), int(image_size[1]))
    else:
        raise SemlinkError(f"image_size must be an int or (height, width), got {image_size!r}")
    if min(size) < 1:
        raise SemlinkError(f"image_size must be positive, got {image_size!r}")
    return size


def load_folder(
    root: str | os.PathLike[str] | None = None,
    split: str = "train",
    download: bool = False,
    image_size: int | tuple[int, int] | None = None,
    **options: Any,
) -> ImageDataset:
    """Images under ``root`` (one sub-folder per class) as ``[N, H, W, 3] uint8``.

    ``image_size`` is ``(height, width)`` or an int for a square; default: the first image's size.
    Every image is resized (bicubic, aspect ratio not kept) to it.
    """
    from PIL import Image, UnidentifiedImageError

    if options:
        raise SemlinkError(f"dataset 'folder' takes only image_size=, not {sorted(options)}")
    if download:
        raise SemlinkError("dataset 'folder' cannot be downloaded; pass root= to a local folder")
    if root is None:
        raise SemlinkError("dataset 'folder' needs root= (a folder with one sub-folder of images per class)")
    base = Path(os.path.expanduser(str(root)))
    if not base.is_dir():
        raise MissingResourceError(f"image folder {str(base)!r} does not exist")
    size = _parse_size(image_size)

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

    images: list[np.ndarray] = []
    for path, _ in files:
        try:
            with Image.open(path) as img:
                img = img.convert("RGB")
                if size is None:
                    size = (img.height, img.width)
                if (img.height, img.width) != size:
                    img = img.resize((size[1], size[0]), Image.Resampling.BICUBIC)
                images.append(np.asarray(img, dtype=np.uint8))
        except (UnidentifiedImageError, OSError) as exc:
            raise CorruptFileError(f"cannot read image {str(path)!r}: {exc}") from exc

    return ImageDataset(
        images=np.stack(images),
        labels=np.asarray([label for _, label in files], dtype=np.int64),
        class_names=class_names,
        name="folder",
        split=split_name,
        source=str(base.resolve()),
    )
