"""The generalised Anscombe transform stabilises Poisson–Gaussian noise and inverts without bias."""
from __future__ import annotations

import numpy as np
import pytest

from denoiser.reucid.noise import (
    PoissonGaussianNoise,
    generalized_anscombe,
    inverse_generalized_anscombe,
)


@pytest.mark.parametrize("mean_counts", [5.0, 20.0, 200.0])
@pytest.mark.parametrize(("gain", "sigma", "offset"), [(1.0, 0.0, 0.0), (2.5, 6.0, 100.0)])
def test_forward_transform_gives_unit_variance(mean_counts, gain, sigma, offset):
    rng = np.random.default_rng(7)
    z = gain * rng.poisson(mean_counts, 200_000) + rng.normal(offset, sigma, 200_000)
    noise = PoissonGaussianNoise(gain=gain, sigma=sigma, offset=offset)
    assert generalized_anscombe(z, noise=noise).std() == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("mean_counts", [1.0, 3.0, 30.0])
def test_inverse_of_the_transformed_mean_is_unbiased(mean_counts):
    rng = np.random.default_rng(11)
    noise = PoissonGaussianNoise(gain=1.0, sigma=1.5)
    z = rng.poisson(mean_counts, 400_000) + rng.normal(0.0, 1.5, 400_000)
    recovered = inverse_generalized_anscombe(generalized_anscombe(z, noise=noise).mean(), noise=noise)
    algebraic = (generalized_anscombe(z, noise=noise).mean() / 2) ** 2 - 3 / 8 - 1.5**2
    assert recovered == pytest.approx(mean_counts, rel=0.04)
    # The exact unbiased inverse is the point of the module: it beats the algebraic one.
    assert abs(recovered - mean_counts) < abs(algebraic - mean_counts)


def test_inverse_is_monotonic_and_floored_at_the_offset():
    noise = PoissonGaussianNoise(gain=2.0, sigma=3.0, offset=50.0)
    d = np.linspace(0.0, 40.0, 2001)
    x = inverse_generalized_anscombe(d, noise=noise)
    assert np.all(np.diff(x) >= 0)
    assert x.min() == pytest.approx(50.0)


def test_inputs_are_not_mutated():
    image = np.arange(12, dtype=np.float32).reshape(3, 4)
    before = image.copy()
    noise = PoissonGaussianNoise(gain=1.0, sigma=1.0)
    inverse_generalized_anscombe(generalized_anscombe(image, noise=noise), noise=noise)
    np.testing.assert_array_equal(image, before)


def test_affine_variance_reading_keeps_the_transform():
    positive = PoissonGaussianNoise.from_affine_variance(slope=2.0, intercept=9.0)
    negative = PoissonGaussianNoise.from_affine_variance(slope=2.0, intercept=-8.0)
    assert positive == PoissonGaussianNoise(gain=2.0, sigma=3.0, offset=0.0)
    assert negative == PoissonGaussianNoise(gain=2.0, sigma=0.0, offset=4.0)
    z = np.linspace(10.0, 500.0, 7)
    # intercept = sigma² - gain*offset is all the forward transform depends on
    same = PoissonGaussianNoise(gain=2.0, sigma=np.sqrt(2.0), offset=5.0)
    np.testing.assert_allclose(
        generalized_anscombe(z, noise=negative), generalized_anscombe(z, noise=same)
    )


@pytest.mark.parametrize(
    "kwargs", [{"gain": float("nan")}, {"gain": -1.0}, {"sigma": -0.1}, {"offset": float("nan")}]
)
def test_bad_parameters_raise_clear_errors(kwargs):
    with pytest.raises(ValueError, match="must be"):
        PoissonGaussianNoise(**kwargs)
