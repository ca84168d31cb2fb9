"""Fashion-MNIST from the standard IDX files (gzip-compressed or not).

The IDX format: two zero bytes, a type byte (``0x08`` = unsigned byte), a byte giving the number of
dimensions, then each dimension as a big-endian uint32, then the data in C order. Debian's
``dataset-fashion-mnist`` package installs the four ``.gz`` files in
``/usr/share/datasets/fashion-mnist``.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import numpy as np

from semlink.data.base import ImageDataset, as_path, reject_options
from semlink.errors import CorruptFileError, MissingResourceError

DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"

CLASS_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# A read never needs more than this; a header claiming more is corrupt (guards huge allocations).
_MAX_IDX_BYTES = 1 << 32


def read_idx(path: str | os.PathLike[str], expect_ndim: int | None = None) -> np.ndarray:
    """Read one IDX file (``.gz`` or plain) into a NumPy array, checking magic number and size.

    Raises :class:`CorruptFileError` naming the file when the magic number, the number of dimensions
    or the data length is not what the header says.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise CorruptFileError(f"cannot read IDX file {str(path)!r}: {exc}") from exc
    if len(raw) < 4:
        raise CorruptFileError(f"IDX file {str(path)!r} is too short ({len(raw)} bytes) to hold a header")
    zero0, zero1, type_code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero0 != 0 or zero1 != 0 or type_code not in _IDX_DTYPES or ndim == 0:
        raise CorruptFileError(
            f"IDX file {str(path)!r} has bad magic number 0x{raw[:4].hex()}; expected 0x0000TTNN with type "
            f"TT in {{08,09,0b,0c,0d,0e}} and NN >= 1 dimensions"
        )
    if expect_ndim is not None and ndim != expect_ndim:
        raise CorruptFileError(f"IDX file {str(path)!r} has {ndim} dimensions; expected {expect_ndim}")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise CorruptFileError(f"IDX file {str(path)!r} is truncated inside its header")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[type_code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if expected > _MAX_IDX_BYTES:
        raise CorruptFileError(
            f"IDX file {str(path)!r} claims dimensions {dims}, more than this reader allows"
        )
    if len(raw) - header_len != expected:
        raise CorruptFileError(
            f"IDX file {str(path)!r}: header says {dims} ({expected} data bytes) but the file holds "
            f"{len(raw) - header_len} data bytes"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(dims)
    return data.astype(dtype.newbyteorder("="), copy=True)


def _find(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def load_fashion_mnist(
    root: str | os.PathLike[str] | None = None,
    split: str = "train",
    download: bool = False,
    **options: Any,
) -> ImageDataset:
    """Fashion-MNIST ``split`` as ``[N, 28, 28] uint8`` grayscale images and 10 classes.

    Looks in ``root`` (default ``/usr/share/datasets/fashion-mnist``) and in torchvision's layout
    ``root/FashionMNIST/raw``, for the plain or ``.gz`` IDX files. ``download`` is not supported:
    install Debian's ``dataset-fashion-mnist`` package or pass ``root=`` to a folder with the files.
    """
    reject_options("fashion-mnist", options)
    base = as_path(root, DEFAULT_ROOT)
    image_stem, label_stem = _FILES[split]
    for directory in (base, base / "FashionMNIST" / "raw"):
        image_path, label_path = _find(directory, image_stem), _find(directory, label_stem)
        if image_path is not None and label_path is not None:
            break
    else:
        hint = " (download=True is not supported for fashion-mnist)" if download else ""
        raise MissingResourceError(
            f"Fashion-MNIST {split} files {image_stem}[.gz] and {label_stem}[.gz] not found in "
            f"{str(base)!r}{hint}; install them with `apt-get install dataset-fashion-mnist` "
            f"(files in {DEFAULT_ROOT}) or pass root= to a folder holding the IDX files"
        )
    images = read_idx(image_path, expect_ndim=3)
    labels = read_idx(label_path, expect_ndim=1)
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise CorruptFileError(
            f"Fashion-MNIST IDX files must hold unsigned bytes; got {images.dtype} in {str(image_path)!r} "
            f"and {labels.dtype} in {str(label_path)!r}"
        )
    if images.shape[0] != labels.shape[0]:
        raise CorruptFileError(
            f"{str(image_path)!r} holds {images.shape[0]} images but {str(label_path)!r} holds "
            f"{labels.shape[0]} labels"
        )
    if labels.size and int(labels.max()) >= len(CLASS_NAMES):
        raise CorruptFileError(f"{str(label_path)!r} holds label {int(labels.max())}; expected 0..9")
    return ImageDataset(
        images=images,
        labels=labels.astype(np.int64),
        class_names=list(CLASS_NAMES),
        name="fashion-mnist",
        split=split,
        source=str(image_path.parent),
    )
