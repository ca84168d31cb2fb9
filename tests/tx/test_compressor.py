import pytest
import torch

from semlink.errors import SemlinkError
from semlink.tx.compressor import FeatureCompressor


def test_reference_architecture_and_shapes():
    enc = FeatureCompressor(feature_dim=512, channel_uses=128)
    assert [type(m).__name__ for m in enc.net] == ["Linear", "ReLU", "Linear", "BatchNorm1d"]
    assert enc.net[0].out_features == 384 and enc.latent_dim == 256  # k = 256 reals = 128 channel uses
    out = enc.train()(torch.randn(64, 512))
    assert out.shape == (64, 256)
    assert torch.allclose(out.mean(0), torch.zeros(256), atol=1e-5)  # BatchNorm output in training


@pytest.mark.parametrize("kwargs", [{"feature_dim": 0, "channel_uses": 4}, {"feature_dim": 4, "channel_uses": 0}])
def test_bad_sizes_are_refused(kwargs):
    with pytest.raises(SemlinkError, match="must be a positive integer"):
        FeatureCompressor(**kwargs)
