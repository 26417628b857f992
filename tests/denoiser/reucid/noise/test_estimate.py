"""The Poisson–Gaussian noise model is estimated from the image alone."""
from __future__ import annotations

import numpy as np
import pytest

from denoiser.reucid.noise import (
    PoissonGaussianNoise,
    VarianceStabilizer,
    estimate_noise_model,
    fit_affine_variance,
)

from .._images import gaussian_lattice


def _lattice_counts(dose: float, shape=(128, 128)) -> np.ndarray:
    return dose * (0.05 + gaussian_lattice(shape, 10.0, 2.0, offset=(5.0, 5.0)))


def test_the_line_fit_is_exact_on_a_line_and_ignores_outliers():
    means = np.linspace(1.0, 200.0, 80)
    variances = 2.0 * means + 30.0
    variances[::10] *= 8.0  # e.g. groups that straddle an edge
    fit = fit_affine_variance(means, variances)
    assert fit.slope == pytest.approx(2.0, rel=1e-6)
    assert fit.intercept == pytest.approx(30.0, rel=1e-6)


def test_the_fitted_slope_is_never_negative():
    means = np.linspace(1.0, 10.0, 20)
    fit = fit_affine_variance(means, 50.0 - means)
    assert fit.slope == 0.0 and fit.intercept > 0


@pytest.mark.parametrize(("dose", "gain", "read_noise", "offset"),
                         [(100.0, 1.0, 2.0, 0.0), (300.0, 3.0, 20.0, 1000.0)])
def test_poisson_gaussian_parameters_are_recovered(dose, gain, read_noise, offset):
    rng = np.random.default_rng(0)
    clean = _lattice_counts(dose)
    noisy = gain * rng.poisson(clean) + rng.normal(offset, read_noise, clean.shape)
    model = estimate_noise_model(noisy, patch_size=7)
    true_variance = gain * (gain * clean) + read_noise**2
    estimated = model.variance(gain * clean + offset)
    assert model.slope == pytest.approx(gain, rel=0.15)
    # what matters to the transform: the variance at the image's own values
    assert np.median(np.abs(estimated / true_variance - 1.0)) < 0.1


def test_pure_gaussian_noise_gives_almost_no_shot_noise_part():
    rng = np.random.default_rng(1)
    clean = _lattice_counts(100.0)
    model = estimate_noise_model(clean + rng.normal(0.0, 5.0, clean.shape), patch_size=7)
    assert model.slope * clean.max() < 0.15 * model.intercept
    assert model.intercept == pytest.approx(25.0, rel=0.15)


def test_the_input_is_not_modified():
    rng = np.random.default_rng(2)
    noisy = rng.poisson(_lattice_counts(50.0, (64, 64))).astype(np.float64)
    before = noisy.copy()
    estimate_noise_model(noisy, patch_size=5)
    np.testing.assert_array_equal(noisy, before)


@pytest.mark.parametrize("model", [PoissonGaussianNoise.from_affine_variance(slope=2.0, intercept=-40.0),
                                   PoissonGaussianNoise.from_affine_variance(slope=1.0, intercept=9.0),
                                   PoissonGaussianNoise.from_affine_variance(slope=0.0, intercept=4.0)])
def test_the_stabiliser_round_trip_is_exact_and_the_noise_becomes_unit(model):
    rng = np.random.default_rng(3)
    stabilizer = VarianceStabilizer(model)
    expected = np.full(200_000, 150.0)
    noisy = expected + rng.normal(size=expected.shape) * np.sqrt(model.variance(expected))
    stabilised = stabilizer.forward(noisy)
    np.testing.assert_allclose(stabilizer.inverse_algebraic(stabilised), noisy, rtol=1e-9)
    assert stabilised.std() == pytest.approx(1.0, abs=0.02)
    assert stabilizer.inverse(stabilised.mean()) == pytest.approx(150.0, rel=0.01)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_strongest_directions_span_the_leading_eigenvectors(seed):
    from denoiser.reucid.noise.estimate import leading_directions

    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(81, 81)))[0]
    # three signal directions above a noise bulk, as in a group of similar patches
    spectrum = np.r_[rng.uniform(20.0, 400.0, 3), rng.uniform(0.8, 1.2, 78)]
    gram = (basis * spectrum) @ basis.T
    found = leading_directions(gram, 3)
    expected = np.linalg.eigh(gram)[1][:, ::-1][:, :3]
    np.testing.assert_allclose(found.T @ found, np.eye(3), atol=1e-10)
    # the same subspace: equal projectors
    np.testing.assert_allclose(found @ found.T, expected @ expected.T, atol=1e-6)
    # a matrix too small for the iteration takes the whole decomposition
    small = gram[:8, :8]
    np.testing.assert_allclose(np.abs(leading_directions(small, 3).T
                                      @ np.linalg.eigh(small)[1][:, ::-1][:, :3]),
                               np.eye(3), atol=1e-8)


def test_a_stack_of_matrices_gives_each_matrix_its_own_strongest_directions():
    from denoiser.reucid.noise.estimate import leading_directions

    rng = np.random.default_rng(3)
    grams = []
    for _ in range(5):
        basis = np.linalg.qr(rng.normal(size=(81, 81)))[0]
        grams.append((basis * np.r_[rng.uniform(20.0, 400.0, 3), np.ones(78)]) @ basis.T)
    stacked = leading_directions(np.stack(grams), 3)
    assert stacked.shape == (5, 81, 3)
    for gram, found in zip(grams, stacked):
        one = leading_directions(gram, 3)
        np.testing.assert_allclose(found @ found.T, one @ one.T, atol=1e-9)
    with pytest.raises(ValueError, match="square"):
        leading_directions(np.ones((4, 5)), 2)
    # a matrix small enough for the whole decomposition is checked as symmetric_eigh does
    with pytest.raises(np.linalg.LinAlgError, match="NaN"):
        leading_directions(np.full((8, 8), np.nan), 3)


def _reference_noise_samples(patches, labels):
    """One group at a time, in float64, with the whole eigendecomposition."""
    from denoiser.reucid.noise.estimate import _MIN_GROUP_FACTOR, _SIGNAL_COMPONENTS
    from denoiser.reucid.patches.similarity import group_positions

    dim = patches.patch_dim
    samples = []
    for positions in group_positions(labels):
        if len(positions) < _MIN_GROUP_FACTOR * dim:
            continue
        rows = patches.gather(positions).astype(np.float64)
        centre = rows.mean(axis=0)
        centred = rows - centre
        strongest = np.linalg.eigh(centred.T @ centred)[1][:, ::-1][:, :_SIGNAL_COMPONENTS]
        residual = centred - centred @ strongest @ strongest.T
        leverage = (strongest**2).sum(axis=1)
        samples.append((centre, (residual**2).mean(axis=0) / np.maximum(1 - leverage, 0.2),
                        len(positions)))
    return samples


@pytest.mark.parametrize("batch_bytes", [1, 200_000, 2 * 1024**2, 1 << 40])
def test_batched_group_noise_samples_equal_one_group_at_a_time(monkeypatch, batch_bytes):
    # groups of very different sizes, so that batches pad some groups a lot; from one
    # group per batch (1 byte) to every group in one batch
    from denoiser.reucid.noise import estimate
    from denoiser.reucid.patches.patch_set import PatchSet

    rng = np.random.default_rng(0)
    image = rng.poisson(_lattice_counts(80.0, shape=(96, 104))).astype(np.float64)
    patches = PatchSet(image, 5, dtype=np.float32)
    labels = np.minimum(rng.geometric(0.3, size=patches.n_patches) - 1, 9)
    monkeypatch.setattr(estimate, "_BATCH_BYTES", batch_bytes)
    means, variances, counts = estimate._group_noise_samples(patches, labels)
    expected = _reference_noise_samples(patches, labels)
    assert len(means) == len(expected) >= 5
    assert len({int(c[0]) for c in counts}) == len(counts)  # sizes differ
    for mean, variance, count, (want_mean, want_variance, size) in zip(
            means, variances, counts, expected):
        np.testing.assert_allclose(mean, want_mean, rtol=1e-6)
        np.testing.assert_allclose(variance, want_variance, rtol=2e-3)
        assert np.all(count == size)


def test_a_one_pixel_patch_keeps_its_noise():
    # with one pixel per patch there is no signal direction to remove: all of it is noise
    from denoiser.reucid.noise import estimate
    from denoiser.reucid.patches.patch_set import PatchSet

    rng = np.random.default_rng(1)
    patches = PatchSet(rng.normal(10.0, 2.0, size=(40, 40)), 1, dtype=np.float32)
    means, variances, _ = estimate._group_noise_samples(patches, np.zeros(1600, np.intp))
    assert float(variances[0][0]) == pytest.approx(4.0, rel=0.1)
    assert float(means[0][0]) == pytest.approx(10.0, abs=0.2)
