"""TOML run configuration, validated by pydantic.

Every config file maps onto one of the models below; unknown keys are refused so a typo never
silently falls back to a default. :func:`load_toml` turns pydantic's errors into one
:class:`~semlink.errors.SemlinkError` line naming the bad key and value.
"""

from __future__ import annotations

import math
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from semlink.errors import SemlinkError

Model = TypeVar("Model", bound=BaseModel)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChannelSpec(Strict):
    """A channel by name with its fading parameters (see :mod:`semlink.phy`)."""

    name: str = "awgn"
    delay_spread_ns: float = 100.0
    carrier_frequency_hz: float = 3.5e9
    speed_mps: float = 0.0

    def build(self):
        from semlink.phy import ChannelConfig

        return ChannelConfig(**self.model_dump())


class OfdmSpec(Strict):
    """OFDM resource grid; fields left out take :class:`semlink.phy.OfdmConfig` defaults."""

    fft_size: int | None = None
    subcarrier_spacing_hz: float | None = None
    num_ofdm_symbols: int | None = None
    cyclic_prefix_length: int | None = None
    pilot_ofdm_symbol_indices: tuple[int, ...] | None = None

    def build(self):
        from semlink.phy import OfdmConfig

        return OfdmConfig(**self.model_dump(exclude_none=True))


class LinkSpec(Strict):
    """The PHY link shared by every system: channel, optional OFDM grid, CSI, and (digital) code.

    ``csi``: ``perfect`` | ``ls`` | ``lmmse`` (both links); ``interpolation``: ``nn`` | ``lin`` (LS
    only); ``analog_equalizer``: ``lmmse`` (unbiased) | ``lmmse-biased`` (the analog link only; the
    digital link's demapper always gets the unbiased LMMSE). See :mod:`semlink.phy`.
    """

    modulation: str = "qpsk"
    code: tuple[int, int] | Literal["uncoded"] = (1024, 2048)
    csi: Literal["perfect", "ls", "lmmse"] = "perfect"
    interpolation: Literal["nn", "lin"] = "nn"
    analog_equalizer: Literal["lmmse", "lmmse-biased"] = "lmmse"
    bp_iterations: int = 20
    decoder: str = "sionna-bp"  # sionna-bp | layered-bp | layered-nms (checked by DigitalLinkConfig)
    nms_scale: float = 0.75
    channel: ChannelSpec = ChannelSpec()
    ofdm: OfdmSpec | None = None

    @property
    def code_k(self) -> int | None:
        return None if self.code == "uncoded" else int(self.code[0])

    @property
    def code_n(self) -> int | None:
        return None if self.code == "uncoded" else int(self.code[1])

    def _shared(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """What both links take: channel, grid and channel estimation, with ``overrides`` applied."""
        kwargs = dict(
            channel=self.channel.build(),
            ofdm=self.ofdm.build() if self.ofdm is not None else None,
            csi=self.csi,
            interpolation=self.interpolation,
        )
        return {**kwargs, **overrides}

    def digital(self, **overrides: Any):
        from semlink.phy import DigitalLinkConfig

        coding = dict(modulation=self.modulation, code_k=self.code_k, code_n=self.code_n,
                      bp_iterations=self.bp_iterations, decoder=self.decoder, nms_scale=self.nms_scale)
        return DigitalLinkConfig(**self._shared({**coding, **overrides}))

    def analog(self, **overrides: Any):
        from semlink.phy import AnalogLinkConfig

        return AnalogLinkConfig(**self._shared({"equalizer": self.analog_equalizer, **overrides}))

    def describe(self, channel: ChannelSpec | None = None, *, digital: bool = False,
                 modulation: str | None = None, code: tuple[int, int] | str | None = None) -> dict[str, Any]:
        """Flat results-row columns naming this link on ``channel`` (default: the link's own).

        Analog links leave the coding columns empty; a digital link reports the modulation and code
        it actually uses (``modulation``/``code`` override the link's defaults, as a system may).
        """
        channel = channel if channel is not None else self.channel
        grid = self.ofdm.build() if self.ofdm is not None else None
        row: dict[str, Any] = {
            "link": "digital" if digital else "analog",
            "delay_spread_ns": channel.delay_spread_ns,
            "speed_mps": channel.speed_mps,
            "carrier_frequency_hz": channel.carrier_frequency_hz,
            "csi": self.csi,
            "interpolation": self.interpolation,
            "ofdm": grid is not None,
            "fft_size": grid.fft_size if grid else None,
            "subcarrier_spacing_hz": grid.subcarrier_spacing_hz if grid else None,
            "num_ofdm_symbols": grid.num_ofdm_symbols if grid else None,
            "cyclic_prefix_length": grid.cyclic_prefix_length if grid else None,
            "pilot_ofdm_symbols": ",".join(str(i) for i in grid.pilot_ofdm_symbol_indices) if grid else None,
            "equalizer": "lmmse" if digital else self.analog_equalizer,
            "modulation": None,
            "code_k": None,
            "code_n": None,
            "code_rate": None,
            "decoder": None,
            "bp_iterations": None,
        }
        if digital:
            code = self.code if code is None else code
            k, n = (None, None) if code == "uncoded" else (int(code[0]), int(code[1]))
            row.update(modulation=(modulation or self.modulation).lower(), code_k=k, code_n=n,
                       code_rate=(k / n if k else 1.0), decoder=self.decoder if k else None,
                       bp_iterations=self.bp_iterations if k else None)
        return row


def _finite_db_list(values: list[float]) -> list[float]:
    if len(values) == 0:
        raise ValueError("is empty; give at least one value in dB")
    bad = [v for v in values if not math.isfinite(v)]
    if bad:
        raise ValueError(f"contains non-finite values {bad}; every value must be a finite number of dB")
    return values


DbList = Annotated[list[float], AfterValidator(_finite_db_list)]
"""A non-empty list of finite dB values (SNR points)."""


class BerSweepConfig(Strict):
    """``semlink phy ber``: Monte Carlo BER/BLER over a list of SNR (or Eb/N0) points."""

    seed: int = Field(42, ge=0, lt=2**63)
    snr_db: DbList | None = None
    ebno_db: DbList | None = None
    batch_size: int = Field(1000, gt=0)
    target_block_errors: int = Field(100, gt=0)
    max_iter: int = Field(100, gt=0)
    link: LinkSpec = LinkSpec()

    @model_validator(mode="after")
    def _one_axis(self):
        if (self.snr_db is None) == (self.ebno_db is None):
            raise ValueError("give exactly one of snr_db or ebno_db (a list of dB values)")
        self.link.digital()  # the PHY checks its own settings (code, grid, pilots, channel)
        return self


def format_validation_error(err: ValidationError, source: str = "config") -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(root)"
        if e["type"] == "extra_forbidden":
            parts.append(f"unknown key {loc!r} (not an accepted setting; check its spelling and section)")
            continue
        if e["type"] == "missing":
            parts.append(f"missing required setting {loc!r}")
            continue
        if e["type"] == "value_error":  # our own validators: the message already names the value
            parts.append(f"{loc}: {e['msg'].removeprefix('Value error, ')}")
            continue
        value = e.get("input")
        shown = "" if isinstance(value, (dict, list)) else f" (got {value!r})"
        parts.append(f"{loc}: {e['msg']}{shown}")
    return f"invalid {source}: " + "; ".join(parts)


def validate(model: type[Model], data: dict[str, Any], source: str = "config") -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise SemlinkError(format_validation_error(err, source)) from None


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise SemlinkError(f"config file {str(path)!r} does not exist; give the path of a TOML file")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise SemlinkError(f"config file {str(path)!r} is not valid TOML: {err}") from None


def load_toml(model: type[Model], path: str | os.PathLike[str]) -> Model:
    return validate(model, read_toml(path), source=f"config {str(path)!r}")
