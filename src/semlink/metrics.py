"""Confidence intervals for success rates (retrieval accuracy, block success, ...).

>>> low, high = binomial_ci(8, 10)                     # Wilson score, 95 %
>>> round(low, 4), round(high, 4)
(0.4902, 0.9433)
>>> [round(v, 4) for v in binomial_ci(8, 10, method="clopper-pearson")]
[0.4439, 0.9748]
"""

from __future__ import annotations

import math
from statistics import NormalDist

import torch

from semlink.errors import SemlinkError, choice_error

CI_METHODS = ("wilson", "clopper-pearson")


def binomial_ci(
    successes: int, n: int, confidence: float = 0.95, method: str = "wilson"
) -> tuple[float, float]:
    """Two-sided confidence interval ``(low, high)`` for a binomial proportion ``successes / n``.

    ``method``:

    - ``"wilson"`` (default): Wilson score interval; good coverage even near 0 and 1, no SciPy.
    - ``"clopper-pearson"``: exact interval from Beta quantiles (needs SciPy); conservative.

    Raises :class:`~semlink.errors.SemlinkError` for ``n < 1``, ``successes`` outside ``[0, n]`` or
    ``confidence`` outside ``(0, 1)``.
    """
    if isinstance(successes, bool) or isinstance(n, bool):
        raise SemlinkError(f"binomial_ci needs integer counts; got successes={successes!r}, n={n!r}")
    try:
        k, total = int(successes), int(n)
    except (TypeError, ValueError) as err:
        raise SemlinkError(f"binomial_ci needs integer counts; got successes={successes!r}, n={n!r}") from err
    if k != successes or total != n:
        raise SemlinkError(f"binomial_ci needs integer counts; got successes={successes!r}, n={n!r}")
    if total < 1:
        raise SemlinkError(f"binomial_ci needs n >= 1 trials; got n={n}")
    if not 0 <= k <= total:
        raise SemlinkError(f"binomial_ci needs 0 <= successes <= n; got successes={successes}, n={n}")
    if not 0.0 < float(confidence) < 1.0:
        raise SemlinkError(f"confidence must lie in (0, 1); got {confidence!r}")
    alpha = 1.0 - float(confidence)
    if method == "wilson":
        z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
        p = k / total
        denom = 1.0 + z * z / total
        centre = (p + z * z / (2 * total)) / denom
        half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
        low, high = centre - half, centre + half
        # exact bounds at the edges (the formula gives them up to rounding)
        return (0.0 if k == 0 else max(0.0, low)), (1.0 if k == total else min(1.0, high))
    if method == "clopper-pearson":
        try:
            from scipy.stats import beta
        except ImportError as err:  # pragma: no cover - scipy is installed with the package deps
            raise SemlinkError(
                "method='clopper-pearson' needs SciPy; install scipy or use method='wilson'"
            ) from err
        low = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, total - k + 1))
        high = 1.0 if k == total else float(beta.ppf(1 - alpha / 2, k + 1, total - k))
        return low, high
    raise choice_error("confidence-interval method", method, CI_METHODS)


def psnr_db(reference, estimate, max_value: float = 1.0):
    """Peak signal-to-noise ratio per image, ``10 log10(max_value² / MSE)`` in dB.

    ``reference``, ``estimate``: torch tensors ``[B, ...]`` of the same shape (e.g. ``[B, C, H, W]``
    in [0, 1] with ``max_value=1``, or uint8-valued floats with ``max_value=255``).
    Returns ``[B] float32``; a perfect reconstruction gives ``inf``. Averages over a data set are
    taken of these per-image values (the deep-JSCC literature's convention).

    >>> import torch
    >>> round(float(psnr_db(torch.zeros(1, 4), torch.full((1, 4), 0.1))[0]), 6)
    20.0
    """
    if reference.shape != estimate.shape or reference.dim() < 1:
        raise SemlinkError(
            f"psnr_db needs two tensors [B, ...] of one shape; got {tuple(reference.shape)} and {tuple(estimate.shape)}"
        )
    mse = (reference.float() - estimate.float()).square().flatten(1).mean(dim=1)
    return 10.0 * torch.log10(max_value**2 / mse)
