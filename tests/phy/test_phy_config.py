"""Configs validate themselves; every bad value is a SemlinkError naming it and what is accepted."""

from __future__ import annotations

import dataclasses

import pytest

from semlink.errors import SemlinkError
from semlink.phy import (
    CHANNELS,
    MODULATIONS,
    AnalogLinkConfig,
    ChannelConfig,
    DigitalLinkConfig,
    OfdmConfig,
)


def test_accepted_names() -> None:
    assert MODULATIONS == {"qpsk": 2, "16qam": 4, "64qam": 6, "256qam": 8}
    assert CHANNELS[:2] == ("awgn", "rayleigh")
    assert {f"tdl-{m}" for m in "abcde"} | {f"cdl-{m}" for m in "abcde"} <= set(CHANNELS)


def test_default_grid() -> None:
    cfg = OfdmConfig()
    assert (cfg.fft_size, cfg.num_ofdm_symbols, cfg.pilot_ofdm_symbol_indices) == (72, 14, (2, 11))
    assert cfg.num_data_symbols == 72 * 12


def test_channel_config_normalises_and_exposes_family() -> None:
    cfg = ChannelConfig("TDL-A", delay_spread_ns=30)
    assert cfg.name == "tdl-a" and cfg.family == "tdl" and cfg.model == "A"
    assert ChannelConfig("awgn").model is None


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"name": "foo"}, "unknown channel 'foo'; accepted: awgn, rayleigh, tdl-a"),
        ({"name": "tdl-a", "delay_spread_ns": 0}, "delay_spread_ns"),
        ({"name": "tdl-a", "delay_spread_ns": float("nan")}, "delay_spread_ns"),
        ({"name": "awgn", "carrier_frequency_hz": -1}, "carrier_frequency_hz"),
        ({"name": "awgn", "speed_mps": float("inf")}, "speed_mps"),
    ],
)
def test_channel_config_errors(kwargs: dict, fragment: str) -> None:
    with pytest.raises(SemlinkError, match=fragment):
        ChannelConfig(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"fft_size": 0}, "fft_size must be an integer >= 1, got 0"),
        ({"num_ofdm_symbols": -3}, "num_ofdm_symbols"),
        ({"subcarrier_spacing_hz": 0}, "subcarrier_spacing_hz"),
        ({"cyclic_prefix_length": 100}, "cyclic_prefix_length must be <= fft_size=72"),
        (
            {"pilot_ofdm_symbol_indices": (2, 14)},
            r"pilot OFDM symbol index 14 is outside the grid; accepted: .*\[0, 13\]",
        ),
        ({"num_ofdm_symbols": 2, "pilot_ofdm_symbol_indices": (0, 1)}, "too small for 2 pilot symbols"),
        ({"pilot_ofdm_symbol_indices": ()}, "at least one"),
        ({"pilot_ofdm_symbol_indices": (2, 2)}, "distinct"),
        ({"fft_size": 4, "cyclic_prefix_length": 0, "num_guard_carriers": (2, 2)}, "no usable subcarrier"),
    ],
)
def test_ofdm_config_errors(kwargs: dict, fragment: str) -> None:
    with pytest.raises(SemlinkError, match=fragment):
        OfdmConfig(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"modulation": "8psk"}, "unknown modulation '8psk'; accepted: qpsk, 16qam, 64qam, 256qam"),
        ({"code_k": 2048, "code_n": 1024}, "code_k must be smaller than code_n"),
        ({"code_k": 1024, "code_n": 1024}, "code_k must be smaller than code_n"),
        ({"code_k": 1024, "code_n": None}, "both None"),
        ({"code_k": 0, "code_n": 100}, "code_k must be a positive integer"),
        ({"code_k": 8, "code_n": 40}, "unsupported LDPC code k=8, n=40"),
        ({"code_k": 100, "code_n": 1000}, "unsupported LDPC code k=100, n=1000"),  # rate < 1/5
        ({"code_k": 9000, "code_n": 18000}, "unsupported LDPC code k=9000"),  # k > 8448
        ({"modulation": "64qam", "code_k": 1024, "code_n": 2048}, "not a multiple of 6 bits per symbol"),
        ({"csi": "genie"}, "unknown csi 'genie'; accepted: perfect, ls"),
        ({"interpolation": "cubic"}, "unknown interpolation 'cubic'; accepted: nn, lin"),
        ({"bp_iterations": 0}, "bp_iterations"),
        ({"ofdm": None, "channel": ChannelConfig("tdl-a")}, "channel 'tdl-a' needs an OFDM grid"),
        ({"ofdm": None, "csi": "ls"}, "csi='ls' needs an OFDM grid"),
    ],
)
def test_digital_config_errors(kwargs: dict, fragment: str) -> None:
    with pytest.raises(SemlinkError, match=fragment):
        DigitalLinkConfig(**kwargs)


def test_semlink_error_is_value_error() -> None:
    with pytest.raises(ValueError):
        DigitalLinkConfig(modulation="bpsk")


def test_analog_config_errors() -> None:
    with pytest.raises(SemlinkError, match="needs an OFDM grid"):
        AnalogLinkConfig(channel=ChannelConfig("cdl-c"), ofdm=None)
    with pytest.raises(SemlinkError, match="unknown csi 'mmse'; accepted: perfect, ls, lmmse"):
        AnalogLinkConfig(csi="mmse")
    with pytest.raises(TypeError, match="equalizer"):  # the analog front end has one form: no setting
        AnalogLinkConfig(equalizer="lmmse")
    with pytest.raises(SemlinkError, match="csi='lmmse' needs an OFDM grid"):
        AnalogLinkConfig(csi="lmmse", ofdm=None)
    assert AnalogLinkConfig(csi="LMMSE").csi == "lmmse"
    assert DigitalLinkConfig(csi="lmmse").csi == "lmmse"


def test_uncoded_and_valid_codes() -> None:
    assert not DigitalLinkConfig(code_k=None, code_n=None).coded
    DigitalLinkConfig(modulation="64qam", code_k=1000, code_n=1998)
    DigitalLinkConfig(modulation="256qam", code_k=3000, code_n=4000)


def test_from_dict_round_trip() -> None:
    cfg = DigitalLinkConfig(channel=ChannelConfig("tdl-b", speed_mps=3.0), csi="ls", interpolation="lin")
    data = dataclasses.asdict(cfg)
    data["ofdm"]["pilot_ofdm_symbol_indices"] = list(data["ofdm"]["pilot_ofdm_symbol_indices"])
    assert DigitalLinkConfig.from_dict(data) == cfg
    assert (
        AnalogLinkConfig.from_dict({"channel": {"name": "rayleigh"}, "ofdm": None}).channel.name == "rayleigh"
    )
    with pytest.raises(SemlinkError, match="unknown DigitalLinkConfig field"):
        DigitalLinkConfig.from_dict({"modulation": "qpsk", "rate": 0.5})
