"""Confidence intervals: success rates (retrieval accuracy, block success, ...) and paired differences.

>>> low, high = binomial_ci(8, 10)                     # Wilson score, 95 %
>>> round(low, 4), round(high, 4)
(0.4902, 0.9433)
>>> [round(v, 4) for v in binomial_ci(8, 10, method="clopper-pearson")]
[0.4439, 0.9748]
"""

from __future__ import annotations

import math
from statistics import NormalDist

from semlink.errors import SemlinkError, choice_error

CI_METHODS = ("wilson", "clopper-pearson")

__all__ = ["CI_METHODS", "binomial_ci", "paired_difference_ci", "paired_mean_difference_ci"]


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


def paired_difference_ci(
    hits_a, hits_b, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Difference of two success rates measured on the *same* items, with a confidence interval.

    ``hits_a``/``hits_b``: ``[n]`` booleans (item i a success under scheme A / B). Returns
    ``(difference, low, high)`` with ``difference = mean(a) - mean(b)`` and Newcombe's hybrid score
    interval for paired proportions (Newcombe 1998, *Statistics in Medicine* 17, method 10): Wilson
    intervals of both rates combined through the phi correlation of the paired table. Pairing makes
    it far tighter than comparing two independent intervals when A and B succeed on the same items.

    >>> d, low, high = paired_difference_ci([1, 1, 1, 0] * 25, [1, 0, 0, 0] * 25)
    >>> round(d, 2), round(low, 3), round(high, 3)
    (0.5, 0.393, 0.586)
    """
    import numpy as np

    a = np.asarray(hits_a, dtype=bool).reshape(-1)
    b = np.asarray(hits_b, dtype=bool).reshape(-1)
    if a.shape != b.shape or a.size == 0:
        raise SemlinkError(
            f"paired_difference_ci needs two equally long, non-empty hit vectors; got {a.size} and {b.size}"
        )
    n = int(a.size)
    both, only_a, only_b = int((a & b).sum()), int((a & ~b).sum()), int((~a & b).sum())
    neither = n - both - only_a - only_b
    p1, p2 = (both + only_a) / n, (both + only_b) / n
    l1, u1 = binomial_ci(both + only_a, n, confidence)
    l2, u2 = binomial_ci(both + only_b, n, confidence)
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    phi = (both * neither - only_a * only_b) / math.sqrt(margins) if margins > 0 else 0.0
    delta = math.sqrt(max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0.0))
    eps = math.sqrt(max((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2, 0.0))
    diff = p1 - p2
    return diff, max(-1.0, diff - delta), min(1.0, diff + eps)


def paired_mean_difference_ci(values_a, values_b, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``values_a - values_b`` over the same items with a Student-t interval ``(mean, low, high)``.

    For paired real-valued metrics (per-image PSNR of two schemes on the same images). Non-finite
    pairs are dropped; fewer than two finite pairs give an infinite interval.

    >>> m, low, high = paired_mean_difference_ci([30.0, 31.0, 29.0, 30.0], [28.0, 28.5, 27.5, 28.0])
    >>> round(m, 3), round(low, 3), round(high, 3)
    (2.0, 1.35, 2.65)
    """
    import numpy as np
    from scipy.stats import t as student_t

    a = np.asarray(values_a, dtype=np.float64).reshape(-1)
    b = np.asarray(values_b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape or a.size == 0:
        raise SemlinkError(
            f"paired_mean_difference_ci needs two equally long, non-empty vectors; got {a.size} and {b.size}"
        )
    if not 0.0 < float(confidence) < 1.0:
        raise SemlinkError(f"confidence must lie in (0, 1); got {confidence!r}")
    d = a - b
    d = d[np.isfinite(d)]
    if d.size == 0:
        return math.nan, -math.inf, math.inf
    mean = float(d.mean())
    if d.size < 2:
        return mean, -math.inf, math.inf
    half = float(student_t.ppf(0.5 + confidence / 2, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size))
    return mean, mean - half, mean + half
