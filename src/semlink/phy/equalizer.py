"""SISO equalisers: unbiased LMMSE (Sionna's convention) and biased (per-symbol) MMSE.

Per resource element the receiver sees ``y = h x + n`` with ``E|x|^2 = 1`` (the analog link's power
normalisation and the QAM constellations guarantee it) and ``E|n|^2 = no``. It knows a channel
estimate ``h`` whose error has variance ``err_var`` (0 with perfect CSI) and, like Sionna, treats that
error as extra noise: ``s = no + err_var`` (exact for LMMSE channel estimates, whose error is
uncorrelated with the estimate; an approximation for LS). Two estimates of ``x`` follow:

``lmmse`` (unbiased, ``sionna.phy.mimo.lmmse_equalizer`` at one antenna)::

    x_hat = y / h                     no_eff = s / |h|^2

    ``x_hat = x + e`` with ``e`` uncorrelated with ``x`` and ``E|e|^2 = no_eff``. Right when the
    consumer models its input as the symbol plus independent noise of known variance: the APP
    demapper (the digital link always uses it), or a decoder that is given ``no_eff``. Where the
    channel fades (``|h|`` small) both ``x_hat`` and ``no_eff`` blow up: the errors are heavy-tailed.

``lmmse-biased`` (the linear MMSE estimate; the conditional mean when ``x`` is Gaussian)::

    x_hat = conj(h) y / (|h|^2 + s)   mse = E|x_hat - x|^2 = s / (|h|^2 + s)

    It is the unbiased estimate shrunk by ``g = |h|^2 / (|h|^2 + s) = 1 / (1 + no_eff)``:
    ``x_hat = g (x + e)``, so ``E[x_hat | x] = g x`` and ``mse = (1 - g)^2 + g^2 no_eff =
    no_eff / (1 + no_eff) = 1 - g`` (averaged over unit-energy ``x``; the error is correlated with
    ``x``). Right when the estimate itself is the receiver's output, judged by its squared error or
    fed to a decoder: a faded symbol is pulled towards 0 instead of blown up, and ``mse <= 1``
    always. It is the analog link's one receiver front end (:mod:`semlink.phy.analog`: every
    analog decoder reads ``(x_hat, mse)``).
"""

from __future__ import annotations

import torch

from semlink.errors import choice_error
from semlink.phy.config import EQUALIZERS

__all__ = ["siso_lmmse", "siso_lmmse_biased", "equalize"]

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


def siso_lmmse_biased(
    y: torch.Tensor, h: torch.Tensor, s: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """1x1 biased MMSE for unit-energy symbols: ``conj(h) y / (|h|^2 + s)`` and its error ``s / (|h|^2 + s)``.

    Arguments as :func:`siso_lmmse`; see the module docstring for the error variance.
    """
    total = (h.real.square() + h.imag.square() + s).clamp_min(_TINY)
    return y * (h.conj() / total), s / total


def equalize(
    y: torch.Tensor, h: torch.Tensor | None, s: torch.Tensor, equalizer: str = "lmmse"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x_hat, noise_var)`` of ``y``'s shape with the named equaliser (one of :data:`EQUALIZERS`).

    ``h=None`` is a unit channel (AWGN, known): ``(y, s)`` unbiased, ``(y / (1 + s), s / (1 + s))`` biased.
    """
    if equalizer not in EQUALIZERS:
        raise choice_error("equalizer", equalizer, EQUALIZERS)
    if h is None:
        s = s.expand(y.shape)
        return (y, s) if equalizer == "lmmse" else (y / (1.0 + s), s / (1.0 + s))
    x_hat, noise_var = (siso_lmmse if equalizer == "lmmse" else siso_lmmse_biased)(y, h, s)
    return x_hat, noise_var.expand(y.shape)
