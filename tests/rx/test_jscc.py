"""The deep-JSCC receiver: image shapes for any size, zero-filled unsent reals, uint8 conversion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semlink.errors import SemlinkError
from semlink.rx.jscc import JsccDecoder, images_to_uint8
from semlink.tx.jscc import JsccLayout, images_to_tensor


@pytest.mark.parametrize(
    ("shape", "budget"), [((28, 28), 64), ((28, 28), 392), ((32, 32, 3), 256), ((30, 30, 3), 100), ((7, 9), 5)]
)
def test_decoder_returns_the_source_shape_in_the_unit_range(shape, budget):
    torch.manual_seed(0)
    lay = JsccLayout.for_image(shape, budget)
    decoder = JsccDecoder(lay, filters=4)
    images = decoder(torch.randn(3, budget, dtype=torch.complex64) * 10)
    assert images.shape == (3, lay.image_channels, lay.height, lay.width)
    assert images.dtype == torch.float32
    assert bool(((images >= 0) & (images <= 1)).all())


def test_unsent_latent_reals_are_zero_filled():
    """28×28 at 64 uses: 128 reals received of a 3×7×7 latent; the decoder's input is zeros after them."""
    torch.manual_seed(0)
    lay = JsccLayout.for_image((28, 28), 64)
    decoder = JsccDecoder(lay, filters=4)
    reals = torch.randn(2, 128)
    latent = torch.cat([reals, torch.zeros(2, 147 - 128)], dim=1).reshape(2, 3, 7, 7)
    with torch.no_grad():
        torch.testing.assert_close(decoder.forward_reals(reals), decoder.net(latent), atol=0, rtol=0)


def test_wrong_symbols_are_refused():
    decoder = JsccDecoder(JsccLayout.for_image((28, 28), 64), filters=4)
    with pytest.raises(SemlinkError, match=r"complex \[B, 64\]"):
        decoder(torch.randn(2, 65, dtype=torch.complex64))
    with pytest.raises(SemlinkError, match=r"complex \[B, 64\]"):
        decoder(torch.randn(2, 128))


def test_images_to_uint8_inverts_images_to_tensor():
    rng = np.random.default_rng(0)
    for shape in [(2, 5, 6), (2, 5, 6, 3)]:
        pixels = rng.integers(0, 256, shape, dtype=np.uint8)
        back = images_to_uint8(images_to_tensor(pixels))
        assert back.dtype == torch.uint8 and back.shape == shape
        np.testing.assert_array_equal(back.numpy(), pixels)
    clipped = images_to_uint8(torch.tensor([-0.5, 0.5, 1.5]).reshape(1, 1, 1, 3))
    assert clipped.tolist() == [[[0, 128, 255]]]
    with pytest.raises(SemlinkError, match=r"float \[B, C, H, W\]"):
        images_to_uint8(torch.zeros(2, 5, 6))
