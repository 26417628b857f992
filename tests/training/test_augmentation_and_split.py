"""Dihedral augmentation and the leak-free split."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.augmentation import augment_dihedral, dihedral_transforms
from training.splitting import group_split


def _compose(a, b):
    return tuple(a[i] for i in b)


def test_augmentation_is_exactly_the_dihedral_group():
    # A patch with no symmetry: the 8 images must be distinct and be exactly D4's.
    patch = np.arange(16, dtype=float).reshape(4, 4)
    images = dihedral_transforms(patch)
    assert len({im.tobytes() for im in images}) == 8
    expected = set()
    for k in range(4):
        rotated = np.rot90(patch, k)
        expected.add(rotated.tobytes())
        expected.add(np.fliplr(rotated).tobytes())
        expected.add(np.flipud(rotated).tobytes())
        expected.add(rotated.T.tobytes())
    assert {im.tobytes() for im in images} == expected
    # closure: transforming any image again stays inside the set (a group, not a subset)
    for image in images:
        assert {t.tobytes() for t in dihedral_transforms(image)} == expected


def test_augment_keeps_examples_aligned_and_inputs_untouched():
    rng = np.random.default_rng(0)
    x = rng.random((5, 1, 7, 7))
    labels = np.array([0, 1, 0, 1, 1])
    before = x.copy()
    xa, la = augment_dihedral(x, labels)
    assert xa.shape == (40, 1, 7, 7)
    np.testing.assert_array_equal(x, before)
    for t in range(8):
        np.testing.assert_array_equal(la[t * 5:(t + 1) * 5], labels)
        for i in range(5):
            assert np.isclose(xa[t * 5 + i].sum(), x[i].sum())
    with pytest.raises(ValueError):
        augment_dihedral(x, labels[:3])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 12), min_size=2, max_size=200), st.integers(0, 1000))
def test_split_never_puts_an_image_on_both_sides(image_ids, seed):
    groups = np.array([f"img{i}" for i in image_ids])
    if len(set(image_ids)) < 2:
        with pytest.raises(ValueError):
            group_split(groups, seed=seed)
        return
    train, test = group_split(groups, seed=seed)
    assert np.all(train ^ test)
    assert not set(groups[train]) & set(groups[test])
    assert train.any() and test.any()


def test_split_is_about_eighty_twenty():
    groups = np.repeat(np.arange(100), 25).astype(str)
    train, test = group_split(groups, test_fraction=0.2, seed=3)
    assert 0.18 <= test.mean() <= 0.22
    np.testing.assert_array_equal(test, group_split(groups, test_fraction=0.2, seed=3)[1])
