"""Residual statistics tell noise removal from signal removal."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from benchmarks.residuals import lag_one_autocorrelation, residual_statistics
from denoiser.reucid.noise import PoissonGaussianNoise
from tests.benchmarks.images import lattice


def test_perfect_denoising_leaves_white_noise_of_the_expected_variance():
    rng = np.random.default_rng(0)
    clean = lattice((128, 128))
    noisy = rng.poisson(clean).astype(float)
    stats = residual_statistics(noisy, clean, noise=PoissonGaussianNoise())
    assert stats["variance_ratio"] == pytest.approx(1.0, abs=0.05)
    assert abs(stats["mean_sigma"]) < 0.05
    assert abs(stats["acf_row"]) < 0.05 and abs(stats["acf_col"]) < 0.05
    assert abs(stats["corr_output"]) < 0.05


def test_over_smoothing_shows_up_in_every_statistic():
    rng = np.random.default_rng(1)
    clean = lattice((128, 128))
    noisy = rng.poisson(clean).astype(float)
    stats = residual_statistics(noisy, gaussian_filter(noisy, 4), noise=PoissonGaussianNoise())
    assert stats["variance_ratio"] > 1.5
    assert stats["acf_row"] > 0.2
    assert stats["corr_output"] > 0.1


def test_scan_line_noise_is_seen_along_rows_only():
    rng = np.random.default_rng(2)
    white = rng.normal(size=(128, 128))
    along_rows = white + np.roll(white, 1, axis=1)
    assert lag_one_autocorrelation(along_rows, axis=1) > 0.4
    assert abs(lag_one_autocorrelation(along_rows, axis=0)) < 0.05
    with pytest.raises(ValueError):
        lag_one_autocorrelation(white, axis=2)
