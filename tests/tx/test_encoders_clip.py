"""CLIP image towers through open_clip: local checkpoints, cached pretrained tags, no network."""

from __future__ import annotations

import json
import socket
import time
import uuid

import numpy as np
import pytest
import torch

from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError
from semlink.tx import create_encoder
from semlink.tx.encoders import load_state_dict_safely

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
def test_clip_refuses_unsafe_checkpoint(tiny_clip, evil_pickle):
    name, _ = tiny_clip
    path, marker = evil_pickle("visual.proj")  # a plain pickle that would run a command when unpickled
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
