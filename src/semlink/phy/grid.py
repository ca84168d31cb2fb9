"""OFDM resource grid (Sionna ``ResourceGrid`` with Kronecker pilots) from an :class:`OfdmConfig`.

A slot is one grid; payloads are cut into whole slots. ``slots_needed`` and ``pad_to_slots``
implement that cut for any ``[batch, num_symbols]`` tensor.
"""

from __future__ import annotations

import math

import torch
from sionna.phy.ofdm import ResourceGrid

from semlink.errors import SemlinkError
from semlink.phy.config import OfdmConfig
from semlink.seeding import fixed_sionna_stream

__all__ = ["make_resource_grid", "slots_needed", "pad_to_slots"]


PILOT_SEED = 0x5E3117
"""Seed of the pilot sequence: part of the link's definition, like its FFT size, so equal configs
give equal grids whatever the run seed or the number of links built before."""


def make_resource_grid(cfg: OfdmConfig, device: str | None = None) -> ResourceGrid:
    """SISO ``ResourceGrid`` (1 TX, 1 stream) with Kronecker pilots on ``cfg.pilot_ofdm_symbol_indices``.

    Sionna draws the pilots as random QPSK from its global generator when the grid is built; they
    are drawn here from :data:`PILOT_SEED` and the generator's state is restored afterwards, so
    building a link neither depends on nor disturbs the run's random stream.
    """
    try:
        with fixed_sionna_stream(PILOT_SEED, device):
            return ResourceGrid(
                num_ofdm_symbols=cfg.num_ofdm_symbols,
                fft_size=cfg.fft_size,
                subcarrier_spacing=cfg.subcarrier_spacing_hz,
                num_tx=1,
                num_streams_per_tx=1,
                cyclic_prefix_length=cfg.cyclic_prefix_length,
                num_guard_carriers=tuple(cfg.num_guard_carriers),
                dc_null=cfg.dc_null,
                pilot_pattern="kronecker",
                pilot_ofdm_symbol_indices=list(cfg.pilot_ofdm_symbol_indices),
                device=device,
            )
    except ValueError as exc:  # pragma: no cover - OfdmConfig validates first
        raise SemlinkError(f"invalid OFDM grid {cfg!r}: {exc}") from None


def slots_needed(num_symbols: int, symbols_per_slot: int) -> int:
    """Whole slots that carry ``num_symbols`` symbols (at least one)."""
    if num_symbols < 1:
        raise SemlinkError(f"the number of symbols must be >= 1, got {num_symbols}")
    return max(1, math.ceil(num_symbols / symbols_per_slot))


def pad_to_slots(x: torch.Tensor, symbols_per_slot: int) -> tuple[torch.Tensor, int]:
    """``[B, N]`` -> ``([B * G, symbols_per_slot], G)``: zero-pad each row to ``G`` whole slots."""
    batch, num = x.shape
    slots = slots_needed(num, symbols_per_slot)
    pad = slots * symbols_per_slot - num
    if pad:
        x = torch.nn.functional.pad(x, (0, pad))
    return x.reshape(batch * slots, symbols_per_slot), slots
