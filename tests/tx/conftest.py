"""Small natural images for the codec tests: crops of scikit-image's bundled photos (no download);
an unsafe pickle for the weights-loading tests."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest


@pytest.fixture(scope="session")
def gray28() -> np.ndarray:
    """``[12, 28, 28] uint8``: crops of the 'camera' photo (Fashion-MNIST's size)."""
    from skimage import data

    camera = data.camera()
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, camera.shape[0] - 28, 12), rng.integers(0, camera.shape[1] - 28, 12)
    return np.stack([camera[r : r + 28, c : c + 28] for r, c in zip(rows, cols)])


@pytest.fixture(scope="session")
def rgb32() -> np.ndarray:
    """``[12, 32, 32, 3] uint8``: crops of the 'astronaut' photo (CIFAR's size)."""
    from skimage import data

    astronaut = data.astronaut()
    rng = np.random.default_rng(1)
    rows, cols = rng.integers(0, astronaut.shape[0] - 32, 12), rng.integers(0, astronaut.shape[1] - 32, 12)
    return np.stack([astronaut[r : r + 32, c : c + 32] for r, c in zip(rows, cols)])


def batch_psnr(reference: np.ndarray, decoded: np.ndarray) -> float:
    """PSNR in dB over a whole batch (one MSE), so flat crops do not give infinities."""
    mse = np.mean((reference.astype(np.float64) - decoded.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


@pytest.fixture(scope="session")
def psnr():
    """``psnr(reference [N,...], decoded [N,...]) -> dB`` over the whole batch."""
    return batch_psnr


class _Boom:
    """Unpickling this runs ``touch <marker>``: proof that a loader executed the pickle."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture()
def evil_pickle(tmp_path):
    """``evil_pickle(key) -> (path, marker)``: a plain pickle ``{key: ...}`` at ``path`` that creates
    ``marker`` if anything unpickles it."""

    def make(key: str):
        marker, path = tmp_path / "pwned", tmp_path / "evil.pt"
        with open(path, "wb") as fh:
            pickle.dump({key: _Boom(marker)}, fh)
        return path, marker

    return make
