import pytest
import torch

from semlink.errors import SemlinkError
from semlink.rx.decompressor import FeatureDecompressor


def test_reference_architecture_and_shapes():
    dec = FeatureDecompressor(latent_dim=256, feature_dim=512)
    layers = [type(m).__name__ for m in dec.net]
    assert layers == ["Linear", "ReLU", "Linear", "BatchNorm1d"]  # k→384→512, ReLU, then BN(512)
    assert dec.net[0].in_features == 256 and dec.net[0].out_features == 384 and dec.net[2].out_features == 512
    assert dec.eval()(torch.randn(3, 256)).shape == (3, 512)
    assert [type(m).__name__ for m in FeatureDecompressor(8, 4, output_norm=False).net][-1] == "Linear"


@pytest.mark.parametrize(("latent", "feature"), [(0, 4), (4, 0), (-2, 4)])
def test_bad_sizes_are_refused(latent, feature):
    with pytest.raises(SemlinkError, match="must be a positive integer"):
        FeatureDecompressor(latent, feature)


def test_mmse_front_end_turns_the_unbiased_equaliser_into_the_biased_one():
    """Both equalisers carry the same information: after the front end the decoder sees the same input."""
    from semlink.phy import complex_to_real
    from semlink.phy.equalizer import siso_lmmse, siso_lmmse_biased
    from semlink.rx.decompressor import mmse_form

    g = torch.Generator().manual_seed(0)
    shape = (5, 12)
    y = torch.complex(torch.randn(shape, generator=g), torch.randn(shape, generator=g))
    h = torch.complex(torch.randn(shape, generator=g), torch.randn(shape, generator=g)) * 0.7
    s = torch.rand(shape, generator=g) + 0.05
    x_u, v_u = siso_lmmse(y, h, s)
    x_b, v_b = siso_lmmse_biased(y, h, s)
    x1, m1 = mmse_form(complex_to_real(x_u), v_u, "lmmse")
    x2, m2 = mmse_form(complex_to_real(x_b), v_b, "lmmse-biased")
    torch.testing.assert_close(x1, complex_to_real(x_b), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(m1, v_b, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close((x1, m1), (x2, m2), rtol=1e-5, atol=1e-6)
    assert float(m1.max()) < 1.0  # the error variance of a unit-energy symbol's MMSE estimate


def test_noise_aware_decoder_reads_the_noise_variance():
    torch.manual_seed(0)
    dec = FeatureDecompressor(16, 8, hidden_dim=32, noise_input="mmse").eval()
    assert dec.net[0].in_features == 16 + 8  # k reals of the estimate + k/2 error variances
    latent = torch.randn(4, 16)
    quiet, loud = dec(latent, torch.full((4, 8), 0.01)), dec(latent, torch.full((4, 8), 3.0))
    assert not torch.allclose(quiet, loud)  # the same symbols mean something else at another noise level
    with pytest.raises(SemlinkError, match="noise variance"):
        dec(latent)
    with pytest.raises(SemlinkError, match="one value per complex symbol"):
        dec(latent, torch.zeros(4, 16))
    film = FeatureDecompressor(16, 8, hidden_dim=32, noise_input="mmse-film").eval()
    assert film(latent, torch.full((4, 8), 0.5)).shape == (4, 8)
    blind = FeatureDecompressor(16, 8, hidden_dim=32).eval()
    torch.testing.assert_close(blind(latent), blind(latent, torch.full((4, 8), 9.0)))  # blind ignores it


def test_unknown_noise_input_and_equalizer_are_refused():
    with pytest.raises(SemlinkError, match="noise_input.*accepted"):
        FeatureDecompressor(16, 8, noise_input="snr")
    with pytest.raises(SemlinkError, match="equalizer"):
        FeatureDecompressor(16, 8, noise_input="mmse", equalizer="zf")
