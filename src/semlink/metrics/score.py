"""Score what a receiver decoded, whatever the scheme: the one set of metric functions every run uses.

A system returns decoded features, reconstructed images and/or received texts
(:class:`semlink.systems.Received`); :func:`score` turns them into one results row:

- features → knowledge-base retrieval (:func:`~semlink.metrics.retrieval.retrieval_metrics`);
- images → PSNR / SSIM / MS-SSIM / LPIPS against the sent images
  (:func:`~semlink.metrics.image.image_quality`), then re-encoded with the run's image encoder and
  scored by the same retrieval as features, so image and feature schemes share one semantic metric;
- texts → BLEU of the received (and, where the receiver corrects them, corrected) texts against
  the sent ones.

Metrics never live inside a system: a new scheme gets every metric by returning its outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from semlink.errors import SemlinkError
from semlink.metrics.image import image_quality
from semlink.metrics.retrieval import retrieval_metrics
from semlink.metrics.text import bleu

__all__ = ["Scored", "SentItems", "score"]


@dataclass
class SentItems:
    """The truth a run scores against: what the transmitter sent.

    ``features [Q, D] float32`` (L2-normalised, by the run's encoder), ``labels [Q] int64``,
    ``images [Q, H, W(, 3)] uint8`` (None where the run holds no images).
    """

    features: torch.Tensor
    labels: torch.Tensor
    images: np.ndarray | None = None


@dataclass
class Scored:
    """One row's metrics, per-query vectors (for paired comparisons) and the metrics skipped, with why."""

    metrics: dict[str, Any] = field(default_factory=dict)
    per_query: dict[str, np.ndarray] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def score(received: Any, sent: SentItems, kb: Any, encoder: Any = None, *, top_k: int = 5,
          lpips: bool = True, encode_batch: int = 256) -> Scored:
    """Metrics of ``received`` (an object with ``features``, ``images`` and ``texts``) against ``sent``."""
    out = Scored()
    features = received.features
    if received.images is not None:
        if features is not None:
            raise SemlinkError("a system returned both features and images; return one of them")
        if sent.images is None:
            raise SemlinkError("a system returned images but the run holds no sent images to compare with")
        images = np.asarray(received.images)
        quality = image_quality(sent.images, images, lpips=lpips)
        out.metrics.update(quality.metrics)
        out.per_query.update(quality.per_image)
        out.skipped.update(quality.skipped)
        if encoder is None:
            raise SemlinkError("scoring reconstructed images needs the run's image encoder")
        features = torch.cat([encoder.encode(images[s : s + encode_batch])
                              for s in range(0, len(images), encode_batch)])
    if features is not None:
        metrics, per_query = retrieval_metrics(features, sent.features, sent.labels, kb, top_k=top_k)
        out.metrics.update(metrics)
        out.per_query.update({k: v.numpy() for k, v in per_query.items()})
    texts = getattr(received, "texts", None)
    if texts is not None:
        out.metrics["bleu_received"] = bleu(texts.received, texts.sent)
        if texts.corrected is not None:
            out.metrics["bleu_corrected"] = bleu(texts.corrected, texts.sent)
    return out
