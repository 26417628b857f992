"""The single-image Poisson–Gaussian estimator recovers known parameters."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.noise_estimation import estimate_poisson_gaussian
from tests.benchmarks.images import lattice


@pytest.mark.parametrize(("gain", "sigma", "offset"), [(1.0, 3.0, 0.0), (4.0, 20.0, 500.0)])
def test_recovers_gain_and_read_noise_on_a_smooth_lattice(gain, sigma, offset):
    rng = np.random.default_rng(5)
    clean = lattice((256, 256), spacing=16.0, width=4.0, peak=200.0, background=20.0)
    noisy = gain * rng.poisson(clean) + rng.normal(offset, sigma, clean.shape)
    noise = estimate_poisson_gaussian(noisy)
    assert noise.gain == pytest.approx(gain, rel=0.15)
    # What matters for the transform is sigma² - gain*offset (the variance at zero counts).
    intercept = noise.sigma**2 - noise.gain * noise.offset
    tolerance = 0.25 * gain * 220 + 0.3 * sigma**2
    assert intercept == pytest.approx(sigma**2 - gain * offset, abs=tolerance)
    # The fitted model predicts the noise variance over the image's range of intensities.
    for level in (40.0, 200.0):
        expected = gain**2 * level + sigma**2
        predicted = noise.variance(gain * level + offset)
        assert predicted == pytest.approx(expected, rel=0.2)


def test_pure_gaussian_noise_gives_a_negligible_poisson_part():
    rng = np.random.default_rng(6)
    clean = lattice((128, 128), spacing=16.0, width=4.0)
    noise = estimate_poisson_gaussian(clean + rng.normal(0, 2.0, clean.shape))
    assert noise.variance(65.0) == pytest.approx(4.0, rel=0.3)


@pytest.mark.parametrize("image", [np.zeros((8, 8)), np.zeros((32, 32, 3)),
                                   np.full((32, 32), np.inf)])
def test_rejects_unusable_images(image):
    with pytest.raises(ValueError):
        estimate_poisson_gaussian(image)


@pytest.mark.parametrize("scale", [1e-4, 1.0, 1e5])
def test_flat_vacuum_and_any_intensity_scale_are_handled(scale):
    rng = np.random.default_rng(8)
    clean = lattice((128, 128), spacing=16.0, width=4.0, peak=200.0, background=20.0)
    noisy = rng.poisson(clean).astype(float)
    noisy[:, :40] = 0.0  # clipped, noise-free vacuum (as in normalised particle images)
    noise = estimate_poisson_gaussian(noisy * scale)
    assert noise.gain == pytest.approx(scale, rel=0.25)
