"""The linear analog code's transmitter: KLT (PCA) of the source, Lee–Petersen power allocation.

The classic optimal *linear* analog scheme (Lee & Petersen, "Optimal linear coding for vector
channels", IEEE Trans. Commun. 1976), the floor every learned analog code must clear.

Derivation
----------
Source: an image flattened to ``x ∈ R^n`` (``n = C·H·W`` values in [0, 1], channel-major), mean
``μ``, covariance ``Σ = Σ_i λ_i u_i u_iᵀ`` with ``λ_1 ≥ λ_2 ≥ …`` (the KLT, fitted on training
images by :func:`fit_klt`). Budget: ``N`` complex channel uses = ``2N`` reals, of which
``k = min(2N, n)`` carry the first ``k`` KLT coefficients ``c_i = u_iᵀ (x − μ)`` (uncorrelated,
variance ``λ_i``); real ``i`` is sent as ``a_i = g_i c_i``, interleaved re/im into symbols as
:func:`semlink.phy.real_to_complex` packs them (unused reals are 0).

Channel, per real: ``r_i = a_i + w_i``, ``w_i ~ N(0, σ²)`` independent, ``σ² = no / 2`` (the complex
noise of variance ``no = 10^(−snr/10)`` splits over re/im). Power: unit average energy per complex
symbol, i.e. ``Σ_i g_i² λ_i = P = N``.

Receiver: the coefficients are uncorrelated and the noise independent, so the vector LMMSE
estimate is diagonal: ``ĉ_i = g_i λ_i / (g_i² λ_i + σ²) · r_i`` with error ``λ_i σ² / (p_i + σ²)``,
``p_i = g_i² λ_i``. Total MSE (sum over the ``n`` values)::

    D(p) = Σ_{i≤k} λ_i σ² / (p_i + σ²) + Σ_{i>k} λ_i          (the second sum: coefficients not sent)

Allocation: minimise ``D`` over ``p ≥ 0``, ``Σ p_i = P`` (convex). KKT: ``λ_i σ² / (p_i + σ²)² = ν``
wherever ``p_i > 0``, so ``p_i = (σ √λ_i θ − σ²)⁺`` with ``θ = 1/√ν`` (water-filling on ``√λ_i``).
The active set is the ``m`` largest coefficients; for it ``θ = (P + m σ²) / (σ S_m)``,
``S_m = Σ_{i≤m} √λ_i``, and ``m`` is the largest with ``σ √λ_m θ > σ²``. Then
``λ_i σ² / (p_i + σ²) = σ √λ_i / θ`` and::

    D* = σ² S_m² / (P + m σ²) + Σ_{m<i≤k} λ_i + Σ_{i>k} λ_i         (:func:`predicted_mse`)

As ``σ → 0`` every sent coefficient is active with ``p_i → P √λ_i / S_k``.

The link's per-image normalisation
----------------------------------
:class:`semlink.phy.AnalogLink` scales every example to unit average symbol energy, and so does
this encoder (it is the identity on what the link then sends): the sent reals are ``ρ a`` with
``ρ = √(P / ‖a‖²)``, a per-image gain the receiver never learns (sending it would cost counted
channel uses; nothing else is sent). The receiver applies the nominal LMMSE above (``ρ = 1``), so
``D*`` is exact only without the normalisation, or in the limit where ``‖a‖² / P → 1``: many
active coefficients of comparable power (for Gaussian sources the relative spread of ``‖a‖²`` is
``√(2 Σ p_i²) / P``). On images it is not: their energy varies from image to image, and the
unknown gain costs fidelity at high SNR (Fashion-MNIST, 392 uses, flat AWGN, measured: 25.8 dB
PSNR at 10 dB and 27.0 at 13 dB, against 28.8 and 31.6 dB were each image's gain known to the
receiver, which would be side information).

SNR knowledge: the allocation depends on ``σ²``. The transmitter uses the SNR fed back to it
(``snr_at_transmitter``, as the SNR-adaptive deep JSCC does); the receiver derives the same
allocation from what its front end reports (:mod:`semlink.rx.linear_analog`).

>>> import torch
>>> variances = torch.tensor([4.0, 1.0, 0.25, 0.0625], dtype=torch.float64)
>>> p = lee_petersen_powers(variances, noise_var=torch.tensor([0.5]), power=2.0)
>>> [round(float(v), 4) for v in p[0]]   # water-filling on sqrt(variance): the two weakest get nothing
[1.5, 0.5, 0.0, 0.0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from semlink.errors import SemlinkError, require

__all__ = [
    "KltBasis",
    "LinearAnalogEncoder",
    "fit_klt",
    "klt_components",
    "allocation_gains",
    "lee_petersen_powers",
    "sent_components",
    "predicted_mse",
    "FULL_EIGEN_MAX_DIM",
]

#: Up to this many source values per image the KLT is the full eigen-decomposition of the
#: covariance; above it a randomised truncated SVD of the centred data (only ``k`` components).
FULL_EIGEN_MAX_DIM = 4096
_NOISE_FLOOR = 1e-12  # sigma^2 below this is read as this: the sigma -> 0 limit, without 0/0
_FIT_CHUNK = 4096  # images per chunk when accumulating the covariance
_RELATIVE_FLOOR = 1e-9  # variances below this fraction of the largest are 0 (see _significant)


class KltBasis(nn.Module):
    """The fitted KLT of a source: what both ends of the linear code share.

    Buffers: ``mean [n] float32``, ``basis [n, k] float32`` (orthonormal columns, by decreasing
    variance), ``variances [k] float64`` (``λ_1 ≥ … ≥ λ_k ≥ 0``) and ``tail_variance`` (``[] float64``,
    the variance of the source outside the basis, ``Σ_{i>k} λ_i``). ``n = C·H·W`` of
    ``image_shape = (H, W, C)``.
    """

    def __init__(self, image_shape: Sequence[int], mean: torch.Tensor, basis: torch.Tensor,
                 variances: torch.Tensor, tail_variance: float | torch.Tensor) -> None:
        super().__init__()
        height, width, channels = (int(v) for v in image_shape)
        n = height * width * channels
        require(mean.shape == (n,), f"KLT mean has shape {tuple(mean.shape)}; expected ({n},) for images {image_shape}")
        require(basis.dim() == 2 and basis.shape[0] == n and 1 <= basis.shape[1] <= n,
                f"KLT basis has shape {tuple(basis.shape)}; expected ({n}, k) with 1 <= k <= {n}")
        require(variances.shape == (basis.shape[1],),
                f"KLT variances have shape {tuple(variances.shape)}; expected ({basis.shape[1]},)")
        self.image_shape = (height, width, channels)
        self.register_buffer("mean", mean.detach().to(torch.float32).clone())
        self.register_buffer("basis", basis.detach().to(torch.float32).clone(memory_format=torch.contiguous_format))
        self.register_buffer("variances", variances.detach().to(torch.float64).clamp_min(0.0).clone())
        self.register_buffer("tail_variance", torch.as_tensor(tail_variance, dtype=torch.float64).clamp_min(0.0))

    @property
    def num_components(self) -> int:
        return int(self.basis.shape[1])

    def flatten(self, images: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W] float`` → ``[B, n] float32`` (channel-major)."""
        height, width, channels = self.image_shape
        if not isinstance(images, torch.Tensor) or not images.is_floating_point() or images.dim() != 4 \
                or tuple(images.shape[1:]) != (channels, height, width):
            got = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
            raise SemlinkError(
                f"images are {got}; this code takes float [B, {channels}, {height}, {width}] in [0, 1]"
                " (images_to_tensor converts uint8 [B, H, W(, C)])"
            )
        return images.reshape(images.shape[0], -1).to(torch.float32)

    def unflatten(self, values: torch.Tensor) -> torch.Tensor:
        """``[B, n]`` → ``[B, C, H, W]``."""
        height, width, channels = self.image_shape
        return values.reshape(-1, channels, height, width)


def klt_components(images: torch.Tensor, wanted: int) -> int:
    """The KLT components ``images [N, ...]`` can give towards ``wanted``: at most the values per image,
    and above :data:`FULL_EIGEN_MAX_DIM` values (the truncated-SVD path) at most the rank of the centred
    data, N - 1. A budget with more reals than that sends the rest at zero power (:func:`sent_components`).

    >>> klt_components(torch.zeros(200, 3, 64, 64), 4096), klt_components(torch.zeros(50, 1, 8, 8), 128)
    (199, 64)
    """
    n = images[0].numel()
    limit = n if n <= FULL_EIGEN_MAX_DIM else min(n, images.shape[0] - 1)
    return max(1, min(int(wanted), limit))


def fit_klt(images: torch.Tensor, num_components: int, seed: int = 0) -> KltBasis:
    """Fit the KLT of ``images [N, C, H, W]`` (float in [0, 1], or uint8 read as ``/255``), keeping
    ``num_components`` components.

    Up to :data:`FULL_EIGEN_MAX_DIM` values per image: the eigen-decomposition of the sample
    covariance, accumulated in float64 over chunks of images (memory stays ``O(n²)``). Larger
    images: a randomised truncated SVD of the centred data (``torch.svd_lowrank``, float32, 4 power
    iterations, seeded by ``seed``); the tail variance is then the total variance minus the kept
    components'.
    """
    require(isinstance(images, torch.Tensor) and images.dim() == 4
            and (images.is_floating_point() or images.dtype == torch.uint8),
            f"KLT training images must be [N, C, H, W] float or uint8; got {getattr(images, 'shape', type(images).__name__)}")
    count = images.shape[0]
    require(count >= 2, f"{count} training image(s); the KLT needs at least 2")
    n = images[0].numel()
    require(isinstance(num_components, int) and not isinstance(num_components, bool) and 1 <= num_components <= n,
            f"num_components = {num_components!r}; must be an integer in [1, {n}] (values per image)")
    scale = 1.0 / 255.0 if images.dtype == torch.uint8 else 1.0
    flat = images.reshape(count, n)
    chunks = range(0, count, _FIT_CHUNK)
    mean = sum(flat[i : i + _FIT_CHUNK].to(torch.float64).sum(0) for i in chunks) * (scale / count)
    if n <= FULL_EIGEN_MAX_DIM:
        covariance = torch.zeros(n, n, dtype=torch.float64, device=images.device)
        for i in chunks:
            centred = flat[i : i + _FIT_CHUNK].to(torch.float64) * scale - mean
            covariance += centred.T @ centred
        covariance /= count - 1
        total = covariance.diagonal().sum()
        eigenvalues, vectors = torch.linalg.eigh(covariance)
        eigenvalues, vectors = eigenvalues.flip(0).clamp_min(0.0), vectors.flip(1)
        variances, basis = eigenvalues[:num_components], vectors[:, :num_components]
    else:
        centred = flat.to(torch.float32) * scale - mean.to(torch.float32)
        total = centred.double().square().sum() / (count - 1)
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            _, singular, v = torch.svd_lowrank(centred, q=min(num_components + 10, min(count, n)), niter=4)
        finally:
            torch.random.set_rng_state(generator_state)
        require(singular.numel() >= num_components,
                f"{count} training images give at most {singular.numel()} KLT components; {num_components} asked")
        variances = singular[:num_components].double().square() / (count - 1)
        basis = v[:, :num_components]
    tail = (total - variances.sum()).clamp_min(0.0)
    channels, height, width = (int(v) for v in images.shape[1:])
    return KltBasis((height, width, channels), mean, basis, variances, tail)


def lee_petersen_powers(variances: torch.Tensor, noise_var: torch.Tensor, power: float) -> torch.Tensor:
    """Optimal linear power allocation ``p [B, k] float64`` (see the module docstring).

    :param variances: ``[k]`` coefficient variances ``λ``, in decreasing order.
    :param noise_var: ``[B]`` noise variance per real ``σ²`` (one allocation per row).
    :param power: total power ``P`` over the ``k`` reals.
    """
    lam = _significant(variances.to(torch.float64))
    sigma2 = noise_var.to(torch.float64).reshape(-1, 1).clamp_min(_NOISE_FLOOR)
    sigma = sigma2.sqrt()
    root = lam.sqrt()
    sums = root.cumsum(0)  # S_m for the active sets {1..m}
    m = torch.arange(1, lam.numel() + 1, dtype=torch.float64, device=lam.device)
    theta = (power + m * sigma2) / (sigma * sums.clamp_min(_NOISE_FLOOR))  # [B, k]: θ of each prefix
    # Prefix m is self-consistent when its weakest member gets power (a relative margin keeps a member
    # that the exact arithmetic puts at zero power out of the set).
    valid = sigma * root * theta > sigma2 * (1.0 + 1e-9)
    # The valid prefixes are exactly m = 1..m* (water-filling): the optimal active set is their count.
    active = valid.to(torch.int64).sum(1, keepdim=True).clamp_min(1)
    theta_star = theta.gather(1, active - 1)
    powers = (sigma * root * theta_star - sigma2).clamp_min(0.0)
    return torch.where(m <= active, powers, torch.zeros_like(powers))


def predicted_mse(basis: KltBasis, channel_uses: int, snr_db: float) -> float:
    """``D*`` of the module docstring: expected squared error per image (sum over its ``n`` values)
    without the link's per-image normalisation, at Es/N0 ``snr_db`` per complex symbol."""
    k = min(2 * channel_uses, basis.num_components)
    sigma2 = torch.tensor([10.0 ** (-float(snr_db) / 10.0) / 2.0], dtype=torch.float64)
    lam = basis.variances[:k].cpu()
    p = lee_petersen_powers(lam, sigma2, float(channel_uses))[0]
    per_coefficient = lam * sigma2 / (p + sigma2)
    return float(per_coefficient.sum() + basis.variances[k:].sum().cpu() + basis.tail_variance.cpu())


def sent_components(klt: KltBasis, channel_uses: int) -> int:
    """``k = min(2·channel_uses, number of KLT components)``: the coefficients a budget carries."""
    return min(2 * channel_uses, klt.num_components)


def allocation_gains(klt: KltBasis, channel_uses: int, snr_db: float | torch.Tensor, batch: int) -> torch.Tensor:
    """``[batch, k] float64`` Lee–Petersen gains ``g_i = √(p_i / λ_i)`` (0 where ``λ_i = 0``) for the first
    ``k`` (:func:`sent_components`) coefficients at Es/N0 ``snr_db`` (float or ``[batch]`` tensor, dB;
    ``+inf``: no noise, the ``σ → 0`` limit)."""
    snr = torch.as_tensor(snr_db, dtype=torch.float64, device=klt.variances.device).reshape(-1)
    if not torch.jit.is_tracing():
        if bool(torch.isnan(snr).any()) or bool((snr == -math.inf).any()):
            raise SemlinkError(f"snr_db {snr_db!r} must be dB values (+inf: no noise)")
        require(snr.numel() in (1, batch), f"snr_db has {snr.numel()} values for {batch} images")
    sigma2 = (10.0 ** (-snr / 10.0) / 2.0).expand(batch)
    lam = _significant(klt.variances[: sent_components(klt, channel_uses)])
    powers = lee_petersen_powers(lam, sigma2, float(channel_uses))
    return (powers / lam.clamp_min(_NOISE_FLOOR)).sqrt() * (lam > 0)


def _significant(variances: torch.Tensor) -> torch.Tensor:
    """``variances`` with those below :data:`_RELATIVE_FLOOR` of the largest set to 0: a direction the
    training images (nearly) never vary in gets no power, instead of a huge gain on rounding noise."""
    lam = variances.clamp_min(0.0)
    return torch.where(lam > _RELATIVE_FLOOR * lam.max(), lam, torch.zeros_like(lam))


class LinearAnalogEncoder(nn.Module):
    """Image ``[B, C, H, W] float32`` in [0, 1] → ``[B, channel_uses] complex64``, unit energy per image.

    ``k = min(2·channel_uses, n)`` KLT coefficients, scaled by the Lee–Petersen gains for the SNR the
    transmitter knows (fed back), interleaved re/im; then each image at unit average symbol energy.

    :input images: ``[B, C, H, W] float32``; :input snr_db: float or ``[B]`` tensor (fed back).
    """

    def __init__(self, klt: KltBasis, channel_uses: int) -> None:
        super().__init__()
        require(isinstance(channel_uses, int) and not isinstance(channel_uses, bool) and channel_uses >= 1,
                f"channel_uses = {channel_uses!r}; must be a positive integer")
        self.klt = klt
        self.channel_uses = channel_uses
        self.num_sent = sent_components(klt, channel_uses)

    def gains(self, snr_db: float | torch.Tensor, batch: int) -> torch.Tensor:
        """``[batch, k] float64`` gains at ``snr_db`` (:func:`allocation_gains`)."""
        return allocation_gains(self.klt, self.channel_uses, snr_db, batch)

    def scaled_coefficients(self, images: torch.Tensor, snr_db: float | torch.Tensor) -> torch.Tensor:
        """``[B, k] float32``: ``g_i c_i``, the sent reals before the per-image normalisation."""
        x = self.klt.flatten(images)
        coefficients = (x - self.klt.mean) @ self.klt.basis[:, : self.num_sent]
        return coefficients * self.gains(snr_db, x.shape[0]).to(coefficients.dtype)

    def forward_reals(self, images: torch.Tensor, snr_db: float | torch.Tensor) -> torch.Tensor:
        """On-air reals ``[B, 2·channel_uses] float32`` (interleaved re/im, unit energy per symbol)."""
        from semlink.tx.jscc import power_normalize

        sent = self.scaled_coefficients(images, snr_db)
        return power_normalize(nn.functional.pad(sent, (0, 2 * self.channel_uses - self.num_sent)))

    def forward(self, images: torch.Tensor, snr_db: float | torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W] float32`` and the fed-back ``snr_db`` → ``[B, channel_uses] complex64``."""
        from semlink.phy import real_to_complex

        return real_to_complex(self.forward_reals(images, snr_db))
