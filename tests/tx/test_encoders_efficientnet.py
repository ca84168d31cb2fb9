"""EfficientNet-Lite0 with its real packaged ImageNet weights, and local state dicts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semlink.errors import CorruptFileError, MissingResourceError
from semlink.tx import create_encoder


@pytest.fixture(scope="module")
def lite0_224():
    return create_encoder("efficientnet-lite0", image_size=224, device="cpu")


def test_efficientnet_lite0_classifies_chelsea_as_a_cat(lite0_224):
    skimage_data = pytest.importorskip("skimage.data")
    cat = skimage_data.chelsea()  # [300, 451, 3] uint8
    logits = lite0_224.classify(cat[None])
    assert logits.shape == (1, 1000) and logits.dtype == torch.float32
    top5 = set(logits[0].topk(5).indices.tolist())
    assert top5 & set(range(281, 286)), f"no ImageNet cat class (281-285) in top-5 {sorted(top5)}"
    assert int(logits[0].argmax()) in range(281, 286)


def test_efficientnet_lite0_features(lite0_224):
    assert lite0_224.name == "efficientnet-lite0@imagenet+224px"
    assert lite0_224.dim == 1280
    assert not lite0_224.model.training
    assert len(lite0_224.weights_id) == 64
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(3, 40, 30, 3), dtype=np.uint8)
    feats = lite0_224.encode(rgb)
    assert feats.shape == (3, 1280) and feats.dtype == torch.float32
    assert not feats.requires_grad
    torch.testing.assert_close(feats.norm(dim=-1), torch.ones(3), atol=1e-5, rtol=0)
    # torch input gives the same features as NumPy input; grayscale is replicated to RGB
    torch.testing.assert_close(lite0_224.encode(torch.from_numpy(rgb)), feats)
    gray = rgb[..., 0]
    torch.testing.assert_close(lite0_224.encode(gray), lite0_224.encode(np.repeat(gray[..., None], 3, -1)))
    assert lite0_224.encode(np.zeros((0, 8, 8), np.uint8)).shape == (0, 1280)


def test_efficientnet_lite0_batching_and_name_roundtrip(lite0_224, tmp_path):
    enc = create_encoder("efficientnet-lite0+32px", batch_size=2, device="cpu")
    assert enc.name == "efficientnet-lite0@imagenet+32px"
    x = np.random.default_rng(1).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    one_go = create_encoder(enc.name, batch_size=64, device="cpu").encode(x)
    torch.testing.assert_close(enc.encode(x), one_go, atol=1e-5, rtol=1e-4)
    # a local state dict (timm key layout, safetensors) loads as custom weights
    from safetensors.torch import save_file

    path = tmp_path / "lite0.safetensors"
    save_file({k: v.contiguous() for k, v in enc.model.state_dict().items()}, str(path))
    local = create_encoder(f"efficientnet-lite0@{path}+32px", device="cpu")
    assert local.name == f"efficientnet-lite0@{path.resolve()}+32px"
    torch.testing.assert_close(local.encode(x), one_go, atol=1e-5, rtol=1e-4)
    with pytest.raises(CorruptFileError, match="does not match"):
        save_file({"foo": torch.zeros(1)}, str(tmp_path / "bad.safetensors"))
        create_encoder(f"efficientnet-lite0@{tmp_path / 'bad.safetensors'}")
    with pytest.raises(MissingResourceError):
        create_encoder(f"efficientnet-lite0@{tmp_path / 'absent.pth'}")
