"""BLEU, paired-difference intervals, and scoring whatever a receiver returns."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import semlink.metrics.intervals
import semlink.metrics.text
from semlink.errors import SemlinkError
from semlink.metrics import paired_difference_ci, paired_mean_difference_ci
from semlink.metrics.score import SentItems, score
from semlink.metrics.text import bleu
from semlink.systems import Received, TextOutcome


def test_bleu_is_sacrebleu_corpus_bleu():
    assert bleu(["a cat on a mat"] * 3, ["a cat on a mat"] * 3) == pytest.approx(100.0)
    assert bleu(["the dog"], ["a cat on a mat"]) == pytest.approx(0.0)
    with pytest.raises(SemlinkError, match="one reference per hypothesis"):
        bleu(["a"], ["a", "b"])


def test_paired_interval_covers_the_truth_at_its_level():
    """Monte Carlo coverage of Newcombe's interval on correlated pairs: 95 % nominal.

    2000 data sets; the observed coverage's own standard error is 0.005, so the bounds [0.93, 0.975]
    are four standard errors wide: the test fails by chance with probability < 1e-4.
    """
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(2000):
        latent = rng.random(300)
        a, b = latent < 0.6, (latent + 0.15 * rng.random(300)) < 0.55  # correlated, truth 0.6 vs ~0.48
        _, low, high = paired_difference_ci(a, b)
        covered += low <= 0.6 - 0.4775 <= high
    assert 0.93 <= covered / 2000 <= 0.975


def test_pairing_makes_intervals_tighter_than_independent_ones():
    rng = np.random.default_rng(1)
    a = rng.random(500) < 0.7
    b = a.copy()
    b[:20] = ~b[:20]
    diff, low, high = paired_difference_ci(a, b)
    independent = 1.96 * np.sqrt(2 * 0.7 * 0.3 / 500)
    assert high - low < independent and low <= diff <= high
    with pytest.raises(SemlinkError, match="equally long"):
        paired_difference_ci([True], [True, False])
    mean, low, high = paired_mean_difference_ci([1.0, 2.0, np.nan], [0.0, 1.0, 1.0])
    assert mean == 1.0 and low == high == 1.0  # no spread: a zero-width interval


class _Kb:
    """A brute-force knowledge base with the KnowledgeBase.search interface (exact cosine)."""

    def __init__(self, features, labels):
        self.features, self.label_table = features, labels

    def search(self, queries, k=5):
        from types import SimpleNamespace

        idx = (queries @ self.features.T).topk(k, dim=-1).indices
        return SimpleNamespace(labels=self.label_table[idx])


def test_score_handles_features_images_and_texts():
    g = torch.Generator().manual_seed(0)
    feats = F.normalize(torch.randn(6, 8, generator=g), dim=-1)
    labels = torch.arange(6)
    kb = _Kb(feats, labels)
    images = np.random.default_rng(0).integers(0, 256, (6, 16, 16), dtype=np.uint8)
    sent = SentItems(feats, labels, images)

    by_feature = score(Received(features=feats), sent, kb, top_k=5)
    assert by_feature.metrics["top1_accuracy"] == 1.0 and by_feature.per_query["top1_hit"].all()

    class Encoder:  # maps an image back to its sent feature (a perfect semantic encoder)
        def encode(self, batch):
            rows = [int(np.argmax([(b == im).all() for im in images])) for b in batch]
            return feats[rows]

    by_image = score(Received(images=images), sent, kb, Encoder(), top_k=5)
    assert by_image.metrics["top1_accuracy"] == 1.0 and by_image.metrics["psnr_db"] == 100.0
    assert "ms_ssim" in by_image.skipped

    caption = "a photo of a tabby cat on a red sofa"
    texts = TextOutcome(sent=[caption] * 2, received=["a phtoo of a tabyb cat on a rde sofa"] * 2, corrected=[caption] * 2)
    by_text = score(Received(texts=texts), sent, kb)
    assert by_text.metrics["bleu_corrected"] == pytest.approx(100.0)
    assert by_text.metrics["bleu_received"] < 50
    with pytest.raises(SemlinkError, match="both features and images"):
        score(Received(features=feats, images=images), sent, kb, Encoder())


@pytest.mark.parametrize("module", [semlink.metrics.intervals, semlink.metrics.text])
def test_doctests(module):
    assert doctest.testmod(module).failed == 0
