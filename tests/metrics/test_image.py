"""Image fidelity metrics: PSNR by definition, SSIM/MS-SSIM through pytorch-msssim, what is skipped."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
import torch

import semlink.metrics.image
from semlink.errors import SemlinkError
from semlink.metrics.image import MAX_PSNR_DB, image_quality, lpips_weights_path, psnr_db


def test_psnr_per_image_matches_the_definition():
    reference = torch.zeros(3, 1, 2, 2)
    estimate = torch.stack([torch.full((1, 2, 2), 0.1), torch.full((1, 2, 2), 0.01), torch.zeros(1, 2, 2)])
    values = psnr_db(reference, estimate, max_value=1.0)
    assert values.shape == (3,)
    assert values[0].item() == pytest.approx(20.0, abs=1e-5) and values[1].item() == pytest.approx(40.0, abs=1e-4)
    assert values[2].item() == MAX_PSNR_DB  # exact reconstruction: capped, not infinite
    # uint8-scaled pixels: an error of one grey level everywhere is 20·log10(255) dB
    assert psnr_db(np.zeros((1, 4), np.uint8), np.ones((1, 4), np.uint8)).item() == pytest.approx(20 * math.log10(255))


def test_psnr_refuses_mismatched_shapes():
    with pytest.raises(SemlinkError, match="one shape"):
        psnr_db(torch.zeros(2, 4), torch.zeros(2, 5))


def test_ssim_is_one_for_identical_images_and_falls_with_noise():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    same = image_quality(images, images)
    assert same.metrics["ssim"] == pytest.approx(1.0) and same.metrics["psnr_db"] == MAX_PSNR_DB
    noisy = np.clip(images + rng.normal(0, 20, images.shape), 0, 255).astype(np.uint8)
    worse = image_quality(images, noisy)
    assert worse.metrics["ssim"] < 0.99 and 20 < worse.metrics["psnr_db"] < 30
    assert worse.per_image["psnr_db"].shape == (4,)


def test_small_images_report_ssim_and_say_why_ms_ssim_is_skipped():
    images = np.zeros((2, 28, 28), np.uint8)
    quality = image_quality(images, images)
    assert "ssim" in quality.metrics and "ms_ssim" not in quality.metrics
    assert "161 px" in quality.skipped["ms_ssim"] and "lpips" in quality.skipped


def test_ms_ssim_on_large_images():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (2, 176, 176), dtype=np.uint8)
    quality = image_quality(images, images)
    assert quality.metrics["ms_ssim"] == pytest.approx(1.0) and "ms_ssim" not in quality.skipped


def test_lpips_is_skipped_without_weights_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub cache: nothing is downloaded
    images = np.zeros((1, 64, 64, 3), np.uint8)
    quality = image_quality(images, images)
    assert "lpips" not in quality.metrics
    assert lpips_weights_path("alex") in quality.skipped["lpips"] and "nothing is downloaded" in quality.skipped["lpips"]


def test_lpips_runs_where_its_backbone_weights_are_on_disk(tmp_path, monkeypatch):
    """The real torchmetrics LPIPS code path, with AlexNet weights written into a fresh hub cache."""
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = lpips_weights_path("alex")
    torch.manual_seed(0)
    import os

    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)
    semlink.metrics.image._LPIPS_MODELS.clear()
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    same, different = image_quality(images, images), image_quality(images, images[::-1].copy())
    semlink.metrics.image._LPIPS_MODELS.clear()
    assert same.metrics["lpips"] == pytest.approx(0.0, abs=1e-6)
    assert different.metrics["lpips"] > same.metrics["lpips"]


def test_doctests():
    assert doctest.testmod(semlink.metrics.image).failed == 0
