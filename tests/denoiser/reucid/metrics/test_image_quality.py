"""Quality metrics follow the conventions stated in docs/benchmarks.md."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from denoiser.reucid.metrics import ief, pearson, psnr, quality_metrics, residual_correlation, ssim
from tests.benchmarks.images import lattice


def test_psnr_uses_the_clean_data_range():
    clean = np.array([[0.0, 10.0], [5.0, 5.0]])
    estimate = clean + 1.0  # MSE 1, range 10 -> 20 dB
    assert psnr(clean, estimate) == pytest.approx(20.0)
    assert psnr(clean, clean) == float("inf")


def test_ssim_is_one_for_identical_images_and_lower_for_noise():
    clean = lattice()
    noisy = clean + np.random.default_rng(0).normal(0, 15, clean.shape)
    assert ssim(clean, clean) == pytest.approx(1.0)
    assert ssim(clean, noisy) < 0.9


def test_ief_is_the_ratio_of_squared_errors():
    clean = np.zeros(4)
    noisy = np.array([2.0, 0.0, 0.0, 0.0])
    estimate = np.array([1.0, 0.0, 0.0, 0.0])
    assert ief(clean, noisy, estimate) == pytest.approx(4.0)


def test_residual_correlation_separates_noise_removal_from_blurring():
    rng = np.random.default_rng(1)
    clean = lattice((96, 96))
    noise = rng.normal(0, 3, clean.shape)
    noisy = clean + noise
    # Removing exactly the noise leaves a residual uncorrelated with the image ...
    assert abs(residual_correlation(clean, noisy, clean)) < 0.05
    # ... blurring removes image structure too.
    assert residual_correlation(clean, noisy, gaussian_filter(noisy, 3)) > 0.5


def test_pearson_of_a_constant_is_zero():
    assert pearson(np.ones(5), np.arange(5.0)) == 0.0


def test_all_metrics_at_once():
    clean = lattice(spacing=12.0, width=2.5)
    noisy = clean + np.random.default_rng(2).normal(0, 10, clean.shape)
    metrics = quality_metrics(clean, noisy, gaussian_filter(noisy, 1))
    assert set(metrics) == {"psnr", "ssim", "ief", "rescorr"}
    assert metrics["ief"] > 1
    assert metrics["psnr"] > psnr(clean, noisy)


@pytest.mark.parametrize(
    ("clean", "estimate", "message"),
    [
        (np.zeros((4, 4)), np.zeros((4, 5)), "shape"),
        (np.ones((8, 8)), np.zeros((8, 8)), "constant"),
        (np.eye(8), np.full((8, 8), np.nan), "NaN"),
    ],
)
def test_bad_inputs_give_clear_errors(clean, estimate, message):
    with pytest.raises(ValueError, match=message):
        psnr(clean, estimate)
