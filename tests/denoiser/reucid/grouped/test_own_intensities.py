"""The default method keeps what microscopists measure: own intensities, own offsets."""
from __future__ import annotations

import numpy as np
import pytest

from denoiser.reucid import PoissonGaussianNoise, denoise
from denoiser.reucid.grouped.pipeline import data_floor
from denoiser.reucid.noise import inverse_generalized_anscombe

from .._images import gaussian_lattice


def _stepped_lattice(dose: float, seed: int = 0):
    """A lattice whose columns in one disc are 20 % brighter (a thickness step)."""
    shape = (128, 128)
    lattice = gaussian_lattice(shape, 10.0, 2.0, offset=(5.0, 5.0))
    y, x = np.mgrid[:shape[0], :shape[1]]
    step = np.hypot(y - 64.0, x - 64.0) < 25.0
    clean = dose * (0.05 + lattice * np.where(step, 1.2, 1.0))
    noisy = np.random.default_rng(seed).poisson(clean).astype(np.float64)
    return noisy, clean, step, dose * lattice


def _step_kept(image, clean, step, lattice):
    """Fraction of the step's extra column intensity the image keeps (1 = all)."""
    columns = lattice > 0.5 * lattice.max()
    inside, outside = columns & step, columns & ~step
    true = clean[inside].mean() - clean[outside].mean()
    return (image[inside].mean() - image[outside].mean()) / true


@pytest.mark.parametrize("seed", [0, 1])
def test_a_thickness_step_keeps_its_intensity_and_centring_pulls_it_to_the_lattice(seed):
    noisy, clean, step, lattice = _stepped_lattice(30.0, seed)
    default = denoise(noisy, patch_size=7)
    centred = denoise(noisy, patch_size=7, centre=True)
    kept = _step_kept(default.image, clean, step, lattice)
    assert 0.85 < kept < 1.1
    assert kept > _step_kept(centred.image, clean, step, lattice)
    assert default.options["centre"] is False and centred.options["centre"] is True
    # and it still removes most of the noise
    assert np.std(default.image - clean) < 0.5 * np.std(noisy - clean)


def test_normalised_data_with_negative_offsets_come_back_unclipped():
    noisy, clean, _, _ = _stepped_lattice(30.0)
    normalised = (noisy - 10.0) / 100.0  # background-subtracted and scaled
    out = denoise(normalised, patch_size=7).image
    assert (out < 0).mean() > 0.01
    assert np.mean(out == out.min()) < 1e-3  # no plateau at a floor
    truth = (clean - 10.0) / 100.0
    assert np.std(out - truth) < 0.5 * np.std(normalised - truth)


def test_count_data_stay_at_or_above_zero_counts():
    rng = np.random.default_rng(2)
    counts = rng.poisson(0.5, (64, 64)) + rng.normal(0.0, 0.3, (64, 64))
    model = PoissonGaussianNoise(gain=1.0, sigma=0.3)
    assert data_floor(counts, model) == 0.0
    assert denoise(counts, patch_size=5, noise_model=model).image.min() >= 0.0


def test_the_inverse_continues_below_zero_counts_only_when_asked():
    noise = PoissonGaussianNoise(gain=2.0, sigma=1.0, offset=10.0)
    values = np.linspace(0.0, 6.0, 601)
    default = inverse_generalized_anscombe(values, noise=noise)
    open_ended = inverse_generalized_anscombe(values, noise=noise, floor=-np.inf)
    assert default.min() == pytest.approx(10.0)
    above = default > 10.0
    np.testing.assert_array_equal(default[above], open_ended[above])
    assert np.all(np.diff(open_ended) > 0) and open_ended.min() < 10.0
