"""Property tests (hypothesis) for the numerical core."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from denoiser.reucid import denoise
from denoiser.reucid.paper.projection import project_stack
from denoiser.reucid.paper.reference import patch_matrix, place_back_reference
from denoiser.reucid.paper.svd import randomized_svd
from denoiser.reucid.paper.terrain import patch_terrain

FAST = settings(max_examples=25, deadline=None)


@st.composite
def problems(draw):
    p = draw(st.integers(2, 6))
    m = draw(st.integers(p, 4 * p + 8))
    n = draw(st.integers(p, 4 * p + 8))
    seed = draw(st.integers(0, 2**20))
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(m, n)) * draw(st.sampled_from([1.0, 100.0])) + draw(
        st.sampled_from([0.0, 1000.0]))
    mask = rng.random((m - p + 1, n - p + 1)) < draw(st.floats(0.05, 1.0))
    k = draw(st.integers(1, p * p))
    basis = np.linalg.qr(rng.normal(size=(p * p, p * p)))[0].T[:k]
    return image, p, mask, basis


@FAST
@given(problems())
def test_fast_projection_equals_reference_for_any_mask_and_basis(problem):
    image, p, mask, basis = problem
    matrix, positions = patch_matrix(image, p, mask)
    reference = place_back_reference(image.shape, p, matrix, positions, basis)
    fast = project_stack(image, basis.reshape(-1, p, p), mask)
    scale = max(np.abs(image).max() * p * p, 1.0)
    np.testing.assert_allclose(fast, reference, atol=3e-6 * scale)


@FAST
@given(problems())
def test_full_basis_gives_image_times_terrain(problem):
    image, p, mask, _ = problem
    basis = np.linalg.qr(np.random.default_rng(0).normal(size=(p * p, p * p)))[0].T
    canvas = project_stack(image, basis.reshape(-1, p, p), mask)
    terrain = patch_terrain(mask, p)
    scale = max(np.abs(image).max() * p * p, 1.0)
    np.testing.assert_allclose(canvas, image * terrain, atol=3e-6 * scale)


@FAST
@given(problems(), st.floats(-3, 3), st.floats(-3, 3))
def test_projection_is_linear_in_the_image(problem, a, b):
    image, p, mask, basis = problem
    other = np.random.default_rng(1).normal(size=image.shape)
    e = basis.reshape(-1, p, p)
    combined = project_stack(a * image + b * other, e, mask)
    separate = a * project_stack(image, e, mask) + b * project_stack(other, e, mask)
    scale = max((abs(a) * np.abs(image).max() + abs(b) * 4) * p * p, 1.0)
    np.testing.assert_allclose(combined, separate, atol=1e-5 * scale)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 1000), st.sampled_from([0.01, 7.0, 3000.0]),
       st.sampled_from(["k=3", "mp", "gd"]))
def test_denoise_is_scale_equivariant(seed, factor, rule):
    rng = np.random.default_rng(seed)
    image = rng.poisson(20.0 + 10 * np.sin(np.arange(30)[:, None] / 2.0)
                        * np.cos(np.arange(34)[None, :] / 2.0), size=(30, 34)).astype(float)
    base = denoise(image, rule, patch_size=5, variant="paper")
    scaled = denoise(image * factor, rule, patch_size=5, variant="paper")
    assert [s.n_kept for s in scaled.stacks] == [s.n_kept for s in base.stacks]
    np.testing.assert_allclose(scaled.image, base.image * factor, rtol=1e-4,
                               atol=1e-4 * factor * image.max())


@FAST
@given(st.integers(1, 6), st.integers(30, 120), st.integers(12, 40), st.integers(0, 2**20))
def test_randomized_svd_recovers_low_rank_matrices(rank, rows, cols, seed):
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(rows, rank)) @ rng.normal(size=(rank, cols))
    result = randomized_svd(matrix, rank, seed=seed)
    np.testing.assert_allclose(result.U * result.s @ result.Vt, matrix,
                               atol=1e-8 * np.abs(matrix).max() * cols)
    np.testing.assert_allclose(result.Vt @ result.Vt.T, np.eye(rank), atol=1e-8)
