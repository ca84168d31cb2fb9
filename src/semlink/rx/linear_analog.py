"""The linear analog code's receiver: LMMSE estimate of the KLT coefficients from the link's front end.

Reads exactly what :class:`semlink.phy.AnalogLink` delivers for each symbol: ``estimate``, the
per-symbol MMSE estimate ``z`` of the unit-energy on-air symbol, and its error variance ``e`` in
[0, 1]. Derivation (notation of :mod:`semlink.tx.linear_analog`):

- The front end is linear in the received sample with gain ``1 − e`` on the symbol
  (``z = conj(h) y / (|h|² + s)``, ``e = s / (|h|² + s)``), so ``u = z / (1 − e) = a + w`` is the
  unbiased observation of the sent value with noise variance ``v = e / (1 − e)`` per symbol,
  ``v / 2`` per real.
- The MMSE front end assumes unit-energy symbols; real ``i`` of this code has power
  ``p_i = g_i² λ_i`` instead, so the coefficient's LMMSE estimate is taken from ``u``:
  ``ĉ_i = g_i λ_i / (p_i + v_i / 2) · u_i = g_i λ_i z_i / ((1 − e_i) p_i + e_i / 2)`` (the right-hand
  form stays finite where ``e → 1``: a symbol that carried nothing gives ``ĉ = 0``).
- The image is ``x̂ = μ + Σ_i ĉ_i u_i``, clipped to [0, 1] (the true pixels lie there, so clipping
  never increases the error).

The gains ``g_i`` depend on the SNR the transmitter used (fed back to it). The receiver takes it
from its own front end (:func:`semlink.phy.analog.receiver_snr_db` over the symbols that carry
coefficients): exactly the set SNR on AWGN with perfect CSI, an estimate of the average
``|h|² / s`` on fading channels (the SNR a receiver would feed back). Nothing else reaches the
decoder.
"""

from __future__ import annotations

import torch
from torch import nn

from semlink.errors import SemlinkError
from semlink.tx.linear_analog import KltBasis, allocation_gains, sent_components

__all__ = ["LinearAnalogDecoder"]

_E_FLOOR = 1e-12  # keeps the LMMSE denominator positive where a coefficient has no gain and no noise


class LinearAnalogDecoder(nn.Module):
    """``(estimate [B, N] complex64, error_var [B, N] float32)`` → image ``[B, C, H, W] float32`` in [0, 1].

    :param klt: the KLT the transmitter uses (:class:`~semlink.tx.linear_analog.KltBasis`).
    :param channel_uses: the budget, as the transmitter's.
    """

    def __init__(self, klt: KltBasis, channel_uses: int) -> None:
        super().__init__()
        self.klt = klt
        self.channel_uses = channel_uses
        self.num_sent = sent_components(klt, channel_uses)

    def forward(self, estimate: torch.Tensor, error_var: torch.Tensor) -> torch.Tensor:
        """``estimate [B, N] complex64``, ``error_var [B, N] float32`` → ``[B, C, H, W] float32`` in [0, 1]."""
        return self.klt.unflatten(self.estimate_values(estimate, error_var).clamp(0.0, 1.0))

    def estimate_values(self, estimate: torch.Tensor, error_var: torch.Tensor) -> torch.Tensor:
        """The LMMSE estimate of the flattened source ``[B, n] float32``, before clipping to [0, 1]."""
        from semlink.phy import complex_to_real

        n = self.channel_uses
        if not isinstance(estimate, torch.Tensor) or not estimate.is_complex() or estimate.dim() != 2 \
                or estimate.shape[1] != n or not isinstance(error_var, torch.Tensor) \
                or tuple(error_var.shape) != tuple(estimate.shape):
            shapes = [f"{t.dtype} {tuple(t.shape)}" if isinstance(t, torch.Tensor) else type(t).__name__
                      for t in (estimate, error_var)]
            raise SemlinkError(f"received {shapes[0]} and error variance {shapes[1]}; this decoder takes "
                               f"complex [B, {n}] and float [B, {n}]")
        return self.values_from_reals(complex_to_real(estimate), error_var)

    def values_from_reals(self, reals: torch.Tensor, error_var: torch.Tensor) -> torch.Tensor:
        """:meth:`estimate_values` from the estimates as interleaved reals ``[B, 2N]`` (no checks)."""
        from semlink.phy.analog import receiver_snr_db

        k = self.num_sent
        used = -(-k // 2)  # symbols that carry coefficients
        e_sym = error_var.clamp(0.0, 1.0)
        snr_db = receiver_snr_db(e_sym[:, :used], clip=False)
        gains = allocation_gains(self.klt, self.channel_uses, snr_db, reals.shape[0])  # [B, k] float64
        lam = self.klt.variances[:k]
        z = reals[:, :k].to(torch.float64)
        e = e_sym.to(torch.float64).repeat_interleave(2, dim=1)[:, :k]
        denominator = ((1.0 - e) * gains.square() * lam + e / 2.0).clamp_min(_E_FLOOR)
        coefficients = torch.where(gains > 0, gains * lam * z / denominator, torch.zeros_like(z))
        return self.klt.mean + coefficients.to(torch.float32) @ self.klt.basis[:, :k].T
