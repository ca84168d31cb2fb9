"""The KBSC receiver's learned feature decompressor (the reference design's decoder MLP), optionally
told the per-symbol noise variance the link reports.

``k → hidden → D`` with ReLU; the reference ends with ``BatchNorm1d(D)`` (``output_norm=True``).

``noise_input`` says what the decoder reads besides the received latent:

- ``"none"`` (the reference, *blind*): the received latent alone.
- ``"mmse"``: the receiver's per-symbol knowledge in one bounded form. A fixed, parameter-free
  front end (:func:`mmse_form`) turns the equaliser's output ``(x_hat, noise_var)`` into the
  per-symbol MMSE estimate of the on-air symbol and its error variance ``mse`` in ``[0, 1]``; the
  MLP reads both, ``[x_mmse (k reals), mse (k/2 values)]``. A faded or noisy symbol thus arrives
  shrunk towards 0 *and* marked unreliable, instead of blown up (unbiased equaliser) or merely
  shrunk (biased). Both equalisers carry the same information (each output is a function of the
  other), so after the front end the decoder sees the same input whichever the link uses.
- ``"mmse-film"``: ``"mmse"`` plus a feature-wise gain on the hidden layer computed from the
  example's noise level (the attention-feature module of ADJSCC, Xu et al. 2021): an MLP of
  ``[mean mse, mean log mse]`` and the mean hidden activation gives a sigmoid gain per hidden unit.

>>> import torch
>>> dec = FeatureDecompressor(latent_dim=256, feature_dim=512).eval()
>>> dec(torch.randn(4, 256)).shape
torch.Size([4, 512])
>>> aware = FeatureDecompressor(256, 512, noise_input="mmse").eval()
>>> aware(torch.randn(4, 256), torch.full((4, 128), 0.1)).shape
torch.Size([4, 512])
"""

from __future__ import annotations

import torch
from torch import nn

from semlink.errors import SemlinkError, choice_error, require

NOISE_INPUTS = ("none", "mmse", "mmse-film")
EQUALIZER_CONVENTIONS = ("lmmse", "lmmse-biased")
_LOG_FLOOR = 1e-4  # mse below this (SNR above ~40 dB) is read as this: the log stays bounded


def mmse_form(latent: torch.Tensor, noise_var: torch.Tensor, equalizer: str = "lmmse") -> tuple[torch.Tensor, torch.Tensor]:
    """Per-symbol MMSE estimate and its error variance from an equaliser's output.

    :param latent: ``[B, 2N] float32`` equalised symbols, interleaved re/im, on-air scale.
    :param noise_var: ``[B, N] float32`` the link's per-symbol noise variance
        (:class:`semlink.phy.AnalogOutput` ``noise_var``).
    :param equalizer: the link's equaliser convention: ``"lmmse"`` (unbiased, ``x_hat = x + e``,
        ``noise_var = E|e|^2``) or ``"lmmse-biased"`` (already the MMSE estimate and its error).
    :returns: ``(x_mmse [B, 2N], mse [B, N])``; for the unbiased convention
        ``x_mmse = x_hat / (1 + v)`` and ``mse = v / (1 + v)`` (unit-energy symbols), which is exactly
        what the biased equaliser returns for the same received symbol.
    """
    if equalizer not in EQUALIZER_CONVENTIONS:
        raise choice_error("equalizer convention", equalizer, EQUALIZER_CONVENTIONS)
    # (Skipped while an ONNX export traces the graph: shapes are symbolic there and match by construction.)
    if not torch.jit.is_tracing() and (
        latent.shape[-1] != 2 * noise_var.shape[-1] or latent.shape[:-1] != noise_var.shape[:-1]
    ):
        raise SemlinkError(
            f"noise_var has shape {tuple(noise_var.shape)}; expected one value per complex symbol of the "
            f"latent {tuple(latent.shape)}, i.e. {(*latent.shape[:-1], latent.shape[-1] // 2)}"
        )
    noise_var = noise_var.clamp_min(0.0)
    if equalizer == "lmmse-biased":
        return latent, noise_var.clamp_max(1.0)
    gain = 1.0 / (1.0 + noise_var)
    return latent * gain.repeat_interleave(2, dim=-1), noise_var * gain


class FeatureDecompressor(nn.Module):
    """Received latent ``[B, k] float32`` (and its noise variance ``[B, k/2]``) → feature ``[B, D] float32``.

    :param noise_input: one of :data:`NOISE_INPUTS` (see the module docstring).
    :param equalizer: the convention of the received symbols (``"lmmse"`` | ``"lmmse-biased"``);
        read only by the noise-aware modes.
    """

    def __init__(
        self,
        latent_dim: int,
        feature_dim: int,
        hidden_dim: int = 384,
        output_norm: bool = True,
        noise_input: str = "none",
        equalizer: str = "lmmse",
    ) -> None:
        super().__init__()
        require(latent_dim > 0, f"latent_dim = {latent_dim}; must be a positive integer")
        require(feature_dim > 0, f"feature_dim = {feature_dim}; must be a positive integer")
        if noise_input not in NOISE_INPUTS:
            raise choice_error("decoder noise_input", noise_input, NOISE_INPUTS)
        if equalizer not in EQUALIZER_CONVENTIONS:
            raise choice_error("equalizer convention", equalizer, EQUALIZER_CONVENTIONS)
        require(noise_input == "none" or latent_dim % 2 == 0,
                f"latent_dim = {latent_dim}; a noise-aware decoder needs an even latent (re/im pairs)")
        self.latent_dim = latent_dim
        self.feature_dim = feature_dim
        self.hidden_dim = hidden_dim
        self.output_norm = output_norm
        self.noise_input = noise_input
        self.equalizer = equalizer
        in_dim = latent_dim if noise_input == "none" else latent_dim + latent_dim // 2
        layers: list[nn.Module] = [
            nn.Linear(in_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, feature_dim),
        ]
        if output_norm:
            layers.append(nn.BatchNorm1d(feature_dim))
        self.net = nn.Sequential(*layers)
        self.gain = None
        if noise_input == "mmse-film":
            squeeze = max(hidden_dim // 8, 8)
            self.gain = nn.Sequential(nn.Linear(hidden_dim + 2, squeeze), nn.ReLU(), nn.Linear(squeeze, hidden_dim),
                                      nn.Sigmoid())

    @property
    def noise_aware(self) -> bool:
        return self.noise_input != "none"

    def forward(self, latent: torch.Tensor, noise_var: torch.Tensor | None = None) -> torch.Tensor:
        """``latent [B, k]``, ``noise_var [B, k/2]`` (read only when noise-aware) → ``[B, D]``."""
        if not self.noise_aware:
            return self.net(latent)
        if noise_var is None:
            raise SemlinkError(
                f"this decoder reads the per-symbol noise variance (noise_input = {self.noise_input!r}); "
                "pass the link's noise_var [B, k/2] beside the received latent"
            )
        x, mse = mmse_form(latent, noise_var, self.equalizer)
        hidden = self.net[1](self.net[0](torch.cat([x, mse], dim=-1)))
        if self.gain is not None:
            level = torch.stack([mse.mean(-1), mse.clamp_min(_LOG_FLOOR).log().mean(-1)], dim=-1)
            hidden = hidden * self.gain(torch.cat([hidden, level], dim=-1))
        out = self.net[2](hidden)
        return self.net[3](out) if self.output_norm else out
