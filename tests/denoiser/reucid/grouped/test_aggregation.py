"""Aggregation: weighted averages of overlapping patch estimates."""
from __future__ import annotations

import numpy as np
import pytest

from denoiser.reucid.grouped.aggregation import PatchCanvas, noise_weights
from denoiser.reucid.patches.patch_set import PatchSet


@pytest.mark.parametrize("weighted", [False, True])
def test_true_patches_give_the_image_back_whatever_the_weights(weighted):
    rng = np.random.default_rng(1)
    image = rng.normal(size=(11, 14))
    patches = PatchSet(image, 5)
    positions = rng.permutation(patches.n_patches)  # any order, any grouping
    weights = rng.uniform(0.1, 3.0, patches.n_patches) if weighted \
        else np.ones(patches.n_patches)
    canvas = PatchCanvas(image.shape, 5)
    for chunk in np.array_split(positions, 4):
        canvas.add(chunk, patches.gather(chunk), weights[chunk])
    np.testing.assert_allclose(canvas.image(), image, atol=1e-12)


def test_weights_follow_the_kept_noise():
    shrinkage = np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    np.testing.assert_allclose(noise_weights(shrinkage), [1 / 4, 1 / 2, 1 / 1.5])


def test_uncovered_pixels_are_nan_or_filled_and_bad_weights_are_refused():
    canvas = PatchCanvas((4, 4), 2)
    canvas.add([0], np.ones((1, 4)), [1.0])
    assert np.isnan(canvas.image()[3, 3]) and canvas.image()[0, 0] == 1.0
    assert canvas.image(fill=np.full((4, 4), 7.0))[3, 3] == 7.0
    with pytest.raises(ValueError, match="positive"):
        canvas.add([1], np.ones((1, 4)), [0.0])
    with pytest.raises(ValueError, match="positive"):
        canvas.add([1], np.ones((1, 4)), [np.nan])


def _brute_force(shape, p, positions, estimates, weights):
    total, weight = np.zeros(shape), np.zeros(shape)
    cols = shape[1] - p + 1
    for position, estimate, w in zip(positions, estimates, weights):
        r, c = divmod(int(position), cols)
        total[r:r + p, c:c + p] += w * estimate.reshape(p, p)
        weight[r:r + p, c:c + p] += w
    return total, weight


@pytest.mark.parametrize("repeated", [False, True])
def test_canvas_sums_equal_brute_force_with_distinct_or_repeated_positions(repeated):
    rng = np.random.default_rng(4)
    shape, p = (9, 12), 3
    n_positions = (shape[0] - p + 1) * (shape[1] - p + 1)
    positions = rng.choice(n_positions, size=30, replace=repeated)
    if repeated:
        positions[:5] = positions[0]  # the same patch position five times in one call
    estimates = rng.normal(size=(30, p * p))
    weights = rng.uniform(0.2, 2.0, 30)
    canvas = PatchCanvas(shape, p)
    canvas.add(positions, estimates, weights)
    total, weight = _brute_force(shape, p, positions, estimates, weights)
    got_total, got_weight = canvas.totals()
    np.testing.assert_allclose(got_total.reshape(shape), total, atol=1e-12)
    np.testing.assert_allclose(got_weight.reshape(shape), weight, atol=1e-12)


def test_a_float32_canvas_sums_float32_estimates_to_their_rounding():
    rng = np.random.default_rng(4)
    image = rng.uniform(0.0, 50.0, size=(37, 41))
    patches = PatchSet(image, 9, dtype=np.float32)
    positions = rng.permutation(patches.n_patches)
    wide, narrow = PatchCanvas(image.shape, 9), PatchCanvas(image.shape, 9, dtype=np.float32)
    for chunk in np.array_split(positions, 5):
        rows = patches.gather(chunk)
        wide.add(chunk, rows, np.ones(len(chunk)))
        narrow.add(chunk, rows, np.ones(len(chunk)))
    # up to p² float32 additions per pixel: a few ulp of the largest value
    np.testing.assert_allclose(narrow.image(), wide.image(), rtol=0, atol=2e-5 * 50.0)
    np.testing.assert_allclose(narrow.image(), image, rtol=0, atol=2e-5 * 50.0)
    total, weight = narrow.totals()
    assert total.dtype == np.float64 and weight.dtype == np.float64
    with pytest.raises(ValueError, match="float64 or float32"):
        PatchCanvas((4, 4), 2, dtype=np.int32)


def test_pixels_of_patches_at_the_right_and_bottom_edges_land_in_place():
    # a patch's top-left pixel is its grid position plus (p - 1) per grid row above it
    canvas = PatchCanvas((5, 7), 3)
    grid_columns = 7 - 3 + 1
    corner = 2 * grid_columns + 4  # bottom-right patch of the (3, 5) grid
    canvas.add([corner], np.arange(9.0).reshape(1, 9), [1.0])
    image = canvas.image()
    np.testing.assert_array_equal(image[2:, 4:], np.arange(9.0).reshape(3, 3))
    assert np.isnan(image[:2]).all() and np.isnan(image[:, :4]).all()
