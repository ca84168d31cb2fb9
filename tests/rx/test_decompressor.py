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


def test_noise_aware_decoder_reads_the_error_variance():
    torch.manual_seed(0)
    dec = FeatureDecompressor(16, 8, hidden_dim=32, noise_input="mmse").eval()
    assert dec.net[0].in_features == 16 + 8  # k reals of the estimate + k/2 error variances
    latent = torch.randn(4, 16)
    quiet, loud = dec(latent, torch.full((4, 8), 0.01)), dec(latent, torch.full((4, 8), 0.9))
    assert not torch.allclose(quiet, loud)  # the same symbols mean something else at another noise level
    # The error variance of a unit-energy symbol's MMSE estimate lies in [0, 1]: larger reads as 1.
    torch.testing.assert_close(dec(latent, torch.full((4, 8), 3.0)), dec(latent, torch.ones(4, 8)))
    with pytest.raises(SemlinkError, match="error variance"):
        dec(latent)
    with pytest.raises(SemlinkError, match="one value per complex symbol"):
        dec(latent, torch.zeros(4, 16))
    film = FeatureDecompressor(16, 8, hidden_dim=32, noise_input="mmse-film").eval()
    assert film(latent, torch.full((4, 8), 0.5)).shape == (4, 8)
    blind = FeatureDecompressor(16, 8, hidden_dim=32).eval()
    torch.testing.assert_close(blind(latent), blind(latent, torch.full((4, 8), 9.0)))  # blind ignores it


def test_unknown_noise_input_is_refused():
    with pytest.raises(SemlinkError, match="noise_input.*accepted"):
        FeatureDecompressor(16, 8, noise_input="snr")
