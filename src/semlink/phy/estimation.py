"""Channel estimation on a SISO resource grid with Kronecker pilots: LS interpolation and LMMSE filtering.

Both start from least squares at the pilots, ``h_ls = y_p conj(p) / |p|^2`` with error variance
``no / |p|^2`` (Sionna's ``LSChannelEstimator``); the receiver computes that step.

- **LS** (:func:`ls_time_weights`): ``h_ls`` interpolated to the data REs by nearest neighbour or
  linearly along time, with weights *read from Sionna's own interpolators* (probed once).
- **LMMSE** (:class:`LmmseEstimator`): Sionna's ``LMMSEChannelEstimator`` with ``order="f-t"``:
  an LMMSE filter across the subcarriers of each pilot OFDM symbol (smoothing, followed by
  Sionna's variance-matching scaling step), then one across OFDM symbols per subcarrier
  (interpolation and smoothing), built from the channel covariance of
  :mod:`semlink.phy.covariance`. It returns the per-RE error variance Sionna derives, which the
  receiver adds to the noise. Why "f-t": each pass assumes the errors of its inputs uncorrelated,
  which holds for both passes in this order with pilots on whole OFDM symbols, so the reported
  error variance is right; "t-f" leaves errors correlated across subcarriers after its first pass
  (the time-interpolation error of a moving channel), and on TDL-A at 30 m/s and 5 dB it reported
  0.008 for a measured 0.028 (f-t: 0.010 for 0.011; the full 2-D LMMSE: 0.010). At 3 m/s the two
  orders differ by 2-4 % in MSE.

Sionna's block solves its filters for every example of a batch (a Cholesky solve per example and
OFDM symbol: about 50 ms per slot on one CPU core). The filters depend on an example only through
its noise variance, so :class:`LmmseEstimator` computes them with Sionna's formulas once per noise
level (float64, cached) and applies them as two small matrix products; the test suite checks the
result against Sionna's block.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

import torch
from sionna.phy.ofdm import LinearInterpolator, NearestNeighborInterpolator, ResourceGrid

from semlink.errors import SemlinkError
from semlink.phy.covariance import ChannelCovariance

__all__ = ["ls_time_weights", "pilot_layout", "LmmseFilters", "LmmseEstimator"]


def pilot_layout(resource_grid: ResourceGrid) -> tuple[torch.Tensor, torch.Tensor]:
    """``(pilot_rows [K] long, pilots [K, F_eff] complex64)`` of a Kronecker SISO grid (CPU).

    Kronecker pilots of one stream fill every effective subcarrier of their OFDM symbols; Sionna
    orders them symbol-major, so the flat pilot vector reshapes to ``[K, F_eff]``.
    """
    mask = resource_grid.pilot_pattern.mask[0, 0].to(torch.bool).cpu()  # [S, F_eff]
    pilot_rows = torch.nonzero(mask.any(dim=1)).flatten()
    if not bool(mask[pilot_rows].all()):  # pragma: no cover - Kronecker SISO pilots fill their symbols
        raise SemlinkError("channel estimation needs pilots on every subcarrier of the pilot OFDM symbols")
    pilots = resource_grid.pilot_pattern.pilots[0, 0].detach().cpu().reshape(len(pilot_rows), -1)
    return pilot_rows, pilots


def ls_time_weights(resource_grid: ResourceGrid, interpolation: str) -> torch.Tensor:
    """``[num_ofdm_symbols, num_pilot_ofdm_symbols] float32`` weights that Sionna's LS interpolator applies.

    Kronecker pilots fill whole OFDM symbols, so Sionna's NN / linear interpolation acts along time
    only, per subcarrier. Probing the interpolator with one pilot OFDM symbol at a time reads off
    the weights; the probe also proves the separability.
    """
    pattern = resource_grid.pilot_pattern
    mask = pattern.mask[0, 0].to(torch.bool).cpu()  # [S, F_eff]
    pilot_rows, _ = pilot_layout(resource_grid)
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


class LmmseFilters(NamedTuple):
    """The LMMSE estimator at one noise level (``K`` pilot OFDM symbols, ``S`` symbols, ``F`` subcarriers).

    ``freq [K, F, F]``: per pilot OFDM symbol, across its subcarriers (Sionna's scaling step folded
    in); ``time [F, S, K]``: per subcarrier, from the ``K`` pilot symbols to all ``S`` OFDM symbols;
    ``err_var [S, F] float32``: error variance of the final estimate.
    """

    freq: torch.Tensor
    time: torch.Tensor
    err_var: torch.Tensor


def _solve_loaded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a^-1 b`` for batched Hermitian ``a``, diagonally loaded as Sionna does (``eps * n * mean|diag|``)."""
    n = a.shape[-1]
    load = torch.finfo(torch.float64).eps * n * a.diagonal(dim1=-2, dim2=-1).abs().mean(dim=-1)
    eye = torch.eye(n, dtype=a.dtype)
    return torch.linalg.solve(a + load[..., None, None] * eye, b)


def lmmse_filters(
    cov: ChannelCovariance, pilot_rows: torch.Tensor, pilot_energy: torch.Tensor, no: float
) -> LmmseFilters:
    """Sionna's ``LMMSEChannelEstimator`` filters for ``order="f-t"`` at noise variance ``no`` (float64).

    :param pilot_energy: ``[K, F] float64`` ``|p|^2`` of the pilots; LS error variance is ``no / |p|^2``.
    The formulas are those of Sionna's ``_LMMSEEstimator1D`` (see its docstring): a frequency pass
    on the pilot OFDM symbols that is not the last step (so followed by its scaling), then a last
    time pass per subcarrier from the pilot symbols to all OFDM symbols.
    """
    r_t, r_f = cov.time.to(torch.complex128), cov.freq.to(torch.complex128)
    num_pilot_sym = len(pilot_rows)
    # Frequency pass, per pilot OFDM symbol k: A_k = R_f (R_f + diag(no / |p_k|^2))^-1.
    err_ls = (no / pilot_energy).to(torch.complex128)  # [K, F]
    r_f_k = r_f.expand(num_pilot_sym, -1, -1)
    ext = _solve_loaded(r_f_k + torch.diag_embed(err_ls), r_f_k).mH  # [K, F, F]
    var_f = r_f.diagonal()  # [F]
    err1 = (var_f - torch.einsum("kfg,gf->kf", ext, r_f)).real.clamp_min(0.0)
    # Scaling so that the estimate's variance is what the next pass expects (Sionna's s_{n,m}).
    est_var = torch.einsum("kfg,gh,kfh->kf", ext, r_f, ext.conj())
    est_var = est_var + torch.einsum("kfg,kg->kf", ext.abs().square().to(torch.complex128), err_ls)
    denom = est_var + var_f - err1
    scale = torch.where(denom.abs() > 1e-12, 2.0 * var_f / denom, torch.zeros_like(denom))
    err2 = (scale * (scale - 1.0) * est_var + (1.0 - scale) * var_f + scale * err1).real.clamp_min(0.0)
    freq = scale[..., None] * ext  # [K, F, F]
    # Time pass, per subcarrier f: B_f = R_t[:, P] (R_t[P, P] + diag(err2[:, f]))^-1.
    num_sc = r_f.shape[0]
    r_pp = r_t[pilot_rows][:, pilot_rows]  # [K, K]
    r_ps = r_t[pilot_rows]  # [K, S]
    a = r_pp.expand(num_sc, -1, -1) + torch.diag_embed(err2.T.to(torch.complex128))
    time = _solve_loaded(a, r_ps.expand(num_sc, -1, -1)).mH  # [F, S, K]
    err3 = (r_t.diagonal()[None, :] - torch.einsum("fsk,ks->fs", time, r_ps)).real.clamp_min(0.0)
    return LmmseFilters(freq, time, err3.T.contiguous().to(torch.float32))


class LmmseEstimator(torch.nn.Module):
    """LMMSE channel estimates from LS pilot estimates (see the module docstring).

    :param resource_grid: the transmitter's grid (Kronecker pilots).
    :param covariance: the channel covariance (:func:`semlink.phy.covariance.channel_covariance`).
    :param device: where the filters are applied.
    :param cache_size: noise levels whose filters are kept.

    :input h_ls: ``[B, K, F_eff] complex64`` LS estimates on the ``K`` pilot OFDM symbols.
    :input no: ``[B] float32`` noise variance.
    :output h_hat: ``[B, S, F_eff] complex64``; :output err_var: ``[B, S, F_eff] float32``.
    """

    def __init__(
        self,
        resource_grid: ResourceGrid,
        covariance: ChannelCovariance,
        device: str | torch.device | None = None,
        cache_size: int = 32,
    ) -> None:
        super().__init__()
        pilot_rows, pilots = pilot_layout(resource_grid)
        num_sym, num_sc = int(resource_grid.num_ofdm_symbols), pilots.shape[1]
        if covariance.time.shape != (num_sym, num_sym) or covariance.freq.shape != (num_sc, num_sc):
            raise SemlinkError(
                f"channel covariance of shapes {list(covariance.time.shape)} and {list(covariance.freq.shape)} "
                f"does not fit a grid of {num_sym} OFDM symbols x {num_sc} effective subcarriers"
            )
        self._cov = covariance
        self._pilot_rows = pilot_rows
        self._pilot_energy = pilots.abs().square().to(torch.float64)
        self._device = torch.device(device) if device is not None else torch.device("cpu")
        self._cache: OrderedDict[float, LmmseFilters] = OrderedDict()
        self._cache_size = cache_size

    def filters(self, no: float) -> LmmseFilters:
        """The filters at noise variance ``no`` on this estimator's device (complex64), cached."""
        key = float(no)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        f = lmmse_filters(self._cov, self._pilot_rows, self._pilot_energy, key)
        f = LmmseFilters(
            f.freq.to(device=self._device, dtype=torch.complex64),
            f.time.to(device=self._device, dtype=torch.complex64),
            f.err_var.to(self._device),
        )
        self._cache[key] = f
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return f

    def forward(self, h_ls: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        levels, which = torch.unique(no.detach(), return_inverse=True)
        if len(levels) == 1:
            return self._apply(h_ls, float(levels[0]))
        batch, _, num_sc = h_ls.shape
        num_sym = int(self._cov.time.shape[0])
        h_hat = h_ls.new_empty(batch, num_sym, num_sc)
        err_var = torch.empty(batch, num_sym, num_sc, dtype=torch.float32, device=h_ls.device)
        for i, level in enumerate(levels.tolist()):
            rows = torch.nonzero(which == i).flatten()
            h_hat[rows], err_var[rows] = self._apply(h_ls[rows], level)
        return h_hat, err_var

    def _apply(self, h_ls: torch.Tensor, no: float) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.filters(no)
        over_freq = torch.einsum("kfg,bkg->bkf", f.freq, h_ls)
        h_hat = torch.einsum("fsk,bkf->bsf", f.time, over_freq)
        return h_hat, f.err_var.expand(h_ls.shape[0], -1, -1)
