"""The deep-JSCC receiver: image shapes for any size, zero-filled unsent reals, the front end it reads,
uint8 conversion."""

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
    decoder = JsccDecoder(lay, filters=4, snr_adaptive=True)
    images = decoder(torch.randn(3, budget, dtype=torch.complex64) * 10, torch.rand(3, budget))
    assert images.shape == (3, lay.image_channels, lay.height, lay.width)
    assert images.dtype == torch.float32
    assert bool(((images >= 0) & (images <= 1)).all())


def _net(decoder: JsccDecoder, latent: torch.Tensor) -> torch.Tensor:
    """The blind decoder's layers applied to a full latent (what forward_reals must equal)."""
    x = latent
    for i, conv in enumerate(decoder.convs):
        x = conv(x)
        if i < len(decoder.acts):
            x = decoder.acts[i](x)
    return torch.sigmoid(x)


def test_unsent_latent_reals_are_zero_filled():
    """28×28 at 64 uses: 128 reals received of a 3×7×7 latent; the decoder's input is zeros after them
    (an unsent symbol's MMSE estimate), and the blind decoder ignores the error variances."""
    torch.manual_seed(0)
    lay = JsccLayout.for_image((28, 28), 64)
    decoder = JsccDecoder(lay, filters=4)
    reals = torch.randn(2, 128)
    latent = torch.cat([reals, torch.zeros(2, 147 - 128)], dim=1).reshape(2, 3, 7, 7)
    with torch.no_grad():
        expected = _net(decoder, latent)
        torch.testing.assert_close(decoder.forward_reals(reals, torch.rand(2, 64)), expected, atol=0, rtol=0)
        torch.testing.assert_close(decoder.forward_reals(reals, torch.zeros(2, 64)), expected, atol=0, rtol=0)
        # A smaller budget (a codec serving several) is zero-filled the same way.
        small = decoder.forward_reals(reals[:, :40], torch.rand(2, 20))
        latent[:, :, :, :].reshape(2, -1)[:, 40:] = 0.0
        torch.testing.assert_close(small, _net(decoder, latent.reshape(2, -1).reshape(2, 3, 7, 7)), atol=0, rtol=0)


def test_the_adaptive_decoder_reads_the_error_variance():
    """Its output changes with the error variance alone (same estimates): through the error-variance
    input maps and through the AF modules' SNR context (perturbed from their identity start)."""
    torch.manual_seed(0)
    decoder = JsccDecoder(JsccLayout.for_image((28, 28), 64), filters=8, snr_adaptive=True)
    with torch.no_grad():
        for module in decoder.attention:
            torch.nn.init.normal_(module.net[2].weight, std=0.5)
        estimate = torch.randn(2, 64, dtype=torch.complex64)
        noisy, clean = decoder(estimate, torch.full((2, 64), 0.5)), decoder(estimate, torch.full((2, 64), 0.01))
        assert float((noisy - clean).abs().max()) > 1e-3
        # The AF path alone: the same error-variance maps' mean SNR is what the context reads; a decoder
        # whose first layer ignores the error maps still changes with it.
        decoder.convs[0].weight[decoder.layout.latent_channels:] = 0.0
        noisy, clean = decoder(estimate, torch.full((2, 64), 0.5)), decoder(estimate, torch.full((2, 64), 0.01))
        assert float((noisy - clean).abs().max()) > 1e-3


def test_wrong_symbols_are_refused():
    decoder = JsccDecoder(JsccLayout.for_image((28, 28), 64), filters=4)
    with pytest.raises(SemlinkError, match=r"error_var \[B, N\] float, 1 <= N <= 64"):
        decoder(torch.randn(2, 65, dtype=torch.complex64), torch.zeros(2, 65))
    with pytest.raises(SemlinkError, match=r"error_var \[B, N\]"):
        decoder(torch.randn(2, 64, dtype=torch.complex64), torch.zeros(2, 63))
    with pytest.raises(SemlinkError, match=r"complex \[B, N\]"):
        decoder(torch.randn(2, 128), torch.zeros(2, 64))
    with pytest.raises(SemlinkError, match="snr_adaptive = 'no'"):
        JsccDecoder(JsccLayout.for_image((28, 28), 64), filters=4, snr_adaptive="no")


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
