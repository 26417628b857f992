"""The small symmetric eigenproblems: torch's LAPACK gives numpy's decomposition."""
from __future__ import annotations

import numpy as np
import pytest

from denoiser.reucid.linalg import symmetric_eigh


@pytest.mark.parametrize("size", [1, 9, 81])
def test_same_eigenvalues_and_eigenspaces_as_numpy(size):
    rng = np.random.default_rng(size)
    rows = rng.normal(size=(4 * size + 3, size)) * rng.uniform(0.1, 10.0, size)
    gram = rows.T @ rows
    values, vectors = symmetric_eigh(gram)
    expected_values, expected_vectors = np.linalg.eigh(gram)
    assert values.dtype == vectors.dtype == np.float64
    np.testing.assert_allclose(values, expected_values, rtol=1e-10,
                               atol=1e-12 * expected_values.max())
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(size), atol=1e-10)
    np.testing.assert_allclose((vectors * values) @ vectors.T, gram,
                               atol=1e-10 * np.abs(gram).max())
    # distinct eigenvalues: each vector is numpy's up to its sign
    np.testing.assert_allclose(np.abs(np.sum(vectors * expected_vectors, axis=0)),
                               np.ones(size), atol=1e-6)


def test_input_is_not_modified_and_bad_matrices_are_refused():
    matrix = np.array([[2.0, 1.0], [1.0, 3.0]])
    before = matrix.copy()
    symmetric_eigh(matrix)
    np.testing.assert_array_equal(matrix, before)
    with pytest.raises(ValueError, match="square"):
        symmetric_eigh(np.ones((2, 3)))
    with pytest.raises(np.linalg.LinAlgError, match="NaN"):
        symmetric_eigh(np.array([[np.nan, 0.0], [0.0, 1.0]]))


def test_a_stack_of_matrices_gives_each_matrix_its_own_decomposition():
    rng = np.random.default_rng(7)
    rows = rng.normal(size=(3, 40, 9))
    grams = rows.transpose(0, 2, 1) @ rows
    values, vectors = symmetric_eigh(grams)
    assert values.shape == (3, 9) and vectors.shape == (3, 9, 9)
    for gram, one_values, one_vectors in zip(grams, values, vectors):
        alone_values, alone_vectors = symmetric_eigh(gram)
        np.testing.assert_allclose(one_values, alone_values, rtol=1e-12)
        np.testing.assert_allclose(np.abs(np.sum(one_vectors * alone_vectors, axis=0)),
                                   np.ones(9), atol=1e-9)
    with pytest.raises(ValueError, match="square"):
        symmetric_eigh(np.ones(4))
    with pytest.raises(np.linalg.LinAlgError, match="NaN"):
        symmetric_eigh(np.stack([np.eye(2), np.full((2, 2), np.nan)]))
