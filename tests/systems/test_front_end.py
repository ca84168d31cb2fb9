"""The front-end invariance: every analog decoder receives exactly the link's (estimate, error variance).

Each analog scheme's receiver is driven by the same recording link; the decoder module's inputs are
captured with a forward hook and must be the very tensors the link returned (the estimate, as
complex symbols or their interleaved reals, and the error variance), with nothing else: no SNR, no
transmit scale, no sent symbols. Add a scheme by adding a ``(name, build)`` row to ``SCHEMES``:
``build(link)`` returns ``(send, decoder_module)``, where ``send(images_or_features, snr_db)`` runs
the scheme's transmitter, the link and its receiver as the system does.
"""

from __future__ import annotations

import pytest
import torch

from semlink.phy import AnalogLink, AnalogLinkConfig, ChannelConfig, OfdmConfig, complex_to_real
from semlink.phy.analog import AnalogOutput
from semlink.seeding import seed_everything


class RecordingLink:
    """An AnalogLink that keeps what it returned."""

    def __init__(self, link: AnalogLink) -> None:
        self.link = link
        self.outputs: list[AnalogOutput] = []

    def __call__(self, symbols: torch.Tensor, snr_db) -> AnalogOutput:
        out = self.link(symbols, snr_db)
        self.outputs.append(out)
        return out


def _jscc(link, snr_adaptive: bool):
    from semlink.systems.analog_codec import transmit_images
    from semlink.systems.jscc_model import JsccCodec

    codec = JsccCodec((12, 12), 18, filters=4, snr_adaptive=snr_adaptive).eval()

    def send(images, snr_db):
        return transmit_images(codec, images, link, snr_db)

    return send, codec.decoder


def _linear(link):
    from semlink.systems.analog_codec import transmit_images
    from semlink.systems.linear_analog_model import fit_linear_analog

    codec = fit_linear_analog(torch.randint(0, 256, (60, 12, 12), dtype=torch.uint8), 18)

    def send(images, snr_db):
        return transmit_images(codec, images, link, snr_db)

    # The decoder module is built per call (the budget may vary): hook its class's forward instead.
    return send, None


def _kbsc(link, noise_input: str):
    from semlink.systems.kbsc_model import KbscCodec, analog_channel

    codec = KbscCodec(32, 18, hidden_dim=16, noise_input=noise_input).eval()
    channel = analog_channel(link)

    def send(features, snr_db):
        return codec.decode(channel(codec.encode(features), snr_db))

    return send, codec.decompressor


SCHEMES = {
    "deep-jscc adaptive": lambda link: _jscc(link, True),
    "deep-jscc blind": lambda link: _jscc(link, False),
    "linear-analog": _linear,
    "kbsc mmse": lambda link: _kbsc(link, "mmse"),
    "kbsc blind": lambda link: _kbsc(link, "none"),
}


def _same_tensor(got: torch.Tensor, sent: torch.Tensor) -> bool:
    return got.shape == sent.shape and bool(torch.equal(got, sent))


@pytest.mark.parametrize("scheme", list(SCHEMES))
@pytest.mark.parametrize("ofdm", [None, OfdmConfig()], ids=["flat", "ofdm-ls"])
def test_every_analog_decoder_receives_exactly_the_link_front_end(scheme, ofdm):
    seed_everything(0)
    channel = ChannelConfig("rayleigh" if ofdm is None else "tdl-a")
    link = RecordingLink(AnalogLink(AnalogLinkConfig(channel=channel, ofdm=ofdm, csi="perfect" if ofdm is None else "ls")))
    send, decoder = SCHEMES[scheme](link)
    captured: list[tuple] = []

    def hook(module, args, kwargs):
        captured.append((args, kwargs))

    if decoder is None:  # linear-analog: every decoder instance
        from semlink.rx.linear_analog import LinearAnalogDecoder

        handle = torch.nn.modules.module.register_module_forward_pre_hook(
            lambda m, a: captured.append((a, {})) if isinstance(m, LinearAnalogDecoder) else None)
    else:
        handle = decoder.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        inputs = torch.randint(0, 256, (5, 12, 12), dtype=torch.uint8) if "kbsc" not in scheme else torch.randn(5, 32)
        with torch.no_grad():
            send(inputs, 4.0)
    finally:
        handle.remove()
    assert len(link.outputs) == 1 and len(captured) == 1
    out = link.outputs[0]
    args, kwargs = captured[0]
    assert not kwargs
    estimate, error_var = out
    estimate_as_sent = [estimate, complex_to_real(estimate)]
    assert len(args) == 2 and _same_tensor(args[1], error_var)  # a blind decoder is handed it and ignores it
    assert any(_same_tensor(args[0], e) for e in estimate_as_sent)
