"""PatchSet hands out exactly the image's patches without building the patch matrix."""
from __future__ import annotations

import numpy as np
import pytest

from denoiser.reucid.patches.patch_set import PatchSet


def _explicit_patches(image: np.ndarray, p: int) -> np.ndarray:
    m, n = image.shape
    return np.array([image[r:r + p, c:c + p].ravel()
                     for r in range(m - p + 1) for c in range(n - p + 1)])


def test_gather_project_and_gram_match_the_explicit_patch_matrix():
    rng = np.random.default_rng(0)
    image = rng.normal(size=(13, 17))
    patches = PatchSet(image, 4)
    explicit = _explicit_patches(image, 4)
    picks = rng.choice(patches.n_patches, 25, replace=False)
    basis = rng.normal(size=(16, 3))
    gram, used = patches.gram()
    assert patches.n_patches == len(explicit)
    np.testing.assert_array_equal(patches.gather(picks), explicit[picks])
    np.testing.assert_allclose(patches.project(basis), explicit @ basis)
    np.testing.assert_allclose(gram, explicit.T @ explicit / len(explicit))
    assert used == len(explicit)


def test_it_keeps_its_own_copy_of_the_image():
    image = np.ones((8, 8))
    patches = PatchSet(image, 3)
    image[:] = 5.0
    assert np.all(patches.gather([0]) == 1.0)


def test_a_patch_larger_than_the_image_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        PatchSet(np.zeros((5, 9)), 6)
