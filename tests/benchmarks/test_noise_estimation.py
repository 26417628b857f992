"""The benchmarks' noise model is the core's estimator, run as the default method runs it."""
from __future__ import annotations

import numpy as np
import pytest

import benchmarks.data
from benchmarks.data import estimate_noise
from tests.benchmarks.images import lattice


@pytest.mark.parametrize(("gain", "sigma", "offset"), [(1.0, 3.0, 0.0), (4.0, 20.0, 500.0)])
def test_recovers_gain_and_read_noise_on_a_smooth_lattice(gain, sigma, offset):
    rng = np.random.default_rng(5)
    clean = lattice((256, 256), spacing=16.0, width=4.0, peak=200.0, background=20.0)
    noisy = gain * rng.poisson(clean) + rng.normal(offset, sigma, clean.shape)
    noise = estimate_noise(noisy)
    # The fitted model predicts the noise variance over the image's range of intensities.
    for level in (40.0, 200.0):
        expected = gain**2 * level + sigma**2
        predicted = noise.variance(gain * level + offset)
        assert predicted == pytest.approx(expected, rel=0.2)


def test_pure_gaussian_noise_gives_a_negligible_poisson_part():
    rng = np.random.default_rng(6)
    clean = lattice((128, 128), spacing=16.0, width=4.0)
    noise = estimate_noise(clean + rng.normal(0, 2.0, clean.shape))
    assert noise.variance(65.0) == pytest.approx(4.0, rel=0.3)


@pytest.mark.parametrize("image", [np.zeros((8, 8)), np.zeros((32, 32, 3)),
                                   np.full((32, 32), np.inf), np.ones((32, 32))])
def test_rejects_unusable_images(image):
    with pytest.raises(ValueError):
        estimate_noise(image)


@pytest.mark.parametrize("scale", [1e-4, 1.0, 1e5])
def test_flat_vacuum_and_any_intensity_scale_are_handled(scale):
    rng = np.random.default_rng(8)
    clean = lattice((128, 128), spacing=16.0, width=4.0, peak=200.0, background=20.0)
    noisy = rng.poisson(clean).astype(float)
    noisy[:, :40] = 0.0  # clipped, noise-free vacuum (as in normalised particle images)
    noise = estimate_noise(noisy * scale)
    for level in (40.0, 200.0):
        assert noise.variance(level * scale) == pytest.approx(level * scale**2, rel=0.25)


def test_large_images_are_measured_on_the_central_region(monkeypatch):
    seen = []
    real = benchmarks.data.estimate_noise_model
    monkeypatch.setattr(benchmarks.data, "estimate_noise_model",
                        lambda image, **kw: seen.append(image.shape) or real(image, **kw))
    rng = np.random.default_rng(9)
    clean = lattice((600, 200), spacing=16.0, width=4.0, peak=200.0, background=20.0)
    estimate_noise(rng.poisson(clean).astype(float))
    assert seen == [(512, 200)]
