"""``semlink phy ber``'s configuration: a Monte Carlo BER/BLER sweep of one link (TOML, validated).

The shared vocabulary (:class:`~semlink.config.Strict`, :func:`~semlink.config.validate`, TOML
reading) is :mod:`semlink.config`; the link is :class:`semlink.phy.spec.LinkSpec`.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from semlink.config import DbList, Strict
from semlink.devices import check_device_name
from semlink.phy.spec import LinkSpec

__all__ = ["BerSweepConfig"]


class BerSweepConfig(Strict):
    """``semlink phy ber``: Monte Carlo BER/BLER over a list of SNR (or Eb/N0) points."""

    seed: int = Field(42, ge=0, lt=2**63)
    snr_db: DbList | None = None
    ebno_db: DbList | None = None
    batch_size: int = Field(1000, gt=0)
    target_block_errors: int = Field(100, gt=0)
    max_iter: int = Field(100, gt=0)
    #: Where the link runs: ``cpu`` (default; the layered decoders are CPU kernels), ``cuda``,
    #: ``cuda:N``, ``mps`` or ``auto``; results are rows of the same statistics on any device.
    device: str = "cpu"
    link: LinkSpec = LinkSpec()

    @model_validator(mode="after")
    def _one_axis(self):
        check_device_name(self.device)
        if (self.snr_db is None) == (self.ebno_db is None):
            raise ValueError("give exactly one of snr_db or ebno_db (a list of dB values)")
        self.link.digital()  # the PHY checks its own settings (code, grid, pilots, channel)
        return self
