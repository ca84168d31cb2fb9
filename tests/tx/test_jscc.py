"""The deep-JSCC transmitter: layout arithmetic, exact channel-use counts, unit energy per image."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semlink.errors import SemlinkError
from semlink.tx.jscc import GDN, AttentionFeature, JsccEncoder, JsccLayout, images_to_tensor, power_normalize

# (image shape, budget) → (padded H, padded W, latent channels c): c is the smallest with
# c·(H'/4)(W'/4) ≥ 2·budget.
LAYOUTS = [
    ((28, 28), 64, (28, 28, 3)),  # 128 reals of 3·49 = 147
    ((28, 28), 128, (28, 28, 6)),  # 256 of 294
    ((28, 28), 392, (28, 28, 16)),  # exactly 784 = 16·49: the paper's own case
    ((32, 32, 3), 256, (32, 32, 8)),  # CIFAR, exactly 8·64
    ((30, 30, 3), 100, (32, 32, 4)),  # padded to 32: 200 of 256
    ((7, 9), 5, (8, 12, 2)),  # odd sizes: 2×3 latent grid, 10 of 12 reals
    ((256, 256, 3), 1000, (256, 256, 1)),  # a photo at CBR 1/196.6: 2000 of 4096
]


@pytest.mark.parametrize(("shape", "budget", "expected"), LAYOUTS)
def test_layout_pads_to_multiples_of_four_and_covers_the_budget_minimally(shape, budget, expected):
    lay = JsccLayout.for_image(shape, budget)
    assert (lay.padded_height, lay.padded_width, lay.latent_channels) == expected
    grid = lay.latent_height * lay.latent_width
    assert lay.sent_reals == 2 * budget
    assert (lay.latent_channels - 1) * grid < lay.sent_reals <= lay.latent_reals == lay.latent_channels * grid
    values = int(np.prod(shape))
    assert lay.source_values == values and lay.bandwidth_ratio == pytest.approx(budget / values)


@pytest.mark.parametrize(("shape", "budget", "expected"), LAYOUTS)
def test_encoder_sends_exactly_the_budget_with_unit_energy_per_image(shape, budget, expected):
    torch.manual_seed(0)
    lay = JsccLayout.for_image(shape, budget)
    encoder = JsccEncoder(lay, filters=4)
    # Images of very different brightness: normalisation is per image, not per batch.
    images = torch.rand(3, lay.image_channels, lay.height, lay.width) * torch.tensor([1.0, 0.01, 0.5])[:, None, None, None]
    symbols = encoder(images)
    assert symbols.shape == (3, budget) and symbols.dtype == torch.complex64
    energy = symbols.detach().abs().square().mean(dim=1)
    torch.testing.assert_close(energy, torch.ones(3), atol=1e-5, rtol=0)


def test_the_tail_of_an_incomplete_last_latent_map_is_never_sent():
    """28×28 at 64 uses: 3 maps of 7×7 = 147 reals, 128 sent; the last map's final 19 values don't matter."""
    torch.manual_seed(0)
    encoder = JsccEncoder(JsccLayout.for_image((28, 28), 64), filters=4)
    images = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        full = encoder.full_latent(images)
        assert full.shape[1] == 147
        torch.testing.assert_close(encoder.latent(images), full[:, :128], atol=0, rtol=0)


def test_power_normalize_gives_unit_mean_symbol_energy():
    x = torch.randn(4, 10) * torch.tensor([[0.1], [1.0], [7.0], [1e-3]])
    z = torch.view_as_complex(power_normalize(x).reshape(4, 5, 2))
    torch.testing.assert_close(z.abs().square().mean(1), torch.ones(4), atol=1e-5, rtol=0)


def test_images_to_tensor_converts_grayscale_and_rgb():
    gray = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    rgb = np.random.default_rng(0).integers(0, 256, (2, 3, 4, 3), dtype=np.uint8)
    out = images_to_tensor(gray)
    assert out.shape == (2, 1, 3, 4) and out.dtype == torch.float32
    torch.testing.assert_close(out[:, 0], torch.from_numpy(gray).float() / 255)
    out = images_to_tensor(torch.from_numpy(rgb))
    assert out.shape == (2, 3, 3, 4)
    torch.testing.assert_close(out[1, 2], torch.from_numpy(rgb[1, :, :, 2]).float() / 255)
    with pytest.raises(SemlinkError, match="uint8"):
        images_to_tensor(gray.astype(np.float32))


def test_bad_layouts_and_inputs_are_refused():
    with pytest.raises(SemlinkError, match="channel_uses"):
        JsccLayout.for_image((28, 28), 0)
    with pytest.raises(SemlinkError, match="image shape"):
        JsccLayout.for_image((1, 28, 28, 1), 64)
    layout = JsccLayout.for_image((28, 28), 64)
    with pytest.raises(SemlinkError, match="filters = 1; must be an integer >= 2"):
        JsccEncoder(layout, filters=1)
    with pytest.raises(SemlinkError, match="filters = 0"):
        JsccEncoder(layout, filters=0)
    with pytest.raises(SemlinkError, match="snr_adaptive = 'yes'; must be true or false"):
        JsccEncoder(layout, filters=4, snr_adaptive="yes")
    with pytest.raises(SemlinkError, match="gdn = 1; must be true or false"):
        JsccEncoder(layout, filters=4, gdn=1)
    adaptive = JsccEncoder(layout, filters=4, snr_adaptive=True)
    with pytest.raises(SemlinkError, match="fed-back snr_db"):
        adaptive(torch.rand(2, 1, 28, 28))
    with pytest.raises(SemlinkError, match="3 values for 2 images"):
        adaptive(torch.rand(2, 1, 28, 28), torch.zeros(3))
    with pytest.raises(SemlinkError, match="channel_uses = 65; this codec sends at most 64"):
        adaptive(torch.rand(2, 1, 28, 28), 0.0, channel_uses=65)
    encoder = JsccEncoder(JsccLayout.for_image((28, 28), 64), filters=4)
    with pytest.raises(SemlinkError, match=r"float \[B, 1, 28, 28\]"):
        encoder(torch.rand(2, 3, 28, 28))
    with pytest.raises(SemlinkError, match="images_to_tensor"):
        encoder(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))


def test_the_adaptive_encoder_reads_the_snr_and_the_blind_one_does_not():
    """Random AF weights (the factor layer starts at zero, i.e. factors of exactly 1: perturb it)."""
    torch.manual_seed(0)
    layout = JsccLayout.for_image((28, 28), 64)
    images = torch.rand(2, 1, 28, 28)
    adaptive = JsccEncoder(layout, filters=8, snr_adaptive=True)
    with torch.no_grad():
        for module in adaptive.attention:
            torch.nn.init.normal_(module.net[2].weight, std=0.5)
        low, high = adaptive(images, -5.0), adaptive(images, 15.0)
    assert float((low - high).abs().max()) > 1e-3
    blind = JsccEncoder(layout, filters=8)
    with torch.no_grad():
        torch.testing.assert_close(blind(images, -5.0), blind(images, 15.0), atol=0, rtol=0)


def test_attention_modules_start_as_the_identity_and_gdn_normalises_across_maps():
    torch.manual_seed(0)
    af = AttentionFeature(6)
    x = torch.randn(3, 6, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(af(x, torch.randn(3, 1)), x)
        gdn, igdn = GDN(6), GDN(6, inverse=True)
        torch.nn.init.uniform_(gdn.gamma, 0.0, 0.2)
        igdn.gamma.copy_(gdn.gamma)
        norm = (gdn.beta.abs()[None, :, None, None]
                + torch.einsum("ij,bjhw->bihw", gdn.gamma.abs(), x.square())).sqrt()
        torch.testing.assert_close(gdn(x), x / norm, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(igdn(x), x * norm, atol=1e-6, rtol=1e-5)


def test_one_encoder_serves_smaller_budgets_with_the_first_latent_reals():
    torch.manual_seed(0)
    encoder = JsccEncoder(JsccLayout.for_image((28, 28), 392), filters=4)
    images = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        small = encoder.forward_reals(images, channel_uses=64)
        torch.testing.assert_close(small, power_normalize(encoder.full_latent(images)[:, :128]))
