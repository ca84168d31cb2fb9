"""Image encoders: spec parsing, EfficientNet-Lite0 with its real weights, CLIP through open_clip."""

from __future__ import annotations

import json
import os
import pickle
import socket
import time
import uuid

import numpy as np
import pytest
import torch

from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError
from semlink.tx import create_encoder, parse_encoder_spec
from semlink.tx.encoders import as_uint8_rgb, load_state_dict_safely

# ---------------------------------------------------------------------------------------------- specs


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("efficientnet-lite0", ("efficientnet-lite0", None, None, None)),
        ("efficientnet-lite0@imagenet+64px", ("efficientnet-lite0", None, "imagenet", 64)),
        ("clip:ViT-B-32@openai", ("clip", "ViT-B-32", "openai", None)),
        ("CLIP:ViT-B-32@/ckpt/a@b.pt+224px", ("clip", "ViT-B-32", "/ckpt/a@b.pt", 224)),
        ("clip", ("clip", None, None, None)),
    ],
)
def test_parse_encoder_spec(spec, expected):
    assert parse_encoder_spec(spec) == expected


@pytest.mark.parametrize("spec", ["", "   ", "clip:@openai", "clip:ViT-B-32@"])
def test_bad_specs_are_refused(spec):
    with pytest.raises(SemlinkError):
        parse_encoder_spec(spec)


def test_unknown_family_names_accepted_ones():
    with pytest.raises(SemlinkError, match="efficientnet-lite0"):
        create_encoder("resnet-9000")


def test_size_conflict_and_bad_size():
    with pytest.raises(SemlinkError, match="64px"):
        create_encoder("efficientnet-lite0+64px", image_size=32)
    for bad in (3, "big", 64.5, True):
        with pytest.raises(SemlinkError, match="image_size"):
            create_encoder("efficientnet-lite0", image_size=bad)
    with pytest.raises(SemlinkError, match="batch_size"):
        create_encoder("efficientnet-lite0", batch_size=0)
    with pytest.raises(SemlinkError, match="device"):
        create_encoder("efficientnet-lite0", device="gpu-please")


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


# ------------------------------------------------------------------------------ EfficientNet-Lite0


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


class _Boom:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_unsafe_torch_checkpoint_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    with open(path, "wb") as fh:
        pickle.dump({"conv.weight": _Boom(marker)}, fh)
    with pytest.raises(CorruptFileError, match="weights_only"):
        load_state_dict_safely(path)
    with pytest.raises(CorruptFileError):
        create_encoder(f"efficientnet-lite0@{path}")
    assert not marker.exists()


# ------------------------------------------------------------------------------------------- CLIP

TINY_VIT = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 64, "width": 32, "heads": 1, "layers": 1},
}


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A tiny ViT CLIP registered with open_clip, with random weights saved as .pt and .safetensors."""
    open_clip = pytest.importorskip("open_clip")
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("tiny_clip")
    name = f"semlink-tiny-vit-{uuid.uuid4().hex[:8]}"
    (root / f"{name}.json").write_text(json.dumps(TINY_VIT))
    open_clip.add_model_config(root / f"{name}.json")
    torch.manual_seed(0)
    model = open_clip.create_model(name)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    torch.save(state, root / "tiny.pt")
    save_file(state, str(root / "tiny.safetensors"))
    return name, root


def test_clip_tiny_model_from_local_checkpoint(tiny_clip):
    name, root = tiny_clip
    enc = create_encoder(f"clip:{name}@{root / 'tiny.pt'}", device="cpu", batch_size=3)
    assert enc.dim == 32 and enc.image_size == 32
    assert enc.name == f"clip:{name}@{(root / 'tiny.pt').resolve()}+32px"
    assert not enc.model.training
    x = np.random.default_rng(0).integers(0, 256, size=(5, 48, 40, 3), dtype=np.uint8)
    feats = enc.encode(x)
    assert feats.shape == (5, 32) and feats.dtype == torch.float32
    torch.testing.assert_close(feats.norm(dim=-1), torch.ones(5), atol=1e-5, rtol=0)
    # the same weights from safetensors give the same features; the preprocess is open_clip's own
    enc2 = create_encoder(f"clip:{name}@{root / 'tiny.safetensors'}", device="cpu")
    torch.testing.assert_close(enc2.encode(x), feats, atol=1e-5, rtol=1e-4)
    from PIL import Image

    manual = enc.model.encode_image(torch.stack([enc.preprocess(Image.fromarray(a)) for a in x]))
    torch.testing.assert_close(
        torch.nn.functional.normalize(manual.detach(), dim=-1), feats, atol=1e-5, rtol=1e-4
    )
    # weights really came from the file: they equal the saved state dict
    saved = load_state_dict_safely(root / "tiny.pt")
    torch.testing.assert_close(enc.model.visual.proj.detach(), saved["visual.proj"])
    # grayscale input works
    assert enc.encode(x[..., 0]).shape == (5, 32)


def test_clip_missing_weights_fail_fast_without_network(tiny_clip, tmp_path, monkeypatch):
    import open_clip  # noqa: F401  (imported before timing; the import itself is slow)

    def _no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", _no_network)
    start = time.perf_counter()
    with pytest.raises(MissingResourceError) as info:
        create_encoder("clip:ViT-B-32@openai", cache_dir=tmp_path, device="cpu")
    assert time.perf_counter() - start < 5.0
    message = str(info.value)
    assert "openai" in message and "clip:ViT-B-32@/path/to/checkpoint" in message
    with pytest.raises(MissingResourceError, match="neither a pretrained tag"):
        create_encoder(f"clip:ViT-B-32@{tmp_path / 'nope.pt'}", device="cpu")
    with pytest.raises(SemlinkError, match="unknown open_clip model"):
        create_encoder("clip:NoSuchNet@openai", device="cpu")
    assert time.perf_counter() - start < 10.0


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_clip_refuses_unsafe_checkpoint(tiny_clip, tmp_path):
    name, _ = tiny_clip
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    with open(path, "wb") as fh:  # a plain pickle that would run a command when unpickled
        pickle.dump({"visual.proj": _Boom(marker)}, fh)
    with pytest.raises(CorruptFileError):
        create_encoder(f"clip:{name}@{path}", device="cpu")
    assert not marker.exists()


def test_clip_pretrained_tag_resolved_from_local_hf_cache(tiny_clip, tmp_path, monkeypatch):
    """A tag whose file sits in the Hugging Face cache loads offline, with the tag's preprocessing."""
    import shutil

    import open_clip.pretrained as ocp

    name, root = tiny_clip
    repo, commit = "semlink-test/tiny-clip", "0" * 40
    snapshot = tmp_path / "models--semlink-test--tiny-clip" / "snapshots" / commit
    snapshot.mkdir(parents=True)
    shutil.copy(root / "tiny.safetensors", snapshot / "open_clip_model.safetensors")
    (tmp_path / "models--semlink-test--tiny-clip" / "refs").mkdir()
    (tmp_path / "models--semlink-test--tiny-clip" / "refs" / "main").write_text(commit)
    tag_cfg = {"hf_hub": f"{repo}/", "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25)}
    monkeypatch.setitem(ocp._PRETRAINED, name, {"testtag": tag_cfg})
    monkeypatch.setattr(
        socket.socket, "connect", lambda *a, **k: (_ for _ in ()).throw(AssertionError("network"))
    )

    enc = create_encoder(f"clip:{name}@testtag", cache_dir=tmp_path, device="cpu")
    assert enc.name == f"clip:{name}@testtag+32px"
    normalize = [t for t in enc.preprocess.transforms if type(t).__name__ == "Normalize"][0]
    assert tuple(normalize.mean) == (0.5, 0.5, 0.5) and tuple(normalize.std) == (0.25, 0.25, 0.25)
    local = create_encoder(f"clip:{name}@{root / 'tiny.safetensors'}", device="cpu")
    torch.testing.assert_close(enc.model.visual.proj, local.model.visual.proj)
    with pytest.raises(MissingResourceError, match="testtag"):
        create_encoder(f"clip:{name}@testtag", cache_dir=tmp_path / "empty", device="cpu")
