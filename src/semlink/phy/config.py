"""Configuration of the PHY: channel, OFDM grid, digital and analog links (frozen dataclasses).

Every config validates itself on construction and raises :class:`~semlink.errors.SemlinkError`
naming the bad value and what is accepted. ``from_dict`` builds a config (and its nested configs)
from plain JSON-like data; ``dataclasses.asdict`` goes the other way.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from semlink.errors import SemlinkError, choice_error
from semlink.phy.mcs import Mcs
from semlink.phy.modulations import MODULATIONS  # re-exported here, where the link's keys are

__all__ = [
    "MODULATIONS",
    "CHANNELS",
    "CSI_MODES",
    "INTERPOLATIONS",
    "EQUALIZERS",
    "DECODERS",
    "DEFAULT_NMS_SCALE",
    "ChannelConfig",
    "OfdmConfig",
    "DigitalLinkConfig",
    "AnalogLinkConfig",
]

#: Accepted channel names. ``awgn`` and ``rayleigh`` work with and without an OFDM grid;
#: the 3GPP TR 38.901 TDL/CDL models need one.
CHANNELS: tuple[str, ...] = (
    "awgn",
    "rayleigh",
    "tdl-a",
    "tdl-b",
    "tdl-c",
    "tdl-d",
    "tdl-e",
    "cdl-a",
    "cdl-b",
    "cdl-c",
    "cdl-d",
    "cdl-e",
)

#: Channels that work without an OFDM grid (flat mode).
FLAT_CHANNELS: tuple[str, ...] = ("awgn", "rayleigh")

#: Receiver channel knowledge: genie (``perfect``), least squares on the pilots interpolated to the
#: data REs (``ls``), or LS followed by LMMSE filtering across OFDM symbols and subcarriers with the
#: configured channel model's covariance (``lmmse``; see :mod:`semlink.phy.estimation`).
CSI_MODES: tuple[str, ...] = ("perfect", "ls", "lmmse")

#: Interpolation of LS estimates from pilot to data REs: nearest neighbour or linear (``ls`` only).
INTERPOLATIONS: tuple[str, ...] = ("nn", "lin")

#: Analog-link equalisers (see :mod:`semlink.phy.equalizer`): ``lmmse`` is Sionna's unbiased LMMSE
#: (``x_hat = x + e``), ``lmmse-biased`` the per-symbol MMSE estimate (``conj(h) y / (|h|^2 + s)``).
#: The digital link always uses ``lmmse``: its APP demapper needs the unbiased model.
EQUALIZERS: tuple[str, ...] = ("lmmse", "lmmse-biased")

#: LDPC decoders: Sionna's flooding BP (the reference, any device), and semlink's layered
#: sum-product and normalised min-sum with early stop (numba, CPU): see :mod:`semlink.phy.coding`.
DECODERS: tuple[str, ...] = ("sionna-bp", "layered-bp", "layered-nms")

#: Default normalisation factor of ``layered-nms``'s min-sum messages.
DEFAULT_NMS_SCALE = 0.75


def _positive_float(value: Any, name: str, allow_zero: bool = False) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = math.nan
    if isinstance(value, bool) or not math.isfinite(out) or out < 0 or (out == 0 and not allow_zero):
        accepted = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise SemlinkError(f"{name} must be {accepted}, got {value!r}")
    return out


def _int_at_least(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SemlinkError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class ChannelConfig:
    """Propagation channel.

    - ``name``: one of :data:`CHANNELS` (case-insensitive). ``rayleigh`` is block fading: one complex
      Gaussian coefficient per OFDM slot (grid), or per example in flat mode. TDL/CDL are the
      TR 38.901 models (SISO; CDL with single omni, vertically polarised antennas at UT and BS,
      downlink), each OFDM slot an independent realisation.
    - ``delay_spread_ns``: RMS delay spread of TDL/CDL (ignored otherwise).
    - ``carrier_frequency_hz``: carrier frequency (Doppler for TDL/CDL).
    - ``speed_mps``: UT speed; 0 means a channel constant over the slot.
    """

    name: str = "awgn"
    delay_spread_ns: float = 100.0
    carrier_frequency_hz: float = 3.5e9
    speed_mps: float = 0.0

    def __post_init__(self) -> None:
        name = self.name.lower().strip() if isinstance(self.name, str) else self.name
        if name not in CHANNELS:
            raise choice_error("channel", self.name, CHANNELS)
        _set(self, "name", name)
        _set(self, "delay_spread_ns", _positive_float(self.delay_spread_ns, "delay_spread_ns"))
        _set(self, "carrier_frequency_hz", _positive_float(self.carrier_frequency_hz, "carrier_frequency_hz"))
        _set(self, "speed_mps", _positive_float(self.speed_mps, "speed_mps", allow_zero=True))

    @property
    def family(self) -> str:
        """``awgn``, ``rayleigh``, ``tdl`` or ``cdl``."""
        return self.name.split("-")[0]

    @property
    def model(self) -> str | None:
        """The TR 38.901 model letter (``"A"``..``"E"``) of TDL/CDL channels, else None."""
        return self.name.split("-")[1].upper() if "-" in self.name else None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | ChannelConfig) -> ChannelConfig:
        return data if isinstance(data, ChannelConfig) else _from_mapping(cls, data)


@dataclass(frozen=True)
class OfdmConfig:
    """One OFDM slot (Sionna ``ResourceGrid``) with Kronecker pilots (random QPSK, unit energy).

    The default is one 5G NR slot of 6 resource blocks: 72 subcarriers at 30 kHz, 14 OFDM symbols,
    pilots on all subcarriers of symbols 2 and 11, no guard or DC carriers: 72 * 12 = 864 data REs
    per slot (1008 REs, 144 pilots).
    """

    fft_size: int = 72
    subcarrier_spacing_hz: float = 30e3
    num_ofdm_symbols: int = 14
    cyclic_prefix_length: int = 6
    pilot_ofdm_symbol_indices: tuple[int, ...] = (2, 11)
    num_guard_carriers: tuple[int, int] = (0, 0)
    dc_null: bool = False

    def __post_init__(self) -> None:
        fft = _int_at_least(self.fft_size, "fft_size", 1)
        _positive_float(self.subcarrier_spacing_hz, "subcarrier_spacing_hz")
        _set(self, "subcarrier_spacing_hz", float(self.subcarrier_spacing_hz))
        nsym = _int_at_least(self.num_ofdm_symbols, "num_ofdm_symbols", 1)
        cp = _int_at_least(self.cyclic_prefix_length, "cyclic_prefix_length", 0)
        if cp > fft:
            raise SemlinkError(f"cyclic_prefix_length must be <= fft_size={fft}, got {cp}")
        pilots = self.pilot_ofdm_symbol_indices
        if isinstance(pilots, int) or not isinstance(pilots, Sequence):
            raise SemlinkError(f"pilot_ofdm_symbol_indices must be a sequence of integers, got {pilots!r}")
        pilots = tuple(pilots)
        if not pilots:
            raise SemlinkError("pilot_ofdm_symbol_indices must name at least one OFDM symbol (got none)")
        for p in pilots:
            if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p < nsym:
                raise SemlinkError(
                    f"pilot OFDM symbol index {p!r} is outside the grid; accepted: integers in [0, {nsym - 1}] "
                    f"for num_ofdm_symbols={nsym}"
                )
        if len(set(pilots)) != len(pilots):
            raise SemlinkError(f"pilot_ofdm_symbol_indices must be distinct, got {pilots!r}")
        if len(pilots) >= nsym:
            raise SemlinkError(
                f"the grid of {nsym} OFDM symbols is too small for {len(pilots)} pilot symbols "
                f"{pilots!r}: no OFDM symbol would carry data"
            )
        _set(self, "pilot_ofdm_symbol_indices", tuple(sorted(int(p) for p in pilots)))
        guards = tuple(self.num_guard_carriers)
        if len(guards) != 2 or any(isinstance(g, bool) or not isinstance(g, int) or g < 0 for g in guards):
            raise SemlinkError(
                f"num_guard_carriers must be two integers >= 0, got {self.num_guard_carriers!r}"
            )
        _set(self, "num_guard_carriers", (int(guards[0]), int(guards[1])))
        if not isinstance(self.dc_null, bool):
            raise SemlinkError(f"dc_null must be a bool, got {self.dc_null!r}")
        if self.num_effective_subcarriers < 1:
            raise SemlinkError(
                f"fft_size={fft} leaves no usable subcarrier with guards {guards} and dc_null={self.dc_null}"
            )
        if self.dc_null and (guards[0] > fft // 2 or guards[1] > fft - fft // 2 - 1):
            raise SemlinkError(f"guard carriers {guards} must not cover the DC carrier of fft_size={fft}")

    @property
    def num_effective_subcarriers(self) -> int:
        return self.fft_size - sum(self.num_guard_carriers) - int(self.dc_null)

    @property
    def num_data_symbols(self) -> int:
        """Data REs per slot."""
        return self.num_effective_subcarriers * (self.num_ofdm_symbols - len(self.pilot_ofdm_symbol_indices))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | OfdmConfig) -> OfdmConfig:
        if isinstance(data, OfdmConfig):
            return data
        data = dict(data)
        for key in ("pilot_ofdm_symbol_indices", "num_guard_carriers"):
            if key in data and isinstance(data[key], list):
                data[key] = tuple(data[key])
        return _from_mapping(cls, data)


def _check_link_common(cfg: Any) -> None:
    if not isinstance(cfg.channel, ChannelConfig):
        _set(cfg, "channel", ChannelConfig.from_dict(cfg.channel))
    if cfg.ofdm is not None and not isinstance(cfg.ofdm, OfdmConfig):
        _set(cfg, "ofdm", OfdmConfig.from_dict(cfg.ofdm))
    csi = cfg.csi.lower() if isinstance(cfg.csi, str) else cfg.csi
    if csi not in CSI_MODES:
        raise choice_error("csi", cfg.csi, CSI_MODES)
    _set(cfg, "csi", csi)
    interp = cfg.interpolation.lower() if isinstance(cfg.interpolation, str) else cfg.interpolation
    if interp not in INTERPOLATIONS:
        raise choice_error("interpolation", cfg.interpolation, INTERPOLATIONS)
    _set(cfg, "interpolation", interp)
    if cfg.ofdm is None:
        if cfg.channel.name not in FLAT_CHANNELS:
            raise SemlinkError(
                f"channel {cfg.channel.name!r} needs an OFDM grid (ofdm=None is flat mode); "
                f"accepted without a grid: {', '.join(FLAT_CHANNELS)}"
            )
        if cfg.csi != "perfect":
            raise SemlinkError(
                f"csi={cfg.csi!r} needs an OFDM grid with pilots (ofdm=None is flat mode); "
                "accepted without a grid: perfect"
            )


@dataclass(frozen=True)
class DigitalLinkConfig:
    """Bits over 5G LDPC + QAM + (OFDM) + channel + estimation + LMMSE + APP demapping + LDPC decoding.

    Two ways to code:

    - ``mcs`` (an :class:`~semlink.phy.mcs.Mcs`, or a mapping such as ``{"table": "38.214-1",
      "index": 9}``): the link sends 5G NR transport blocks at that MCS (:mod:`semlink.phy.transport`;
      CRCs, segmentation and rate matching follow from the allocation); ``modulation`` must be the
      MCS's and ``code_k``/``code_n`` None (:meth:`for_mcs` fills them in).
    - ``code_k``/``code_n``: information and codeword bits of one standalone 5G NR LDPC code block
      (TS 38.212, Sionna ``LDPC5GEncoder``: 12 <= k <= 8448, 1/5 <= k/n <= 0.95, base-graph
      limits; ``n`` a multiple of the bits per symbol), payloads cut into such blocks with the
      syndrome as the only check: code studies (``semlink phy ber``). Both None means uncoded.

    ``ofdm=None`` is flat mode.
    ``decoder``: one of :data:`DECODERS`; ``bp_iterations`` is its number of iterations
    (``sionna-bp``) or the most it may use (layered decoders stop at a zero syndrome);
    ``nms_scale`` is the min-sum normalisation factor of ``layered-nms``, in (0, 1].
    """

    modulation: str = "qpsk"
    code_k: int | None = 1024
    code_n: int | None = 2048
    channel: ChannelConfig = field(default_factory=ChannelConfig)
    ofdm: OfdmConfig | None = field(default_factory=OfdmConfig)
    csi: str = "perfect"
    interpolation: str = "nn"
    bp_iterations: int = 20
    decoder: str = "sionna-bp"
    nms_scale: float = DEFAULT_NMS_SCALE
    mcs: Mcs | None = None

    def __post_init__(self) -> None:
        mod = (
            self.modulation.lower().replace("-", "") if isinstance(self.modulation, str) else self.modulation
        )
        if mod not in MODULATIONS:
            raise choice_error("modulation", self.modulation, MODULATIONS)
        _set(self, "modulation", mod)
        _check_link_common(self)
        _int_at_least(self.bp_iterations, "bp_iterations", 1)
        decoder = self.decoder.lower().strip() if isinstance(self.decoder, str) else self.decoder
        if decoder not in DECODERS:
            raise choice_error("LDPC decoder", self.decoder, DECODERS)
        _set(self, "decoder", decoder)
        scale = _positive_float(self.nms_scale, "nms_scale")
        if scale > 1.0:
            raise SemlinkError(f"nms_scale must be in (0, 1], got {self.nms_scale!r}")
        _set(self, "nms_scale", scale)
        k, n = self.code_k, self.code_n
        if (k is None) != (n is None):
            raise SemlinkError(
                f"code_k and code_n must both be integers (coded) or both None (uncoded), got k={k!r}, n={n!r}"
            )
        if k is not None:
            from semlink.phy.code_rules import check_code_params

            check_code_params(k, n, self.bits_per_symbol)
        if self.mcs is not None:
            mcs = Mcs.from_dict(self.mcs)
            _set(self, "mcs", mcs)
            if k is not None:
                raise SemlinkError(
                    f"code_k/code_n ({k}, {n}) describe standalone code blocks; with mcs={mcs.label} the code "
                    "follows from the MCS and the allocation: set them to None (DigitalLinkConfig.for_mcs)"
                )
            if mod != mcs.modulation:
                raise SemlinkError(
                    f"modulation {mod!r} disagrees with mcs={mcs.label}; accepted: {mcs.modulation!r} "
                    "(DigitalLinkConfig.for_mcs)"
                )

    @property
    def bits_per_symbol(self) -> int:
        return MODULATIONS[self.modulation]

    @property
    def coded(self) -> bool:
        """True for transport blocks (``mcs``) and standalone LDPC blocks (``code_k``/``code_n``)."""
        return self.code_k is not None or self.mcs is not None

    @classmethod
    def for_mcs(cls, mcs: Any, **kwargs: Any) -> DigitalLinkConfig:
        """A transport-block link at ``mcs`` (an ``Mcs`` or its mapping); ``kwargs``: the other fields.

        >>> DigitalLinkConfig.for_mcs({"table": "38.214-1", "index": 10}).modulation
        '16qam'
        """

        mcs = Mcs.from_dict(mcs)
        return cls(**{"modulation": mcs.modulation, "code_k": None, "code_n": None, **kwargs, "mcs": mcs})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | DigitalLinkConfig) -> DigitalLinkConfig:
        return data if isinstance(data, DigitalLinkConfig) else _from_mapping(cls, data)


@dataclass(frozen=True)
class AnalogLinkConfig:
    """Complex symbols over (OFDM) + channel + estimation + equalisation, differentiable; ``ofdm=None`` is flat.

    The receiver's front end is fixed: every analog decoder reads the per-symbol MMSE estimate and its
    error variance (:mod:`semlink.phy.analog`), so the analog link has no equaliser setting.
    """

    channel: ChannelConfig = field(default_factory=ChannelConfig)
    ofdm: OfdmConfig | None = field(default_factory=OfdmConfig)
    csi: str = "perfect"
    interpolation: str = "nn"

    def __post_init__(self) -> None:
        _check_link_common(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | AnalogLinkConfig) -> AnalogLinkConfig:
        return data if isinstance(data, AnalogLinkConfig) else _from_mapping(cls, data)


def _from_mapping(cls: type, data: Mapping[str, Any]) -> Any:
    if not isinstance(data, Mapping):
        raise SemlinkError(f"{cls.__name__} must be given as a mapping, got {type(data).__name__}")
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise SemlinkError(
            f"unknown {cls.__name__} field(s) {', '.join(unknown)}; accepted: {', '.join(names)}"
        )
    return cls(**dict(data))
