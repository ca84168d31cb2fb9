"""The linear analog codec: fit from uint8 images, budgets, transmission, checkpoints."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError
from semlink.phy import AnalogLink, AnalogLinkConfig, ChannelConfig
from semlink.seeding import seed_everything
from semlink.systems.analog_codec import symbol_channel, transmit_images
from semlink.systems.linear_analog_model import fit_linear_analog, load_linear_analog, save_linear_analog


def _images(count: int = 400, shape=(10, 10, 3)) -> np.ndarray:
    rng = np.random.default_rng(0)
    smooth = rng.random((count, 1, 1, shape[2])) * rng.random((count, *shape))  # correlated, image-like
    return (255 * smooth).astype(np.uint8)


def test_fit_serves_every_budget_and_fidelity_rises_with_budget_and_snr():
    """Colour 10×10 images, 300 values: more channel uses and more SNR never hurt (same images and noise
    seeds; PSNR differences here are several dB, far beyond the spread of 200 images)."""
    images = _images()
    codec = fit_linear_analog(images[:300], [20, 150])
    assert codec.channel_uses == 150 and codec.klt.num_components == 300 and codec.image_shape == (10, 10, 3)
    link = symbol_channel(AnalogLink(AnalogLinkConfig(channel=ChannelConfig("awgn"), ofdm=None)))
    psnr = {}
    for uses in (20, 150):
        for snr in (0.0, 20.0):
            seed_everything(1)
            out = transmit_images(codec, images[300:], link, snr, channel_uses=uses)
            assert out.images.shape == (100, 10, 10, 3) and out.images.dtype == torch.uint8
            psnr[uses, snr] = float(out.psnr_db.mean())
    assert psnr[150, 20.0] > psnr[20, 20.0] + 3 and psnr[150, 20.0] > psnr[150, 0.0] + 3, psnr


def test_without_noise_the_only_error_is_the_per_image_gain_the_receiver_never_learns():
    """All 300 components, no noise: the receiver returns μ + ρ P (x − μ), P the projection onto the
    components that carry power (300 training images span 299 directions: the last gets none) and
    ρ = √(N / ‖g c‖²) the link's per-image normalisation, which it cannot undo (nothing else is sent)."""
    from semlink.tx.linear_analog import LinearAnalogEncoder

    images = _images()
    codec = fit_linear_analog(images[:300], 150)
    x = torch.as_tensor(images[300:310]).permute(0, 3, 1, 2).float() / 255
    encoder = LinearAnalogEncoder(codec.klt, 150)
    with torch.no_grad():
        sent = codec.encode(x, float("inf"))
        decoded = codec.klt.flatten(codec.decode(sent, torch.zeros(10, 150)))
        raw = encoder.scaled_coefficients(x, float("inf"))
    carried = codec.klt.basis[:, encoder.gains(float("inf"), 1)[0] > 0]
    assert carried.shape[1] == 299
    rho = torch.sqrt(150 / raw.square().sum(1, keepdim=True))
    centred = codec.klt.flatten(x) - codec.klt.mean
    expected = (codec.klt.mean + rho * (centred @ carried @ carried.T)).clamp(0, 1)
    torch.testing.assert_close(decoded, expected, atol=1e-4, rtol=0)
    assert float((rho - 1).abs().max()) > 0.1  # these images' energies differ: the gain is far from 1


def test_checkpoint_round_trip_and_refusals(tmp_path):
    codec = fit_linear_analog(_images()[:200], 64)
    save_linear_analog(codec, tmp_path / "ckpt", dataset="toy")
    loaded, meta = load_linear_analog(tmp_path / "ckpt", expect_image_shape=(10, 10, 3), expect_channel_uses=64)
    assert meta["kind"] == "linear-analog" and meta["dataset"] == "toy" and meta["num_components"] == 128
    images = torch.rand(3, 3, 10, 10)
    error_var = torch.full((3, 64), 0.1)
    with torch.no_grad():
        symbols = codec.encode(images, 5.0)
        torch.testing.assert_close(loaded.encode(images, 5.0), symbols, atol=0, rtol=0)
        torch.testing.assert_close(loaded.decode(symbols, error_var), codec.decode(symbols, error_var), atol=0, rtol=0)
    with pytest.raises(MissingResourceError, match="config.json"):
        load_linear_analog(tmp_path / "nowhere")
    shutil.copytree(tmp_path / "ckpt", tmp_path / "jscc")
    cfg = json.loads((tmp_path / "jscc" / "config.json").read_text())
    (tmp_path / "jscc" / "config.json").write_text(json.dumps({**cfg, "kind": "deep-jscc"}))
    with pytest.raises(CorruptFileError, match="kind 'deep-jscc'"):
        load_linear_analog(tmp_path / "jscc")
    shutil.copytree(tmp_path / "ckpt", tmp_path / "garbage")
    (tmp_path / "garbage" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(CorruptFileError, match="is damaged: its sha256"):  # the weights' checksum, before reading
        load_linear_analog(tmp_path / "garbage")
    with pytest.raises(SemlinkError, match="at most 64 channel uses, not 65"):
        load_linear_analog(tmp_path / "ckpt", expect_channel_uses=65)
    with pytest.raises(SemlinkError, match="images"):
        load_linear_analog(tmp_path / "ckpt", expect_image_shape=(28, 28))


def test_bad_budgets_and_images_are_refused():
    with pytest.raises(SemlinkError, match="channel_uses = 0"):
        fit_linear_analog(_images()[:50], 0)
    with pytest.raises(SemlinkError, match="uint8"):
        fit_linear_analog(_images()[:50].astype(np.float32), 8)
    codec = fit_linear_analog(_images()[:50], 8)
    with pytest.raises(SemlinkError, match="channel_uses = 9; this code sends at most 8"):
        codec.encode(torch.rand(2, 3, 10, 10), 0.0, channel_uses=9)
