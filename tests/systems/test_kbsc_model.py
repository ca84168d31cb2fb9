"""The KBSC codec: training through the real AnalogLink without collapse, checkpoints, ONNX."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError
from semlink.metrics import nearest_labels, top_k_accuracy
from semlink.systems.kbsc_model import KbscCodec, analog_channel, load_codec, save_codec
from semlink.systems.kbsc_recipes import TrainSettings
from semlink.systems.kbsc_training import train_codec


def _awgn_link():
    from semlink.phy import AnalogLink, AnalogLinkConfig, ChannelConfig

    return AnalogLink(AnalogLinkConfig(channel=ChannelConfig(name="awgn"), ofdm=None))


def _split(features, labels):
    """Training features, (validation sender features, labels), (receiver features, labels), training labels."""
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(features), generator=g)
    a, b = int(0.8 * len(order)), int(0.9 * len(order))
    pick = lambda idx: (features[idx], labels[idx])  # noqa: E731
    return features[order[:a]], pick(order[a:b]), pick(order[b:]), labels[order[:a]]


@pytest.mark.slow
def test_robust_recipe_trains_through_the_analog_link_without_collapse(fashion_features):
    """Chance is 10 %; the noiseless 1-NN on these features is ~75 %.

    Pass criteria at 99 % confidence: the validation split has 150 items, so an accuracy of 0.45
    lies > 5 binomial standard deviations above chance and several below what training reaches.
    """
    train, val_sender, val_receiver, train_labels = _split(fashion_features["train"], fashion_features["train_labels"])
    settings = TrainSettings(recipe="robust", epochs=8, patience=8, batch_size=64)
    codec, history = train_codec(train, val_sender, val_receiver, analog_channel(_awgn_link()), 64, settings, seed=1,
                                 train_labels=train_labels)
    assert not history.collapsed
    # Decoder outputs vary across inputs as much as the true features do (a collapsed decoder: ~0).
    assert history.output_spread[-1] > 0.3, history.output_spread
    assert history.best_val_accuracy > 0.45
    assert history.epoch_loss[-1] < history.epoch_loss[0]
    # The kept model is the best validation epoch, in eval mode, and reproduces its accuracy at 10 dB.
    assert not codec.training
    test, test_labels = fashion_features["test"], fashion_features["test_labels"]
    with torch.no_grad():
        decoded = codec.decode(analog_channel(_awgn_link())(codec.encode(test[:500]), 10.0))
    found = nearest_labels(decoded, test[500:], test_labels[500:], k=1)
    assert top_k_accuracy(found, test_labels[:500], k=1) > 0.45


def test_collapse_monitor_flags_a_constant_decoder(fashion_features):
    """A decoder whose output BatchNorm gain is zero predicts the mean: the monitor must say so."""
    train, val_sender, val_receiver, _ = _split(fashion_features["train"], fashion_features["train_labels"])

    def flatten_everything(latent, snr_db):
        return torch.zeros_like(latent)  # a channel that erases the message

    settings = TrainSettings(recipe="reference", epochs=2, patience=2)
    _, history = train_codec(train, val_sender, val_receiver, flatten_everything, 16, settings, seed=0)
    assert history.collapsed and history.output_spread[-1] < 0.05
    assert history.best_val_accuracy < 0.3  # chance level, within sampling noise of 150 items


def test_checkpoint_round_trip_and_refusals(tmp_path):
    codec = KbscCodec(32, 8, hidden_dim=16).eval()
    codec.fit_target_statistics(torch.randn(50, 32))
    save_codec(codec, tmp_path / "ckpt", note="x")
    loaded, meta = load_codec(tmp_path / "ckpt")
    x = torch.randn(4, 32)
    assert torch.equal(loaded.decode(loaded.encode(x)), codec.decode(codec.encode(x)))
    assert meta["note"] == "x" and meta["channel_uses"] == 8

    with pytest.raises(MissingResourceError, match="model.safetensors"):
        load_codec(tmp_path / "nowhere")
    (tmp_path / "ckpt" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(CorruptFileError, match="model.safetensors"):
        load_codec(tmp_path / "ckpt")
    save_codec(codec, tmp_path / "ckpt2")
    cfg = json.loads((tmp_path / "ckpt2" / "config.json").read_text())
    cfg["feature_dim"] = 64
    (tmp_path / "ckpt2" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CorruptFileError):
        load_codec(tmp_path / "ckpt2")


def test_bad_training_settings_are_refused():
    with pytest.raises(SemlinkError, match="recipe"):
        TrainSettings(recipe="magic")
    with pytest.raises(SemlinkError, match="batch_size"):
        TrainSettings(batch_size=1)
    with pytest.raises(SemlinkError, match="finite"):
        TrainSettings(snr_db=(float("nan"),))


def test_onnx_export_matches_pytorch(tmp_path):
    import onnxruntime as ort

    from semlink.systems.onnx_export import export_codec

    torch.manual_seed(0)
    codec = KbscCodec(64, 16, hidden_dim=32)
    codec.fit_target_statistics(torch.randn(200, 64))
    codec.train()
    for _ in range(3):  # move BatchNorm running statistics away from their initial values
        codec.decode(codec.encode(torch.randn(32, 64)))
    codec.eval()
    save_codec(codec, tmp_path / "ckpt")
    tx_path, rx_path = export_codec(tmp_path / "ckpt", tmp_path / "onnx")
    from semlink.phy import AnalogLink, AnalogLinkConfig, ChannelConfig, complex_to_real, real_to_complex

    tx, rx = ort.InferenceSession(str(tx_path)), ort.InferenceSession(str(rx_path))
    # Exactly two tensors cross: features -> on-air symbols, received symbols -> features.
    assert [o.name for o in tx.get_outputs()] == ["symbols"] and [i.name for i in rx.get_inputs()] == ["symbols"]
    x = torch.randn(7, 64)
    symbols = tx.run(None, {"features": x.numpy()})[0]
    with torch.no_grad():
        latent = codec.encode(x)
        on_air = real_to_complex(torch.from_numpy(symbols))
        # The TX graph emits what AnalogLink puts on air: the latent at unit average energy.
        np.testing.assert_allclose(on_air.abs().square().mean(-1).numpy(), np.ones(7), rtol=1e-5)
        sent = AnalogLink(AnalogLinkConfig(channel=ChannelConfig("awgn"), ofdm=None))(real_to_complex(latent), 80.0)
        np.testing.assert_allclose(on_air.numpy(), sent.estimate.numpy(), atol=1e-3, rtol=0)
        # The RX graph decodes the received symbols as they come off the link, nothing else.
        received = complex_to_real(sent.estimate)
        features = rx.run(None, {"symbols": received.numpy()})[0]
        np.testing.assert_allclose(features, codec.decode(received).numpy(), atol=1e-5, rtol=0)
    assert on_air.shape == (7, 16)


@pytest.mark.parametrize("noise_input", ["mmse", "mmse-film"])
def test_onnx_receiver_of_a_noise_aware_codec_takes_the_error_variance(tmp_path, noise_input):
    import onnxruntime as ort

    from semlink.phy import AnalogLink, AnalogLinkConfig, ChannelConfig, complex_to_real, real_to_complex
    from semlink.systems.onnx_export import export_codec

    torch.manual_seed(0)
    codec = KbscCodec(64, 16, hidden_dim=32, noise_input=noise_input)
    codec.fit_target_statistics(torch.randn(200, 64))
    codec.eval()
    save_codec(codec, tmp_path / "ckpt")
    loaded, meta = load_codec(tmp_path / "ckpt")
    assert meta["noise_input"] == noise_input and loaded.noise_input == noise_input and "equalizer" not in meta
    tx_path, rx_path = export_codec(tmp_path / "ckpt", tmp_path / "onnx")
    rx = ort.InferenceSession(str(rx_path))
    assert [i.name for i in rx.get_inputs()] == ["symbols", "error_var"]
    x = torch.randn(5, 64)
    with torch.no_grad():
        link = AnalogLink(AnalogLinkConfig(channel=ChannelConfig("rayleigh"), ofdm=None))
        sent = link(real_to_complex(codec.encode(x)), 0.0)
        received = complex_to_real(sent.estimate)
        features = rx.run(None, {"symbols": received.numpy(), "error_var": sent.error_var.numpy()})[0]
        expected = codec.decode(received, sent.error_var)
        np.testing.assert_allclose(features, expected.numpy(), atol=1e-4, rtol=1e-4)
        # The graph really reads the error variance: another one decodes to other features.
        other = rx.run(None, {"symbols": received.numpy(), "error_var": 0.5 * sent.error_var.numpy() + 0.5})[0]
        assert np.abs(other - features).max() > 1e-3


@pytest.mark.parametrize(("keys", "loads"), [
    ({}, False),  # before the decoder could read the noise level: blind, on the unbiased equaliser
    ({"noise_input": "none", "equalizer": "lmmse"}, False),
    ({"noise_input": "none", "equalizer": "lmmse-biased"}, True),  # its input was already the MMSE estimate
    ({"noise_input": "mmse", "equalizer": "lmmse"}, True),  # it converted to the MMSE form itself
])
def test_format_1_checkpoints_load_only_where_the_front_end_leaves_their_input_unchanged(tmp_path, keys, loads):
    noise_input = keys.get("noise_input", "none")
    codec = KbscCodec(32, 8, hidden_dim=16, noise_input=noise_input).eval()
    save_codec(codec, tmp_path / "ckpt")
    cfg = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    cfg.pop("noise_input")
    cfg.update(keys, format=1)
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps(cfg))
    if loads:
        assert load_codec(tmp_path / "ckpt")[0].noise_input == noise_input
    else:
        with pytest.raises(CorruptFileError, match="blind decoder trained on the unbiased equaliser"):
            load_codec(tmp_path / "ckpt")


def test_analog_channel_hands_the_decoder_the_links_front_end():
    from semlink.phy import AnalogLink, AnalogLinkConfig, ChannelConfig

    link = AnalogLink(AnalogLinkConfig(channel=ChannelConfig("awgn"), ofdm=None))
    channel = analog_channel(link)
    latent = torch.randn(3, 10) * 5.0
    received = channel(latent, 0.0)
    assert received.latent.shape == (3, 10) and received.error_var.shape == (3, 5)
    torch.testing.assert_close(received.error_var, torch.full((3, 5), 0.5))  # no / (1 + no) at 0 dB
    clean = channel(latent, float("inf"))
    assert torch.equal(clean.error_var, torch.zeros(3, 5))
    torch.testing.assert_close(clean.latent.square().mean(-1) * 2, torch.ones(3))  # on-air: unit energy
