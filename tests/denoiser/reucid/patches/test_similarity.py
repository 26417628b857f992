"""Grouping similar patches: seeded k-means on leading global eigenpatch coordinates."""
from __future__ import annotations

import numpy as np

from denoiser.reucid.patches.similarity import group_similar_patches, kmeans_labels, leading_features
from denoiser.reucid.patches.patch_set import PatchSet

from .._images import gaussian_lattice


def test_kmeans_recovers_well_separated_clusters_and_is_seeded():
    rng = np.random.default_rng(2)
    centres = rng.normal(scale=20.0, size=(5, 3))
    truth = rng.integers(0, 5, 2000)
    points = centres[truth] + rng.normal(size=(2000, 3))
    labels = kmeans_labels(points, n_groups=5, seed=3)
    # the same partition up to renaming: each true cluster maps to one label
    pairs = {(t, lab) for t, lab in zip(truth.tolist(), labels.tolist())}
    assert len(pairs) == 5
    np.testing.assert_array_equal(labels, kmeans_labels(points, n_groups=5, seed=3))


def test_labels_are_contiguous_even_when_asking_for_more_groups_than_points():
    labels = kmeans_labels(np.arange(6.0)[:, None], n_groups=50, seed=0)
    assert sorted(set(labels.tolist())) == list(range(labels.max() + 1))
    assert labels.max() < 6


def test_features_keep_only_components_above_the_noise_edge():
    rng = np.random.default_rng(4)
    noise_only = PatchSet(rng.normal(size=(60, 60)), 5)
    lattice = PatchSet(40 * gaussian_lattice((60, 60), 8.0, 1.5) + rng.normal(size=(60, 60)), 5)
    assert leading_features(noise_only, noise_variance=1.0).shape[1] == 1
    assert 2 <= leading_features(lattice, noise_variance=1.0).shape[1] <= 8


def test_patches_at_the_same_lattice_phase_share_a_group():
    rng = np.random.default_rng(5)
    clean = 50 * gaussian_lattice((64, 64), 8.0, 1.5)
    patches = PatchSet(clean + rng.normal(size=clean.shape), 5)
    labels = group_similar_patches(patches, noise_variance=1.0, n_groups=64, seed=0)
    grid = labels.reshape(patches.grid_shape)
    # a period-8 lattice has 64 phases; the same phase one period away is the same patch
    same_phase = np.mean(grid[:-8, :-8] == grid[8:, 8:])
    other_phase = np.mean(grid[:-4, :-4] == grid[4:, 4:])
    assert same_phase > 0.8
    assert other_phase < 0.3


def test_kmeans_seeds_from_all_of_its_points_not_from_the_first_ones():
    # patches come in raster order: the first hundreds may all be one kind (the top rows);
    # the seeding must still see the others, or clusters stay merged
    rng = np.random.default_rng(1)
    kinds = np.r_[np.zeros(500, int), rng.integers(0, 3, 2500)]
    points = np.array([[0.0, 0.0], [50.0, 0.0], [0.0, 50.0]])[kinds] + rng.normal(size=(3000, 2))
    labels = kmeans_labels(points, n_groups=3, seed=0)
    for kind in range(3):
        assert len(set(labels[kinds == kind].tolist())) == 1
    assert len(set(labels.tolist())) == 3


def test_a_noiseless_faint_image_gives_finite_output():
    # a noise level far below float32's smallest number must not make 0/0 weights
    from denoiser.reucid import denoise

    ramp = (np.add.outer(np.arange(41), np.arange(38)) * 1e-12).astype(np.float32)
    result = denoise(ramp, classifier="mp", seed=0)
    assert np.isfinite(result.image).all()
