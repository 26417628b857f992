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
