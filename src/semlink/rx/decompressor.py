"""The KBSC receiver's learned feature decompressor (the reference design's decoder MLP), optionally
reading the per-symbol error variance of the link's front end.

``k → hidden → D`` with ReLU; the reference ends with ``BatchNorm1d(D)`` (``output_norm=True``).

The received latent is what every analog receiver reads from :class:`semlink.phy.AnalogLink`
(its module docstring): the per-symbol LMMSE estimates of the on-air symbols (``k`` interleaved
reals) and their error variances (``k/2`` values in [0, 1]). ``noise_input`` says what the
decoder reads of it:

- ``"none"`` (the reference, *blind*): the estimates alone.
- ``"mmse"``: the estimates and the error variances, ``[x (k reals), e (k/2 values)]``: a faded or
  noisy symbol arrives shrunk towards 0 *and* marked unreliable.
- ``"mmse-film"``: ``"mmse"`` plus a feature-wise gain on the hidden layer computed from the
  example's noise level (the attention-feature module of ADJSCC, Xu et al. 2021): an MLP of
  ``[mean e, mean log e]`` and the mean hidden activation gives a sigmoid gain per hidden unit.

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
_LOG_FLOOR = 1e-4  # an error variance below this (SNR above ~40 dB) is read as this: the log stays bounded


def check_error_var(latent: torch.Tensor, error_var: torch.Tensor) -> torch.Tensor:
    """``error_var [B, k/2]`` clipped to [0, 1], after checking it has one value per complex symbol of
    ``latent [B, k]`` (skipped while an ONNX export traces the graph: shapes are symbolic there)."""
    if not torch.jit.is_tracing() and (
        latent.shape[-1] != 2 * error_var.shape[-1] or latent.shape[:-1] != error_var.shape[:-1]
    ):
        raise SemlinkError(
            f"error_var has shape {tuple(error_var.shape)}; expected one value per complex symbol of the "
            f"latent {tuple(latent.shape)}, i.e. {(*latent.shape[:-1], latent.shape[-1] // 2)}"
        )
    return error_var.clamp(0.0, 1.0)


class FeatureDecompressor(nn.Module):
    """Received latent ``[B, k] float32`` (and its error variance ``[B, k/2]``) → feature ``[B, D] float32``.

    :param noise_input: one of :data:`NOISE_INPUTS` (see the module docstring).
    """

    def __init__(
        self,
        latent_dim: int,
        feature_dim: int,
        hidden_dim: int = 384,
        output_norm: bool = True,
        noise_input: str = "none",
    ) -> None:
        super().__init__()
        require(latent_dim > 0, f"latent_dim = {latent_dim}; must be a positive integer")
        require(feature_dim > 0, f"feature_dim = {feature_dim}; must be a positive integer")
        if noise_input not in NOISE_INPUTS:
            raise choice_error("decoder noise_input", noise_input, NOISE_INPUTS)
        require(noise_input == "none" or latent_dim % 2 == 0,
                f"latent_dim = {latent_dim}; a noise-aware decoder needs an even latent (re/im pairs)")
        self.latent_dim = latent_dim
        self.feature_dim = feature_dim
        self.hidden_dim = hidden_dim
        self.output_norm = output_norm
        self.noise_input = noise_input
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

    def forward(self, latent: torch.Tensor, error_var: torch.Tensor | None = None) -> torch.Tensor:
        """``latent [B, k]``, ``error_var [B, k/2]`` (read only when noise-aware) → ``[B, D]``."""
        if not self.noise_aware:
            return self.net(latent)
        if error_var is None:
            raise SemlinkError(
                f"this decoder reads the per-symbol error variance (noise_input = {self.noise_input!r}); "
                "pass the link's error_var [B, k/2] beside the received latent"
            )
        mse = check_error_var(latent, error_var)
        hidden = self.net[1](self.net[0](torch.cat([latent, mse], dim=-1)))
        if self.gain is not None:
            level = torch.stack([mse.mean(-1), mse.clamp_min(_LOG_FLOOR).log().mean(-1)], dim=-1)
            hidden = hidden * self.gain(torch.cat([hidden, level], dim=-1))
        out = self.net[2](hidden)
        return self.net[3](out) if self.output_norm else out
