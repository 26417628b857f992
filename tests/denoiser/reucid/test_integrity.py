"""Data integrity: the classifier only selects; no pixel can come from anywhere else."""
from __future__ import annotations

import numpy as np
import pytest

from denoiser.reucid import ClassifierOutputError, denoise
from denoiser.reucid.paper.projection import project_stack
from denoiser.reucid.paper.terrain import patch_terrain

from ._images import noisy_lattice


class MutatingClassifier:
    """Scribbles over the arrays it is given, then keeps the first two."""

    def select(self, eigenpatches, eigenvalues, context=None):
        eigenpatches[...] = 1e6
        eigenvalues[...] = -1
        return np.array([True, True] + [False] * (len(eigenvalues) - 2))


class FixedMaskClassifier:
    def __init__(self, mask):
        self.mask = mask

    def select(self, eigenpatches, eigenvalues, context=None):
        return self.mask


def test_a_classifier_that_mutates_its_inputs_changes_nothing():
    image, _ = noisy_lattice((40, 44), seed=3)
    honest = denoise(image, classifier="k=2", patch_size=5, n_stacks=2, variant="paper")
    hostile = denoise(image, classifier=MutatingClassifier(), patch_size=5, n_stacks=2,
                      variant="paper")
    np.testing.assert_array_equal(hostile.image, honest.image)
    for a, b in zip(hostile.stacks, honest.stacks):
        np.testing.assert_array_equal(a.eigenpatches, b.eigenpatches)
        np.testing.assert_array_equal(a.eigenvalues, b.eigenvalues)


def test_output_lies_in_the_span_of_the_datas_own_eigenpatches():
    image, _ = noisy_lattice((36, 40), seed=5)
    mask = np.zeros(25, bool)
    mask[[0, 3, 7, 11]] = True
    result = denoise(image, classifier=FixedMaskClassifier(mask), patch_size=5, variant="paper")
    kept = result.stacks[0].eigenpatches[mask].astype(np.float64)
    # rebuild from the data's eigenpatches by hand: projection of every patch, averaged
    expected = project_stack(image, kept) / patch_terrain(np.ones((32, 36), bool), 5)
    np.testing.assert_allclose(result.image, expected, rtol=1e-5, atol=1e-3)
    # and nothing of the discarded components survives: projecting the output's
    # reconstruction onto the kept basis changes it only by averaging, never adds energy
    assert np.linalg.norm(result.image) <= np.linalg.norm(image) * 1.0001


@pytest.mark.parametrize("garbage", [
    "yes",
    np.full(25, 0.5),
    np.ones(24, bool),
    np.ones((25, 1), bool),
    np.array([np.nan] * 25),
    None,
    np.arange(25),
    [object()] * 25,
])
def test_garbage_answers_are_refused_clearly(garbage):
    image, _ = noisy_lattice((30, 30), seed=1)
    with pytest.raises(ClassifierOutputError):
        denoise(image, classifier=FixedMaskClassifier(garbage), patch_size=5, variant="paper")


def test_integer_zero_one_answers_are_accepted_as_a_selection():
    image, _ = noisy_lattice((30, 30), seed=1)
    answer = np.zeros(25, dtype=np.int64)
    answer[:3] = 1
    a = denoise(image, classifier=FixedMaskClassifier(answer), patch_size=5, variant="paper")
    b = denoise(image, classifier="k=3", patch_size=5, variant="paper")
    np.testing.assert_array_equal(a.image, b.image)


def test_input_array_is_never_modified():
    image, _ = noisy_lattice((30, 30), seed=1)
    image = image.astype(np.uint16)
    before = image.copy()
    denoise(image, classifier="k=3", patch_size=5, n_stacks=2, variant="paper")
    np.testing.assert_array_equal(image, before)
