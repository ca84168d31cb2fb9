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
