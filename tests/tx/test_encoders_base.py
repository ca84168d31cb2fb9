"""Input coercion of the encoder interface: as_uint8_rgb."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semlink.errors import SemlinkError
from semlink.tx.encoders import as_uint8_rgb


def test_as_uint8_rgb_shapes_and_dtypes():
    gray = np.arange(2 * 4 * 5, dtype=np.uint8).reshape(2, 4, 5)
    rgb = as_uint8_rgb(gray)
    assert rgb.shape == (2, 4, 5, 3) and rgb.dtype == torch.uint8
    assert torch.equal(rgb[..., 0], rgb[..., 2])
    assert as_uint8_rgb(torch.zeros(1, 4, 4, 1, dtype=torch.uint8)).shape == (1, 4, 4, 3)
    with pytest.raises(SemlinkError, match="uint8"):
        as_uint8_rgb(np.zeros((1, 4, 4, 3), np.float32))
    with pytest.raises(SemlinkError, match="shape"):
        as_uint8_rgb(np.zeros((1, 4, 4, 2), np.uint8))
    with pytest.raises(SemlinkError):
        as_uint8_rgb([[1, 2]])
