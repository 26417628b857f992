"""The patch terrain equals brute-force placement of ones, for any subset of stacks."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from denoiser.reucid.paper.stacks import assign_stacks
from denoiser.reucid.paper.terrain import full_terrain, patch_terrain


def brute_force_terrain(mask: np.ndarray, p: int) -> np.ndarray:
    rows, cols = mask.shape
    terrain = np.zeros((rows + p - 1, cols + p - 1), dtype=np.int64)
    for r, c in np.argwhere(mask):
        terrain[r:r + p, c:c + p] += 1
    return terrain


@pytest.mark.parametrize("n_stacks", [1, 2, 5])
def test_terrain_of_random_stack_subsets_matches_brute_force(n_stacks):
    rng = np.random.default_rng(n_stacks)
    shape, p = (31, 40), 6
    stack_map = assign_stacks(shape, p, n_stacks, seed=n_stacks)
    for _ in range(4):
        subset = rng.random(n_stacks) < 0.6
        mask = subset[stack_map]
        np.testing.assert_array_equal(patch_terrain(mask, p), brute_force_terrain(mask, p))


def test_terrain_of_all_positions_is_positive_everywhere():
    terrain = patch_terrain(np.ones((10, 7), bool), 4)
    assert terrain.shape == (13, 10)
    assert terrain.min() == 1 and terrain.max() == 16


def test_stack_map_is_seeded_and_covers_all_stacks():
    a = assign_stacks((50, 50), 5, 4, seed=7)
    b = assign_stacks((50, 50), 5, 4, seed=7)
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a).tolist()) == {0, 1, 2, 3}
    assert not np.array_equal(a, assign_stacks((50, 50), 5, 4, seed=8))


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 12), cols=st.integers(1, 12), p=st.integers(1, 6),
       seed=st.integers(0, 2**16))
def test_terrain_property_matches_brute_force(rows, cols, p, seed):
    mask = np.random.default_rng(seed).random((rows, cols)) < 0.5
    np.testing.assert_array_equal(patch_terrain(mask, p), brute_force_terrain(mask, p))


@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, 30), n=st.integers(1, 30), p=st.integers(1, 8))
def test_full_terrain_shortcut_equals_the_rolling_sum(m, n, p):
    if p > min(m, n):
        return
    np.testing.assert_array_equal(full_terrain((m, n), p),
                                  patch_terrain(np.ones((m - p + 1, n - p + 1), bool), p))

