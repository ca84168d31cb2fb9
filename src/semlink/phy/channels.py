"""Propagation channels from a :class:`ChannelConfig`, built from Sionna channel blocks.

- :class:`OfdmChannel`: frequency-domain channel on a resource grid (a ``RayleighBlockFading``/
  ``TDL``/``CDL`` model, ``cir_to_ofdm_channel`` as in ``GenerateOFDMChannel``, then
  ``ApplyOFDMChannel``; AWGN alone for ``awgn``).
  The channel is **not** normalised per example (``normalize_channel=False``): the models have unit
  average power over realisations, and per-example fading must survive.
- :class:`FlatChannel`: no grid; ``awgn`` or ``rayleigh`` with one coefficient per example.

Training through a fading OFDM channel may draw its realisations from a **channel bank**
(``OfdmChannel(..., bank_size=M)``): ``M`` slots' frequency responses generated once per seed and
sampled uniformly, with replacement, for every slot sent. Sionna's TDL/CDL generation is then paid
once instead of per batch. Training sees ``M`` independent realisations, each reused about
``slots sent / M`` times, with fresh noise every time; the bank's realisations are ``M``
independent draws of the same model, so their statistics are the model's (tested). Evaluation
links have no bank: one fresh, independent realisation per slot, as the binomial intervals assume.
"""

from __future__ import annotations

import torch
from sionna.phy import Block
from sionna.phy.channel import (
    AWGN,
    ApplyOFDMChannel,
    GenerateFlatFadingChannel,
    RayleighBlockFading,
    cir_to_ofdm_channel,
    subcarrier_frequencies,
)
from sionna.phy.channel.tr38901 import CDL, TDL, AntennaArray
from sionna.phy.ofdm import ResourceGrid

from semlink.errors import SemlinkError
from semlink.phy.config import FLAT_CHANNELS, ChannelConfig
from semlink.seeding import fixed_sionna_stream

__all__ = ["make_channel_model", "OfdmChannel", "FlatChannel", "checked_bank_size"]


def make_channel_model(cfg: ChannelConfig, device: str | None = None) -> object | None:
    """The Sionna channel model (CIR sampler) for ``cfg``; None for ``awgn``. SISO throughout."""
    if cfg.family == "awgn":
        return None
    if cfg.family == "rayleigh":
        return RayleighBlockFading(num_rx=1, num_rx_ant=1, num_tx=1, num_tx_ant=1, device=device)
    delay_spread = cfg.delay_spread_ns * 1e-9
    if cfg.family == "tdl":
        return TDL(
            cfg.model,
            delay_spread=delay_spread,
            carrier_frequency=cfg.carrier_frequency_hz,
            min_speed=cfg.speed_mps,
            max_speed=cfg.speed_mps,
            num_rx_ant=1,
            num_tx_ant=1,
            device=device,
        )
    if cfg.family == "cdl":

        def omni() -> AntennaArray:
            return AntennaArray(
                num_rows=1,
                num_cols=1,
                polarization="single",
                polarization_type="V",
                antenna_pattern="omni",
                carrier_frequency=cfg.carrier_frequency_hz,
                device=device,
            )

        return CDL(
            cfg.model,
            delay_spread=delay_spread,
            carrier_frequency=cfg.carrier_frequency_hz,
            ut_array=omni(),
            bs_array=omni(),
            direction="downlink",
            min_speed=cfg.speed_mps,
            max_speed=cfg.speed_mps,
            device=device,
        )
    raise SemlinkError(f"unknown channel {cfg.name!r}")  # pragma: no cover - config validated


def checked_bank_size(bank_size: int | None) -> int | None:
    """``bank_size`` if it is None or an integer >= 1; else :class:`SemlinkError`."""
    if bank_size is not None and (isinstance(bank_size, bool) or not isinstance(bank_size, int) or bank_size < 1):
        raise SemlinkError(f"channel_bank must be None or an integer >= 1 (slots), got {bank_size!r}")
    return bank_size


#: Slots per call to the channel model. Sionna's TDL/CDL sum-of-sinusoids materialises
#: ``[slots, paths, time steps, sinusoids]`` tensors (2000 TDL-A slots: ~100 MB each); in chunks of a
#: few hundred slots they stay in the CPU's caches (about 2x faster generation here).
_DRAW_CHUNK = 256

#: Mixed into the run's seed to give the bank a random stream of its own.
_BANK_STREAM = 0x42414E4B  # "BANK"


class OfdmChannel(Block):
    """Apply a random channel realisation per slot, plus AWGN.

    The channel model's impulse response is sampled once per OFDM symbol (Sionna
    ``GenerateOFDMChannel`` semantics) and turned into a frequency response with
    ``cir_to_ofdm_channel``; with ``speed_mps == 0`` every model is constant over the slot, so one
    sample is drawn and broadcast over the OFDM symbols (same distribution, 14x cheaper).

    :param bank_size: ``None`` (default): every slot a fresh realisation. An integer ``M``: slots
        draw from a bank of ``M`` realisations (see the module docstring), made at the first use
        after each (re)seeding of Sionna's generator from a stream of its own: the bank depends on
        the seed alone, not on what was drawn before. No effect for ``awgn``.

    :input x: ``[B, 1, 1, num_ofdm_symbols, fft_size] complex64`` resource grids.
    :input no: ``[B] float32`` noise variance per complex RE.
    :output y: ``[B, 1, 1, num_ofdm_symbols, fft_size] complex64``.
    :output h_freq: ``[B, 1, 1, 1, 1, T, fft_size] complex64`` channel frequency response with
        ``T = num_ofdm_symbols`` (``T = 1`` when static), or None for ``awgn`` (h = 1).
    """

    def __init__(
        self, cfg: ChannelConfig, resource_grid: ResourceGrid, device: str | None = None, bank_size: int | None = None
    ) -> None:
        super().__init__(device=device)
        self.bank_size = checked_bank_size(bank_size)
        self._bank: torch.Tensor | None = None
        self._bank_seed: int | None = None
        self.cfg = cfg
        self._model = make_channel_model(cfg, device=self.device)
        self._awgn = AWGN(device=self.device)
        self._apply_channel = ApplyOFDMChannel(device=self.device)
        self._num_time_steps = 1 if cfg.speed_mps == 0.0 else int(resource_grid.num_ofdm_symbols)
        self._sampling_frequency = 1.0 / resource_grid.ofdm_symbol_duration
        self._path_cache: tuple[torch.Tensor, torch.Tensor] | None = None
        self.register_buffer(
            "_frequencies",
            subcarrier_frequencies(
                resource_grid.fft_size, resource_grid.subcarrier_spacing, device=self.device
            ),
            persistent=False,
        )

    def generate(self, batch_size: int) -> torch.Tensor:
        """``[batch_size, 1, 1, 1, 1, T, fft_size] complex64``: the realisations the channel applies.

        Fresh draws (:meth:`draw`), or, with a bank, ``batch_size`` slots of the bank picked uniformly
        with replacement by Sionna's generator.
        """
        if self.bank_size is None:
            return self.draw(batch_size)
        from sionna.phy import config as sionna_config

        bank = self.bank()
        pick = torch.randint(self.bank_size, (batch_size,), generator=sionna_config.torch_rng(self.device),
                             device=self.device)
        return bank.index_select(0, pick)

    def bank(self) -> torch.Tensor:
        """The bank ``[bank_size, 1, 1, 1, 1, T, fft_size] complex64`` for the current seed (made if needed)."""
        from sionna.phy import config as sionna_config

        if self.bank_size is None or self._model is None:
            raise SemlinkError(f"channel {self.cfg.name!r} has no bank (bank_size={self.bank_size}; awgn has none)")
        seed = sionna_config.torch_rng(self.device).initial_seed()
        if self._bank is None or self._bank_seed != seed:
            self._bank = None  # free the old bank before the new one is made
            bank_seed = (seed ^ _BANK_STREAM) % (1 << 63)
            with fixed_sionna_stream(bank_seed, self.device), torch.no_grad():
                self._bank, self._bank_seed = self.draw(self.bank_size), seed
        return self._bank

    def draw(self, batch_size: int) -> torch.Tensor:
        """``[batch_size, 1, 1, 1, 1, T, fft_size] complex64`` fresh, independent channel frequency responses.

        TR 38.901 TDL/CDL path delays are fixed by the model (and 0 for Rayleigh), so the per-path
        frequency responses ``exp(-j 2 pi f tau_p)`` are computed once with Sionna's
        ``cir_to_ofdm_channel`` and reused; a batch whose delays differ falls back to it directly.
        Large batches are drawn in chunks of :data:`_DRAW_CHUNK` slots (the same distribution).
        """
        assert self._model is not None
        if batch_size > _DRAW_CHUNK:
            return torch.cat([self.draw(min(_DRAW_CHUNK, batch_size - start))
                              for start in range(0, batch_size, _DRAW_CHUNK)])
        a, tau = self._model(batch_size, self._num_time_steps, self._sampling_frequency)
        if not bool((tau == tau[:1]).all()):
            return cir_to_ofdm_channel(self._frequencies, a, tau, normalize=False)
        paths = self._path_responses(tau[:1])  # [P, F]
        num_paths, num_steps = a.shape[-2], a.shape[-1]
        h = torch.einsum("bpt,pf->btf", a.reshape(batch_size, num_paths, num_steps), paths)
        return h.reshape(batch_size, 1, 1, 1, 1, num_steps, -1)

    def _path_responses(self, tau: torch.Tensor) -> torch.Tensor:
        """``[P, fft_size]``: the frequency response of each unit-gain path with delays ``tau [1,1,1,P]``."""
        cached = self._path_cache
        if cached is not None and cached[0].shape == tau.shape and torch.equal(cached[0], tau):
            return cached[1]
        num_paths = tau.shape[-1]
        eye = torch.eye(num_paths, dtype=self.cdtype, device=tau.device).reshape(
            num_paths, 1, 1, 1, 1, num_paths, 1
        )
        resp = cir_to_ofdm_channel(self._frequencies, eye, tau.expand(num_paths, -1, -1, -1), normalize=False)
        resp = resp.reshape(num_paths, -1)
        self._path_cache = (tau.clone(), resp)
        return resp

    @property
    def has_fading(self) -> bool:
        """False for AWGN (h = 1 everywhere)."""
        return self._model is not None

    def call(self, x: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self._model is None:
            return self._awgn(x, no), None
        h_freq = self.generate(x.shape[0])
        return self._apply_channel(x, h_freq, no), h_freq


class FlatChannel(Block):
    """Flat channel, no grid: ``y = h x + n`` with one ``h`` per example (``h = 1`` for ``awgn``).

    :input x: ``[B, N] complex64``.
    :input no: ``[B] float32`` noise variance per complex symbol.
    :output y: ``[B, N] complex64``.
    :output h: ``[B, 1] complex64`` (Rayleigh, CN(0, 1)), or None for ``awgn``.
    """

    def __init__(self, cfg: ChannelConfig, device: str | None = None) -> None:
        super().__init__(device=device)
        if cfg.name not in FLAT_CHANNELS:
            raise SemlinkError(
                f"channel {cfg.name!r} needs an OFDM grid; accepted without a grid: {', '.join(FLAT_CHANNELS)}"
            )
        self.cfg = cfg
        self._awgn = AWGN(device=self.device)
        self._gen_channel = (
            GenerateFlatFadingChannel(num_tx_ant=1, num_rx_ant=1, device=self.device)
            if cfg.name == "rayleigh"
            else None
        )

    def coefficients(self, batch_size: int) -> torch.Tensor | None:
        """``[batch_size, 1] complex64`` Rayleigh coefficients, or None for AWGN (h = 1)."""
        if self._gen_channel is None:
            return None
        return self._gen_channel(batch_size).reshape(-1, 1)

    def call(self, x: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.coefficients(x.shape[0])
        if h is None:
            return self._awgn(x, no), None
        return self._awgn(h * x, no), h
