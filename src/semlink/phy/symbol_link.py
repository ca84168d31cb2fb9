"""The shared core of both links: unit-energy data symbols in, equalised symbols and noise variance out.

:class:`OfdmSymbolLink` maps one slot of data symbols per row onto the resource grid
(``ResourceGridMapper``), sends it through :class:`~semlink.phy.channels.OfdmChannel` and the
:class:`~semlink.phy.receiver.OfdmReceiver`. :class:`FlatSymbolLink` does the same without a grid.
"""

from __future__ import annotations

import torch
from sionna.phy import Block
from sionna.phy.ofdm import ResourceGridMapper

from semlink.phy.channels import FlatChannel, OfdmChannel
from semlink.phy.config import ChannelConfig, OfdmConfig
from semlink.phy.grid import make_resource_grid
from semlink.phy.receiver import FlatReceiver, OfdmReceiver

__all__ = ["OfdmSymbolLink", "FlatSymbolLink", "make_symbol_link"]


class OfdmSymbolLink(Block):
    """One OFDM slot per row.

    :input x: ``[B, num_data_symbols] complex64`` data symbols (unit average energy).
    :input no: ``[B] float32`` noise variance per RE.
    :output x_hat: ``[B, num_data_symbols] complex64``; :output no_eff: ``[B, num_data_symbols] float32``.
    """

    def __init__(
        self,
        channel: ChannelConfig,
        ofdm: OfdmConfig,
        csi: str,
        interpolation: str,
        device: str | None = None,
    ) -> None:
        super().__init__(device=device)
        self.resource_grid = make_resource_grid(ofdm, device=self.device)
        self._mapper = ResourceGridMapper(self.resource_grid, device=self.device)
        self._channel = OfdmChannel(channel, self.resource_grid, device=self.device)
        self._receiver = OfdmReceiver(self.resource_grid, csi, interpolation, device=self.device)

    @property
    def symbols_per_slot(self) -> int:
        return int(self.resource_grid.num_data_symbols)

    def call(self, x: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        grid = self._mapper(x.reshape(x.shape[0], 1, 1, -1))
        y, h_freq = self._channel(grid, no)
        return self._receiver(y, h_freq, no)


class FlatSymbolLink(Block):
    """No grid: every row is one example sent through a flat channel (one coefficient per row).

    :input x: ``[B, N] complex64``; :input no: ``[B] float32``.
    :output x_hat: ``[B, N] complex64``; :output no_eff: ``[B, N] float32``.
    """

    resource_grid = None
    symbols_per_slot = None

    def __init__(self, channel: ChannelConfig, device: str | None = None) -> None:
        super().__init__(device=device)
        self._channel = FlatChannel(channel, device=self.device)
        self._receiver = FlatReceiver(device=self.device)

    def call(self, x: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y, h = self._channel(x, no)
        return self._receiver(y, h, no)


def make_symbol_link(
    channel: ChannelConfig, ofdm: OfdmConfig | None, csi: str, interpolation: str, device: str | None = None
) -> OfdmSymbolLink | FlatSymbolLink:
    if ofdm is None:
        return FlatSymbolLink(channel, device=device)
    return OfdmSymbolLink(channel, ofdm, csi, interpolation, device=device)
