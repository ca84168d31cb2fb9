"""Receiver front end: channel knowledge (perfect, LS or LMMSE on the pilots) and equalisation.

Channel estimation is in :mod:`semlink.phy.estimation`, the equalisers and their error variances
in :mod:`semlink.phy.equalizer`. The receiver adds the channel-estimation error variance
``err_var`` to the noise, ``s = no + err_var`` (0 with perfect CSI), and equalises every data RE;
with Sionna's (unbiased) LMMSE that is

    ``x_hat = y / h_hat``,  ``no_eff = (no + err_var) / |h_hat|^2``

(``sionna.phy.mimo.lmmse_equalizer`` at one antenna), with the biased MMSE
``x_hat = conj(h_hat) y / (|h_hat|^2 + s)``, ``mse = s / (|h_hat|^2 + s)``.

Sionna's ``LMMSEEqualizer`` solves a batched matrix problem per resource element and its
``LSChannelEstimator`` expands the pilot tensor to the full grid before gathering; at 1x1 both
reduce to a few element-wise operations, which is what :class:`OfdmReceiver` computes. The test
suite checks LS and LMMSE estimation and the equaliser against the stock blocks. One deliberate
difference: LS's error variance is that of the interpolated estimate, ``sum_p w_p^2 no / |p|^2``,
where Sionna interpolates the pilots' variances (``sum_p w_p no / |p|^2``); the tests check it
against the Monte Carlo error of the estimate.
"""

from __future__ import annotations

import torch
from sionna.phy import Block
from sionna.phy.ofdm import ResourceGrid

from semlink.errors import SemlinkError, choice_error
from semlink.phy.config import CSI_MODES, EQUALIZERS, INTERPOLATIONS
from semlink.phy.covariance import ChannelCovariance
from semlink.phy.equalizer import equalize, siso_lmmse
from semlink.phy.estimation import LmmseEstimator, ls_time_weights, pilot_layout

__all__ = ["siso_lmmse", "OfdmReceiver", "FlatReceiver"]


class OfdmReceiver(Block):
    """Channel knowledge + equalisation on a SISO resource grid (see module docstring).

    :param resource_grid: the grid the transmitter used.
    :param csi: ``"perfect"`` (the true ``h_freq``), ``"ls"`` (least squares on the pilots,
        interpolated like Sionna's ``LSChannelEstimator``; error variance ``sum_p w_p^2 no / |p|^2``
        over the pilots' interpolation weights ``w_p``) or ``"lmmse"`` (LS followed by Sionna's LMMSE
        filtering, needs ``covariance``; its error variance as Sionna computes it).
    :param interpolation: ``"nn"`` or ``"lin"`` (LS only).
    :param equalizer: ``"lmmse"`` (unbiased) or ``"lmmse-biased"``.
    :param covariance: the channel covariance for ``csi="lmmse"``
        (:func:`semlink.phy.covariance.channel_covariance`).

    :input y: ``[B, 1, 1, num_ofdm_symbols, fft_size] complex64`` received grids.
    :input h_freq: ``[B, 1, 1, 1, 1, T, fft_size] complex64`` true channel with ``T`` 1 or
        ``num_ofdm_symbols``, or None for a unit channel (AWGN); only read with perfect CSI.
    :input no: ``[B] float32`` noise variance.
    :output x_hat: ``[B, num_data_symbols] complex64`` equalised data symbols (Sionna's data-RE order).
    :output no_eff: ``[B, num_data_symbols] float32`` effective noise (biased: error) variance.
    """

    def __init__(
        self,
        resource_grid: ResourceGrid,
        csi: str,
        interpolation: str = "nn",
        equalizer: str = "lmmse",
        covariance: ChannelCovariance | None = None,
        device: str | None = None,
    ) -> None:
        super().__init__(device=device)
        for what, value, accepted in (
            ("csi", csi, CSI_MODES), ("interpolation", interpolation, INTERPOLATIONS),
            ("equalizer", equalizer, EQUALIZERS),
        ):
            if value not in accepted:
                raise choice_error(what, value, accepted)
        if csi == "lmmse" and covariance is None:
            raise SemlinkError("csi='lmmse' needs the channel covariance (semlink.phy.covariance.channel_covariance)")
        self._csi = csi
        self._equalizer = equalizer
        self._num_sym = int(resource_grid.num_ofdm_symbols)
        sc = torch.as_tensor(resource_grid.effective_subcarrier_ind, dtype=torch.long)
        self._all_sc = len(sc) == resource_grid.fft_size
        self.register_buffer("_sc_ind", sc.to(self.device), persistent=False)
        mask = resource_grid.pilot_pattern.mask[0, 0].to(torch.bool).cpu()  # [S, F_eff]
        data_ind = torch.nonzero(~mask.flatten()).flatten()  # data REs, symbol-major like Sionna's mappers
        self.register_buffer("_data_ind", data_ind.to(self.device), persistent=False)
        pilot_rows, pilots = pilot_layout(resource_grid)
        self.register_buffer("_pilot_rows", pilot_rows.to(self.device), persistent=False)
        energy = pilots.abs().square()
        self.register_buffer(
            "_pilot_inv", (pilots.conj() / energy).to(self.cdtype).to(self.device), persistent=False
        )
        if csi == "ls":
            weights = ls_time_weights(resource_grid, interpolation)
            self.register_buffer("_interp", weights.to(self.device), persistent=False)
            # The pilots' LS errors are independent with variance no/|p|^2, so an estimate interpolated
            # with weights w has error variance sum_p w_p^2 no/|p|^2 (exact for a channel constant over
            # the slot; a moving channel adds the interpolation's model error, which no LS knows).
            # Sionna's LSChannelEstimator interpolates the variances with w instead: 1.0 no on every
            # symbol, where linear interpolation's errors are 0.5-1.5 no (extrapolated symbols worst).
            err_unit = torch.einsum("tp,pf->tf", weights.square(), (1.0 / energy).to(torch.float32))
            self.register_buffer("_err_unit", err_unit.flatten()[data_ind].to(self.device), persistent=False)
        if csi == "lmmse":
            assert covariance is not None
            self._lmmse = LmmseEstimator(resource_grid, covariance, device=self.device)

    def _effective(self, grid: torch.Tensor) -> torch.Tensor:
        """``[..., S, fft_size]`` -> ``[..., S, F_eff]`` (drop guard/DC carriers)."""
        return grid if self._all_sc else grid.index_select(-1, self._sc_ind)

    def _data(self, grid: torch.Tensor) -> torch.Tensor:
        """``[B, S|1, F_eff]`` -> ``[B, num_data_symbols]`` (a static channel broadcast over the slot)."""
        batch = grid.shape[0]
        grid = grid.expand(batch, self._num_sym, grid.shape[-1])
        return grid.reshape(batch, -1).index_select(1, self._data_ind)

    def true_channel(self, h_freq: torch.Tensor) -> torch.Tensor:
        """``h_freq [B, 1, 1, 1, 1, T, fft_size]`` -> ``[B, num_data_symbols]``: the channel on each data RE."""
        return self._data(self._effective(h_freq.reshape(h_freq.shape[0], -1, h_freq.shape[-1])))

    def estimate(
        self, y: torch.Tensor, h_freq: torch.Tensor | None, no: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The channel the receiver uses on each data RE and its error variance.

        ``y`` and ``h_freq`` as the block's inputs; returns ``(h_hat [B, num_data_symbols] complex64
        or None for h = 1, err_var [B, num_data_symbols] float32 or None for 0)``.
        """
        return self._estimate(self._effective(y.reshape(y.shape[0], self._num_sym, -1)), h_freq, no)

    def _estimate(
        self, y_eff: torch.Tensor, h_freq: torch.Tensor | None, no: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        batch = y_eff.shape[0]
        if self._csi == "perfect":
            return (None, None) if h_freq is None else (self.true_channel(h_freq), None)
        h_pilots = y_eff.index_select(1, self._pilot_rows) * self._pilot_inv  # [B, K, F_eff]
        if self._csi == "ls":
            h_hat = torch.einsum("tp,bpf->btf", self._interp.to(h_pilots.dtype), h_pilots)
            return self._data(h_hat), no.reshape(batch, 1) * self._err_unit
        h_hat, err_var = self._lmmse(h_pilots, no)
        return self._data(h_hat), self._data(err_var)

    def call(
        self, y: torch.Tensor, h_freq: torch.Tensor | None, no: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch = y.shape[0]
        y_eff = self._effective(y.reshape(batch, self._num_sym, -1))
        h_hat, err_var = self._estimate(y_eff, h_freq, no)
        y_data = y_eff.reshape(batch, -1).index_select(1, self._data_ind)
        s = no.reshape(batch, 1) if err_var is None else no.reshape(batch, 1) + err_var
        return equalize(y_data, h_hat, s, self._equalizer)


class FlatReceiver(Block):
    """Perfect-CSI equalisation without a grid (``equalizer``: ``"lmmse"`` or ``"lmmse-biased"``).

    :input y: ``[B, N] complex64``; :input h: ``[B, 1] complex64`` or None (unit channel);
    :input no: ``[B] float32``.
    :output x_hat: ``[B, N] complex64``; :output no_eff: ``[B, N] float32``.
    """

    def __init__(self, equalizer: str = "lmmse", device: str | None = None) -> None:
        super().__init__(device=device)
        if equalizer not in EQUALIZERS:
            raise choice_error("equalizer", equalizer, EQUALIZERS)
        self._equalizer = equalizer

    def call(
        self, y: torch.Tensor, h: torch.Tensor | None, no: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return equalize(y, h, no.reshape(-1, 1), self._equalizer)
