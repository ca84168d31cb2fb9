"""Time and frequency covariance of the configured channel on one slot: what LMMSE estimation assumes.

LMMSE channel estimation (:mod:`semlink.phy.estimation`) models the frequency response of one slot
as zero-mean with separable covariance ``E[h(t, f) h(t', f')^*] = R_t[t, t'] R_f[f, f']`` over OFDM
symbols ``t`` and effective subcarriers ``f``. The matrices are computed once, when a link is
built, from its :class:`~semlink.phy.config.ChannelConfig` and grid, and are part of the link's
definition like its pilots: they never depend on the run seed.

===========  ======================================================================================
channel      how ``R_t`` and ``R_f`` are obtained
===========  ======================================================================================
``awgn``     ``h = 1`` on every RE: modelled as a unit-power channel constant over the slot
             (both all-ones; ``h = 1`` is one realisation of it)
``rayleigh`` exact: block fading, one CN(0, 1) coefficient per slot (both all-ones)
``tdl-*``    analytic: Sionna's ``tdl_freq_cov_mat`` (the model's power-delay profile scaled to the
             configured delay spread) on the effective subcarriers, and ``tdl_time_cov_mat``
             (Jakes ``J0`` Doppler for the configured speed and carrier, plus the LoS term of
             TDL-D/E); both unit-power, constant in time at speed 0
``cdl-*``    Monte Carlo: :data:`MONTE_CARLO_SLOTS` slots of the link's own
             :class:`~semlink.phy.channels.OfdmChannel`, drawn from :data:`COVARIANCE_SEED`;
             ``R_f`` averages ``h_f h_f^H`` over slots and OFDM symbols, ``R_t`` averages
             ``h_t h_t^H`` over slots and subcarriers and is scaled to unit mean diagonal, so the
             product carries the channel's power once
===========  ======================================================================================
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import torch

from semlink.phy.config import ChannelConfig, OfdmConfig
from semlink.seeding import fixed_sionna_stream

__all__ = ["ChannelCovariance", "channel_covariance", "monte_carlo_covariance", "COVARIANCE_SEED",
           "MONTE_CARLO_SLOTS"]

COVARIANCE_SEED = 0xC0FA
"""Seed of the Monte Carlo covariance draws (part of the link's definition, like the pilot seed)."""

MONTE_CARLO_SLOTS = 2048
"""Slots averaged for a Monte Carlo covariance: entries have a standard error of about 1/sqrt(2048) = 2 %."""


class ChannelCovariance(NamedTuple):
    """``time [S, S]`` and ``freq [F_eff, F_eff]`` complex128 (CPU) covariances, and how they were obtained."""

    time: torch.Tensor
    freq: torch.Tensor
    method: str  # "exact" | "analytic" | "monte-carlo"


@functools.lru_cache(maxsize=16)
def channel_covariance(channel: ChannelConfig, ofdm: OfdmConfig) -> ChannelCovariance:
    """The covariance LMMSE estimation assumes for ``channel`` on the grid ``ofdm`` (see the module docstring).

    Cached per (channel, grid): both configs are frozen. The returned tensors must not be modified.
    """
    from semlink.phy.grid import make_resource_grid

    num_sym, num_sc = ofdm.num_ofdm_symbols, ofdm.num_effective_subcarriers
    if channel.family in ("awgn", "rayleigh"):
        ones = functools.partial(torch.ones, dtype=torch.complex128)
        return ChannelCovariance(ones(num_sym, num_sym), ones(num_sc, num_sc), "exact")
    resource_grid = make_resource_grid(ofdm, device="cpu")
    if channel.family == "tdl":
        from sionna.phy.ofdm import tdl_freq_cov_mat, tdl_time_cov_mat

        freq = tdl_freq_cov_mat(channel.model, ofdm.subcarrier_spacing_hz, ofdm.fft_size,
                                channel.delay_spread_ns * 1e-9, precision="double", device="cpu")
        effective = torch.as_tensor(resource_grid.effective_subcarrier_ind, dtype=torch.long)
        freq = freq[effective][:, effective]
        time = tdl_time_cov_mat(channel.model, channel.speed_mps, channel.carrier_frequency_hz,
                                float(resource_grid.ofdm_symbol_duration), num_sym,
                                precision="double", device="cpu")
        return ChannelCovariance(time, freq, "analytic")
    return monte_carlo_covariance(channel, ofdm, MONTE_CARLO_SLOTS, COVARIANCE_SEED)


def monte_carlo_covariance(
    channel: ChannelConfig, ofdm: OfdmConfig, num_slots: int, seed: int, chunk: int = 256
) -> ChannelCovariance:
    """Sample covariances of ``num_slots`` slots of the link's channel (on the CPU), drawn from ``seed``.

    Any channel works (the tests check the analytic TDL covariance against this); the run's random
    stream is neither used nor disturbed.
    """
    from semlink.phy.channels import OfdmChannel
    from semlink.phy.grid import make_resource_grid

    resource_grid = make_resource_grid(ofdm, device="cpu")
    effective = torch.as_tensor(resource_grid.effective_subcarrier_ind, dtype=torch.long)
    num_sym, num_sc = ofdm.num_ofdm_symbols, len(effective)
    model = OfdmChannel(channel, resource_grid, device="cpu")
    freq = torch.zeros(num_sc, num_sc, dtype=torch.complex128)
    time = torch.zeros(num_sym, num_sym, dtype=torch.complex128)
    with fixed_sionna_stream(seed, "cpu"), torch.no_grad():
        for start in range(0, num_slots, chunk):
            batch = min(chunk, num_slots - start)
            if model.cfg.family == "awgn":
                h = torch.ones(batch, 1, num_sc, dtype=torch.complex128)
            else:
                h = model.generate(batch).reshape(batch, -1, ofdm.fft_size)[..., effective].to(torch.complex128)
            h = h.expand(batch, num_sym, num_sc)  # static channels come with one OFDM symbol
            freq += torch.einsum("btf,btg->fg", h, h.conj())
            time += torch.einsum("btf,buf->tu", h, h.conj())
    freq /= num_slots * num_sym
    time /= num_slots * num_sc
    time /= time.diagonal().real.mean()
    return ChannelCovariance(time, freq, "monte-carlo")
