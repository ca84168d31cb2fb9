"""psnr_db against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from semlink.errors import SemlinkError
from semlink.metrics import psnr_db


def test_psnr_per_image_matches_the_definition():
    reference = torch.zeros(3, 1, 2, 2)
    estimate = torch.stack([torch.full((1, 2, 2), 0.1), torch.full((1, 2, 2), 0.01), torch.zeros(1, 2, 2)])
    values = psnr_db(reference, estimate)
    assert values.shape == (3,)
    assert values[0].item() == pytest.approx(20.0, abs=1e-4) and values[1].item() == pytest.approx(40.0, abs=1e-3)
    assert math.isinf(values[2].item())
    # uint8-scaled pixels: an error of 1 grey level everywhere is 48.13 dB
    assert psnr_db(torch.zeros(1, 4), torch.ones(1, 4), max_value=255.0).item() == pytest.approx(
        20 * math.log10(255), abs=1e-4
    )


def test_psnr_refuses_mismatched_shapes():
    with pytest.raises(SemlinkError, match="one shape"):
        psnr_db(torch.zeros(2, 4), torch.zeros(2, 5))
