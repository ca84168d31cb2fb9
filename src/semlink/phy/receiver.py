"""Receiver front end: channel knowledge (perfect, or LS on the pilots) and LMMSE equalisation.

Equalised symbols follow Sionna's (unbiased) LMMSE convention, ``x_hat = x + e`` with ``e`` of
variance ``no_eff`` (``sionna.phy.mimo.lmmse_equalizer``). For one TX and one RX antenna that is

    ``x_hat = y / h_hat``,  ``no_eff = (no + err_var) / |h_hat|^2``

with ``err_var`` the channel-estimation error variance (0 with perfect CSI).

Sionna's ``LMMSEEqualizer`` solves a batched matrix problem per resource element and its
``LSChannelEstimator`` expands the pilot tensor to the full grid before gathering; at 1x1 both
reduce to a few element-wise operations, which is what :class:`OfdmReceiver` computes. The LS
interpolation weights are *read from Sionna's own interpolators* (``NearestNeighborInterpolator`` /
``LinearInterpolator``, probed once at construction), so the estimates are Sionna's; the test suite
checks both against the stock blocks to float precision.
"""

from __future__ import annotations

import torch
from sionna.phy import Block
from sionna.phy.ofdm import LinearInterpolator, NearestNeighborInterpolator, ResourceGrid

from semlink.errors import SemlinkError

__all__ = ["siso_lmmse", "OfdmReceiver", "FlatReceiver"]

_TINY = float(torch.finfo(torch.float32).tiny)


def siso_lmmse(y: torch.Tensor, h: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """1x1 unbiased LMMSE (= ``sionna.phy.mimo.lmmse_equalizer`` for one antenna and one stream).

    :param y: received symbols, complex; :param h: channel (estimate), broadcastable to ``y``;
    :param s: noise(-plus-estimation-error) variance, real, broadcastable to ``y``.
    :returns: ``(x_hat, no_eff)`` of ``y``'s shape: ``y / h`` and ``s / |h|^2``.
    """
    gain = (h.real.square() + h.imag.square()).clamp_min(_TINY)
    x_hat = y * (h.conj() / gain)
    return x_hat, s / gain


def _time_interpolation_matrix(resource_grid: ResourceGrid, interpolation: str) -> torch.Tensor:
    """``[num_ofdm_symbols, num_pilot_ofdm_symbols]`` weights that Sionna's interpolator applies.

    Kronecker pilots of one stream fill every effective subcarrier of their OFDM symbols, so Sionna's
    NN / linear interpolation acts along time only, per subcarrier. Probing the interpolator with
    one pilot OFDM symbol at a time reads off the weights; the probe also proves the separability.
    """
    pattern = resource_grid.pilot_pattern
    mask = pattern.mask[0, 0].to(torch.bool).cpu()  # [S, F_eff]
    pilot_rows = torch.nonzero(mask.any(dim=1)).flatten()
    if not bool(mask[pilot_rows].all()):  # pragma: no cover - Kronecker SISO pilots fill their symbols
        raise SemlinkError("LS estimation needs pilots on every subcarrier of the pilot OFDM symbols")
    cls = NearestNeighborInterpolator if interpolation == "nn" else LinearInterpolator
    interp = cls(pattern, device="cpu")
    pilot_sym_of_pilot = torch.nonzero(mask)[:, 0]  # OFDM symbol of each pilot, Sionna's pilot order
    num_sym, num_sc = mask.shape
    weights = torch.zeros(num_sym, len(pilot_rows), dtype=torch.float64)
    for j, row in enumerate(pilot_rows):
        probe = (pilot_sym_of_pilot == row).to(torch.complex64).reshape(1, 1, 1, 1, 1, -1)
        out, _ = interp(probe, torch.zeros(probe.shape, dtype=torch.float32))
        out = out.reshape(num_sym, num_sc).real.to(torch.float64)
        if not torch.allclose(out, out[:, :1].expand_as(out), atol=1e-6):  # pragma: no cover - see docstring
            raise SemlinkError("the LS interpolation of this pilot pattern is not separable in time")
        weights[:, j] = out[:, 0]
    return weights.to(torch.float32)


class OfdmReceiver(Block):
    """Channel knowledge + LMMSE equalisation on a SISO resource grid (see module docstring).

    :param resource_grid: the grid the transmitter used.
    :param csi: ``"perfect"`` (the true ``h_freq``) or ``"ls"`` (least squares on the pilots,
        ``err_var = no / |pilot|^2``, interpolated like Sionna's ``LSChannelEstimator``).
    :param interpolation: ``"nn"`` or ``"lin"`` (LS only).

    :input y: ``[B, 1, 1, num_ofdm_symbols, fft_size] complex64`` received grids.
    :input h_freq: ``[B, 1, 1, 1, 1, T, fft_size] complex64`` true channel with ``T`` 1 or
        ``num_ofdm_symbols``, or None for a unit channel (AWGN); only read with perfect CSI.
    :input no: ``[B] float32`` noise variance.
    :output x_hat: ``[B, num_data_symbols] complex64`` equalised data symbols (Sionna's data-RE order).
    :output no_eff: ``[B, num_data_symbols] float32`` effective noise variance.
    """

    def __init__(
        self, resource_grid: ResourceGrid, csi: str, interpolation: str = "nn", device: str | None = None
    ) -> None:
        super().__init__(device=device)
        if csi not in ("perfect", "ls"):
            raise SemlinkError(f"unknown csi {csi!r}; accepted: perfect, ls")
        if interpolation not in ("nn", "lin"):
            raise SemlinkError(f"unknown interpolation {interpolation!r}; accepted: nn, lin")
        self._csi = csi
        self._num_sym = int(resource_grid.num_ofdm_symbols)
        sc = torch.as_tensor(resource_grid.effective_subcarrier_ind, dtype=torch.long)
        self._all_sc = len(sc) == resource_grid.fft_size
        self.register_buffer("_sc_ind", sc.to(self.device), persistent=False)
        mask = resource_grid.pilot_pattern.mask[0, 0].to(torch.bool).cpu()  # [S, F_eff]
        data_ind = torch.nonzero(~mask.flatten()).flatten()  # data REs, symbol-major like Sionna's mappers
        self.register_buffer("_data_ind", data_ind.to(self.device), persistent=False)
        pilot_rows = torch.nonzero(mask.any(dim=1)).flatten()
        self.register_buffer("_pilot_rows", pilot_rows.to(self.device), persistent=False)
        pilots = resource_grid.pilot_pattern.pilots[0, 0].detach().cpu().reshape(len(pilot_rows), -1)
        energy = pilots.abs().square()
        self.register_buffer(
            "_pilot_inv", (pilots.conj() / energy).to(self.cdtype).to(self.device), persistent=False
        )
        if csi == "ls":
            weights = _time_interpolation_matrix(resource_grid, interpolation)
            self.register_buffer("_interp", weights.to(self.device), persistent=False)
            # err_var at the pilots is no/|p|^2; interpolated with the same weights, per unit no:
            err_unit = torch.einsum("tp,pf->tf", weights, (1.0 / energy).to(torch.float32)).clamp_min(0.0)
            self.register_buffer("_err_unit", err_unit.flatten()[data_ind].to(self.device), persistent=False)

    def _effective(self, grid: torch.Tensor) -> torch.Tensor:
        """``[..., S, fft_size]`` -> ``[..., S, F_eff]`` (drop guard/DC carriers)."""
        return grid if self._all_sc else grid.index_select(-1, self._sc_ind)

    def estimate(
        self, y_eff: torch.Tensor, h_freq: torch.Tensor | None, no: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """``(h_hat [B, S|1, F_eff] or None for h = 1, err_var [B, num_data] or None for 0)``."""
        batch = y_eff.shape[0]
        if self._csi == "ls":
            h_pilots = y_eff.index_select(1, self._pilot_rows) * self._pilot_inv  # [B, P, F_eff]
            h_hat = torch.einsum("tp,bpf->btf", self._interp.to(h_pilots.dtype), h_pilots)
            return h_hat, no.reshape(batch, 1) * self._err_unit
        if h_freq is None:
            return None, None
        h = h_freq.reshape(batch, -1, h_freq.shape[-1])
        return self._effective(h), None

    def call(
        self, y: torch.Tensor, h_freq: torch.Tensor | None, no: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch = y.shape[0]
        y_eff = self._effective(y.reshape(batch, self._num_sym, -1))
        h_hat, err_var = self.estimate(y_eff, h_freq, no)
        y_data = y_eff.reshape(batch, -1).index_select(1, self._data_ind)
        s = no.reshape(batch, 1) if err_var is None else no.reshape(batch, 1) + err_var
        if h_hat is None:
            return y_data, s.expand(y_data.shape)
        h_hat = h_hat.expand(batch, self._num_sym, h_hat.shape[-1]).reshape(batch, -1)
        return siso_lmmse(y_data, h_hat.index_select(1, self._data_ind), s)


class FlatReceiver(Block):
    """Perfect-CSI LMMSE equalisation without a grid.

    :input y: ``[B, N] complex64``; :input h: ``[B, 1] complex64`` or None (unit channel);
    :input no: ``[B] float32``.
    :output x_hat: ``[B, N] complex64``; :output no_eff: ``[B, N] float32``.
    """

    def call(
        self, y: torch.Tensor, h: torch.Tensor | None, no: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        s = no.reshape(-1, 1)
        if h is None:
            return y, s.expand(y.shape)
        x_hat, no_eff = siso_lmmse(y, h, s)
        return x_hat, no_eff.expand(y.shape)
