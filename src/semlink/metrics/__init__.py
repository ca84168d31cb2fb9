"""semlink.metrics: every metric a run reports, in one place.

- :mod:`~semlink.metrics.intervals`: binomial and paired-difference confidence intervals;
- :mod:`~semlink.metrics.retrieval`: top-k class matching through the knowledge base;
- :mod:`~semlink.metrics.image`: PSNR, SSIM / MS-SSIM, LPIPS;
- :mod:`~semlink.metrics.text`: BLEU;
- :mod:`~semlink.metrics.score`: turns what a receiver decoded into one results row.
"""

from semlink.metrics.image import psnr_db
from semlink.metrics.intervals import CI_METHODS, binomial_ci, paired_difference_ci, paired_mean_difference_ci
from semlink.metrics.retrieval import nearest_labels, retrieval_metrics, top_k_accuracy, top_k_hits

__all__ = [
    "CI_METHODS",
    "binomial_ci",
    "nearest_labels",
    "paired_difference_ci",
    "paired_mean_difference_ci",
    "psnr_db",
    "retrieval_metrics",
    "top_k_accuracy",
    "top_k_hits",
]
