"""The PHY link as a config states it: channel, optional OFDM grid, CSI and code (pydantic, no torch).

:class:`LinkSpec` is what a run's ``[link]`` table says and what every system of the run shares;
it builds the PHY configs (:class:`~semlink.phy.config.DigitalLinkConfig`,
:class:`~semlink.phy.config.AnalogLinkConfig`) and names a link in results rows (:meth:`LinkSpec.describe`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import model_validator

from semlink.config import Strict

__all__ = ["ChannelSpec", "LinkSpec", "OfdmSpec"]


class ChannelSpec(Strict):
    """A channel by name with its fading parameters (see :mod:`semlink.phy`), and how the run's link meets it.

    ``grid = "flat"`` sends symbols straight onto this channel, without the run's OFDM grid (one
    coefficient per image; what "AWGN" means in the JSCC literature), ``csi`` overrides the link's
    channel knowledge on it (a flat channel has no pilots: ``perfect``). ``label`` names the channel in
    results and figures (default: ``name``, or ``<name>-flat`` on a flat grid beside OFDM channels).
    """

    name: str = "awgn"
    delay_spread_ns: float = 100.0
    carrier_frequency_hz: float = 3.5e9
    speed_mps: float = 0.0
    grid: Literal["link", "flat"] = "link"
    csi: Literal["perfect", "ls", "lmmse"] | None = None
    label: str | None = None

    @property
    def key(self) -> str:
        """The channel's name in a run (results' ``channel`` column): ``label``, else ``name``."""
        return self.label or self.name

    def build(self):
        from semlink.phy.config import ChannelConfig

        return ChannelConfig(**self.model_dump(exclude={"grid", "csi", "label"}))


class OfdmSpec(Strict):
    """OFDM resource grid; fields left out take :class:`semlink.phy.OfdmConfig` defaults."""

    fft_size: int | None = None
    subcarrier_spacing_hz: float | None = None
    num_ofdm_symbols: int | None = None
    cyclic_prefix_length: int | None = None
    pilot_ofdm_symbol_indices: tuple[int, ...] | None = None

    def build(self):
        from semlink.phy.config import OfdmConfig

        return OfdmConfig(**self.model_dump(exclude_none=True))


class LinkSpec(Strict):
    """The PHY link shared by every system: channel, optional OFDM grid, CSI, and (digital) code.

    ``csi``: ``perfect`` | ``ls`` | ``lmmse`` (both links); ``interpolation``: ``nn`` | ``lin`` (LS
    only). The analog link's receiver front end is fixed (per-symbol MMSE estimates and their error
    variances); the digital link's demapper gets the unbiased LMMSE. A channel may meet the link on a
    flat grid or with other CSI (:class:`ChannelSpec`; :meth:`on`). See :mod:`semlink.phy`.
    """

    modulation: str = "qpsk"
    code: tuple[int, int] | Literal["uncoded"] = (1024, 2048)
    csi: Literal["perfect", "ls", "lmmse"] = "perfect"
    interpolation: Literal["nn", "lin"] = "nn"
    bp_iterations: int = 20
    decoder: str = "sionna-bp"  # sionna-bp | layered-bp | layered-nms (checked by DigitalLinkConfig)
    nms_scale: float = 0.75
    channel: ChannelSpec = ChannelSpec()
    ofdm: OfdmSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _removed(cls, data):
        if isinstance(data, dict) and "analog_equalizer" in data:
            raise ValueError("analog_equalizer is gone: every analog receiver reads the same front end, the "
                             "per-symbol MMSE estimate and its error variance; remove the key")
        return data

    def on(self, channel: ChannelSpec | None) -> LinkSpec:
        """This link as it meets ``channel`` (its grid and CSI overrides applied; None: the link's own)."""
        if channel is None:
            return self
        update: dict[str, Any] = {"channel": channel}
        if channel.grid == "flat":
            update.update(ofdm=None, csi=channel.csi or "perfect")
        elif channel.csi is not None:
            update["csi"] = channel.csi
        return self.model_copy(update=update)

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
        """The :class:`~semlink.phy.config.DigitalLinkConfig` of this link; ``mcs=`` (an
        :class:`~semlink.phy.mcs.Mcs`) makes it a transport-block link at that MCS."""
        from semlink.phy.config import DigitalLinkConfig

        coding = dict(modulation=self.modulation, code_k=self.code_k, code_n=self.code_n,
                      bp_iterations=self.bp_iterations, decoder=self.decoder, nms_scale=self.nms_scale)
        if overrides.get("mcs") is not None:
            coding.update(modulation=overrides["mcs"].modulation, code_k=None, code_n=None)
        return DigitalLinkConfig(**self._shared({**coding, **overrides}))

    def analog(self, **overrides: Any):
        from semlink.phy.config import AnalogLinkConfig

        return AnalogLinkConfig(**self._shared(overrides))

    def describe(self, channel: ChannelSpec | None = None, *, digital: bool = False,
                 modulation: str | None = None, code: tuple[int, int] | str | None = None,
                 mcs: Any = None, channel_uses: int | None = None) -> dict[str, Any]:
        """Flat results-row columns naming this link on ``channel`` (default: the link's own).

        Analog links leave the coding columns empty; a digital link reports the modulation and code
        it actually uses (``modulation``/``code`` override the link's defaults, as a system may); a
        transport-block link at ``mcs`` (:class:`~semlink.phy.mcs.Mcs`) in an allocation of
        ``channel_uses`` REs reports its MCS (table, index, target rate), the transport block's size, the
        CRC bits it pays and the real code rate after rate matching (CRCs included).
        """
        link = self.on(channel)
        channel = link.channel
        grid = link.ofdm.build() if link.ofdm is not None else None
        row: dict[str, Any] = {
            "link": "digital" if digital else "analog",
            "delay_spread_ns": channel.delay_spread_ns,
            "speed_mps": channel.speed_mps,
            "carrier_frequency_hz": channel.carrier_frequency_hz,
            "csi": link.csi,
            "interpolation": link.interpolation,
            "ofdm": grid is not None,
            "fft_size": grid.fft_size if grid else None,
            "subcarrier_spacing_hz": grid.subcarrier_spacing_hz if grid else None,
            "num_ofdm_symbols": grid.num_ofdm_symbols if grid else None,
            "cyclic_prefix_length": grid.cyclic_prefix_length if grid else None,
            "pilot_ofdm_symbols": ",".join(str(i) for i in grid.pilot_ofdm_symbol_indices) if grid else None,
            "equalizer": "lmmse" if digital else "mmse-front-end",
            "modulation": None,
            "code_k": None,
            "code_n": None,
            "code_rate": None,
            "decoder": None,
            "bp_iterations": None,
        }
        if digital and mcs is not None:
            from semlink.phy.transport_size import tb_layout

            layout = tb_layout(mcs, channel_uses)
            row.update(modulation=mcs.modulation, code_rate=layout.code_rate, decoder=self.decoder,
                       bp_iterations=self.bp_iterations, mcs_table=mcs.table, mcs_index=mcs.index,
                       target_rate=mcs.target_rate, tb_size=layout.tbs, crc_bits=layout.crc_bits,
                       code_blocks=layout.num_cbs, allocation=channel_uses)
        elif digital:
            code = self.code if code is None else code
            k, n = (None, None) if code == "uncoded" else (int(code[0]), int(code[1]))
            row.update(modulation=(modulation or self.modulation).lower(), code_k=k, code_n=n,
                       code_rate=(k / n if k else 1.0), decoder=self.decoder if k else None,
                       bp_iterations=self.bp_iterations if k else None)
        return row
