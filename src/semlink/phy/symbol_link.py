"""The shared core of both links: unit-energy data symbols in, equalised symbols and noise variance out.

:class:`OfdmSymbolLink` maps one slot of data symbols per row onto the resource grid
(``ResourceGridMapper``), sends it through :class:`~semlink.phy.channels.OfdmChannel` and the
:class:`~semlink.phy.receiver.OfdmReceiver` (with ``csi="lmmse"``, the channel covariance of
:mod:`semlink.phy.covariance` is computed here, once). :class:`FlatSymbolLink` does the same
without a grid.
"""

from __future__ import annotations

import torch
from sionna.phy import Block
from sionna.phy.ofdm import ResourceGridMapper

from semlink.phy.channels import FlatChannel, OfdmChannel, checked_bank_size
from semlink.phy.config import ChannelConfig, OfdmConfig
from semlink.phy.covariance import channel_covariance
from semlink.phy.grid import make_resource_grid, pad_to_slots, slots_needed
from semlink.phy.receiver import FlatReceiver, OfdmReceiver

__all__ = ["OfdmSymbolLink", "FlatSymbolLink", "make_symbol_link"]


class OfdmSymbolLink(Block):
    """One OFDM slot per row.

    :param channel_bank: ``None``, or the number of slots in the channel's bank of realisations
        (training only; see :mod:`semlink.phy.channels`).

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
        equalizer: str = "lmmse",
        device: str | None = None,
        channel_bank: int | None = None,
    ) -> None:
        super().__init__(device=device)
        self.resource_grid = make_resource_grid(ofdm, device=self.device)
        self._mapper = ResourceGridMapper(self.resource_grid, device=self.device)
        self._channel = OfdmChannel(channel, self.resource_grid, device=self.device, bank_size=channel_bank)
        covariance = channel_covariance(channel, ofdm) if csi == "lmmse" else None
        self._receiver = OfdmReceiver(
            self.resource_grid, csi, interpolation, equalizer, covariance=covariance, device=self.device
        )

    @property
    def symbols_per_slot(self) -> int:
        return int(self.resource_grid.num_data_symbols)

    def call(self, x: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        grid = self._mapper(x.reshape(x.shape[0], 1, 1, -1))
        y, h_freq = self._channel(grid, no)
        return self._receiver(y, h_freq, no)

    def send_rows(self, x: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each row ``x [B, M]`` in slots of its own (noise ``no [B]``) → ``(x_hat, no_eff) [B, M]``.

        A row longer than half a slot starts at the slot's first data RE and fills whole slots
        (zero padding at the end). A shorter row takes one of the ``floor(slot / M)`` places that
        packing rows back to back would give it, drawn at random from Sionna's generator: its
        position relative to the pilots (and so its estimation quality) is then distributed as in
        a packed slot, while every row keeps a channel realisation of its own.
        """
        slot = self.symbols_per_slot
        batch, num = x.shape
        positions = slot // num
        if positions > 1:
            from sionna.phy import config as sionna_config

            place = torch.randint(positions, (batch,), generator=sionna_config.torch_rng(self.device),
                                  device=self.device)
            columns = place[:, None] * num + torch.arange(num, device=self.device)
            rows = torch.zeros(batch, slot, dtype=x.dtype, device=x.device).scatter(1, columns, x)
            x_hat, no_eff = self(rows, no)
            return x_hat.gather(1, columns), no_eff.gather(1, columns)
        x_slots, num_slots = pad_to_slots(x, slot)
        no_slots = no.repeat_interleave(num_slots) if num_slots > 1 else no
        x_hat, no_eff = self(x_slots, no_slots)
        return x_hat.reshape(batch, -1)[:, :num], no_eff.reshape(batch, -1)[:, :num]

    def channel_gains(self, batch: int, num: int) -> torch.Tensor:
        """``[batch, num] float32``: ``|h|²`` at the data REs that rows of ``num`` symbols occupy.

        Channel realisations placed on the grid exactly as :meth:`send_rows` places rows (the
        same random draws in the same order: with equal seeds, the gains ``send_rows`` applies), for
        capacity bounds: fresh ones, or the bank's on a link with a channel bank.
        """
        slot = self.symbols_per_slot
        positions = slot // num
        place = None
        if positions > 1:
            from sionna.phy import config as sionna_config

            place = torch.randint(positions, (batch,), generator=sionna_config.torch_rng(self.device),
                                  device=self.device)
        num_slots = slots_needed(num, slot)
        if not self._channel.has_fading:
            return torch.ones(batch, num, device=self.device)
        h = self._channel.generate(batch * num_slots)
        fft = self.resource_grid.fft_size
        data = self._mapper._data_ind_flat
        h = h.reshape(batch * num_slots, -1, fft)  # [rows, T, F], T = 1 when static
        times = (data // fft) if h.shape[1] > 1 else torch.zeros_like(data)
        gains = (h[:, times, data % fft].abs() ** 2).float().reshape(batch, num_slots * slot)
        if place is not None:
            return gains.gather(1, place[:, None] * num + torch.arange(num, device=self.device))
        return gains[:, :num]


class FlatSymbolLink(Block):
    """No grid: every row is one example sent through a flat channel (one coefficient per row).

    :input x: ``[B, N] complex64``; :input no: ``[B] float32``.
    :output x_hat: ``[B, N] complex64``; :output no_eff: ``[B, N] float32``.
    """

    resource_grid = None
    symbols_per_slot = None

    def __init__(self, channel: ChannelConfig, equalizer: str = "lmmse", device: str | None = None) -> None:
        super().__init__(device=device)
        self._channel = FlatChannel(channel, device=self.device)
        self._receiver = FlatReceiver(equalizer, device=self.device)

    def call(self, x: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y, h = self._channel(x, no)
        return self._receiver(y, h, no)

    def send_rows(self, x: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat: every row is one example with its own channel coefficient."""
        return self(x, no)

    def channel_gains(self, batch: int, num: int) -> torch.Tensor:
        """``[batch, num] float32``: ``|h|²`` of fresh realisations (one coefficient per row; 1 for AWGN)."""
        h = self._channel.coefficients(batch)
        if h is None:
            return torch.ones(batch, num, device=self.device)
        return (h.abs() ** 2).float().reshape(batch, 1).expand(batch, num)


def make_symbol_link(
    channel: ChannelConfig,
    ofdm: OfdmConfig | None,
    csi: str,
    interpolation: str,
    equalizer: str = "lmmse",
    device: str | None = None,
    channel_bank: int | None = None,
) -> OfdmSymbolLink | FlatSymbolLink:
    """The OFDM (``ofdm`` given) or flat core with the named CSI, interpolation and equaliser.

    ``channel_bank``: slots in the OFDM channel's bank of realisations (None: fresh draws); flat
    links draw one complex Gaussian per example, cheaper than any bank, and ignore it.
    """
    checked_bank_size(channel_bank)
    if ofdm is None:
        return FlatSymbolLink(channel, equalizer, device=device)
    return OfdmSymbolLink(channel, ofdm, csi, interpolation, equalizer, device=device, channel_bank=channel_bank)
