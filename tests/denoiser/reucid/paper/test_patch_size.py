"""Patch size from the autocorrelation: lattices of known period, drift, vacuum, errors."""
from __future__ import annotations

import numpy as np
import pytest

from denoiser.reucid import PatchSizeError, estimate_patch_size

from .._images import gaussian_lattice


@pytest.mark.parametrize("spacing", [8.0, 12.0, 16.0])
@pytest.mark.parametrize("sigma_fraction", [0.15, 0.25])
def test_gaussian_column_lattice_gives_a_patch_near_the_column_spacing(spacing, sigma_fraction):
    # For a square lattice the ACF lobe ends half-way to the nearest neighbour column.
    image = gaussian_lattice((160, 176), spacing, sigma_fraction * spacing, offset=(2.0, 5.0))
    estimate = estimate_patch_size(image)
    assert estimate.method == "first-minimum"
    assert estimate.patch_size % 2 == 1
    assert abs(estimate.patch_size - spacing) <= 3


def test_noise_does_not_move_the_estimate():
    clean = 30 * (0.1 + gaussian_lattice((128, 128), 10.0, 2.0))
    noisy = np.random.default_rng(0).poisson(clean).astype(float)
    assert abs(estimate_patch_size(noisy).patch_size - estimate_patch_size(clean).patch_size) <= 2


def test_background_drift_and_non_square_shape():
    lattice = gaussian_lattice((96, 200), 10.0, 2.0)
    rows, cols = np.mgrid[:96, :200]
    drifting = lattice + 0.02 * cols + 0.01 * rows + 0.5 * np.sin(cols / 60.0)
    assert abs(estimate_patch_size(drifting).patch_size - estimate_patch_size(lattice).patch_size) <= 2


def test_crystal_next_to_vacuum():
    image = 0.05 + gaussian_lattice((128, 128), 10.0, 2.0)
    image[:, :48] = 0.05  # vacuum on the left
    image += np.random.default_rng(1).normal(scale=0.02, size=image.shape)
    assert abs(estimate_patch_size(image).patch_size - 11) <= 3


def test_isolated_wide_blob_uses_the_inflexion_point():
    rows, cols = np.mgrid[:128, :128]
    blob = np.exp(-((rows - 64) ** 2 + (cols - 64) ** 2) / (2 * 5.0**2))
    estimate = estimate_patch_size(blob)
    assert estimate.patch_size >= 9


@pytest.mark.parametrize("image", [
    np.zeros((64, 64)),
    np.full((64, 80), 7.5),
    np.random.default_rng(0).normal(size=(128, 128)),          # vacuum: pure noise
    np.random.default_rng(1).poisson(2.0, size=(100, 90)).astype(float),
])
def test_vacuum_or_constant_images_give_a_clear_error(image):
    with pytest.raises(PatchSizeError, match="patch_size|constant|contrast"):
        estimate_patch_size(image)


def test_too_small_to_estimate():
    with pytest.raises(PatchSizeError, match="too small"):
        estimate_patch_size(np.random.default_rng(0).normal(size=(10, 40)))


def test_large_images_are_estimated_from_tiles():
    image = gaussian_lattice((640, 700), 12.0, 2.4)
    assert abs(estimate_patch_size(image).patch_size - 12) <= 3


def test_sparse_columns_give_a_patch_that_grows_with_column_width():
    # Columns 40 px apart: the ACF lobe is one column's own footprint, not the spacing.
    narrow = estimate_patch_size(gaussian_lattice((256, 256), 40.0, 1.5, offset=(3.0, 5.0)))
    wide = estimate_patch_size(gaussian_lattice((256, 256), 40.0, 2.5, offset=(3.0, 5.0)))
    assert narrow.patch_size < 25
    assert wide.patch_size > narrow.patch_size
