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
