"""Exactness of the reconstruction: full bases reproduce, fast equals reference."""
from __future__ import annotations

import numpy as np
import pytest

from denoiser.reucid import InvalidImageError, denoise, denoise_series, iter_denoise
from denoiser.reucid.paper.eigen import stack_eigen_fast, stack_eigen_reference
from denoiser.reucid.paper.projection import component_contributions, project_stack
from denoiser.reucid.paper.reference import patch_matrix, place_back_reference, stack_svd_reference
from denoiser.reucid.paper.stacks import assign_stacks
from denoiser.reucid.paper.terrain import patch_terrain

from .._images import noisy_lattice


def _relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("n_stacks", [1, 3])
@pytest.mark.parametrize("mode", ["fast", "reference"])
def test_keeping_every_eigenpatch_reproduces_the_input(n_stacks, mode):
    image, _ = noisy_lattice((37, 45), seed=n_stacks)
    result = denoise(image, classifier="k=all", patch_size=5, n_stacks=n_stacks, mode=mode,
                     variant="paper")
    assert result.n_stacks == n_stacks
    assert all(s.n_kept == 25 for s in result.stacks)
    # every pixel, including the last p-1 rows and columns that own no patch
    np.testing.assert_allclose(result.image, image, rtol=0, atol=2e-5 * image.max())
    np.testing.assert_allclose(result.image[-4:, :], image[-4:, :], atol=2e-5 * image.max())
    np.testing.assert_allclose(result.image[:, -4:], image[:, -4:], atol=2e-5 * image.max())


def test_full_basis_reproduces_with_large_image_single_filter_path():
    # 80x96 with p=7 takes the d=1 single-filter shortcut with exact border strips
    image, _ = noisy_lattice((80, 96), seed=4)
    result = denoise(image, classifier="k=all", patch_size=7, variant="paper")
    np.testing.assert_allclose(result.image, image, atol=2e-5 * image.max())


@pytest.mark.parametrize(("shape", "p", "with_mask"), [
    ((50, 63), 5, False), ((50, 63), 5, True), ((64, 40), 7, False), ((64, 40), 7, True),
    ((13, 20), 5, False), ((90, 33), 9, True),
])
def test_fft_projection_equals_the_place_back_loop(shape, p, with_mask):
    rng = np.random.default_rng(sum(shape) + p)
    image = rng.gamma(3.0, 100.0, size=shape)
    grid = (shape[0] - p + 1, shape[1] - p + 1)
    mask = rng.random(grid) < 0.4 if with_mask else np.ones(grid, bool)
    matrix, positions = patch_matrix(image, p, mask)
    basis, _ = stack_svd_reference(matrix, 6)
    reference = place_back_reference(shape, p, matrix, positions, basis)
    fast = project_stack(image, basis.reshape(-1, p, p), mask if with_mask else None)
    assert _relative_error(fast, reference) < 2e-6
    parts = component_contributions(image, basis.reshape(-1, p, p), mask if with_mask else None)
    assert _relative_error(parts.sum(axis=0, dtype=np.float64), reference) < 2e-6


@pytest.mark.parametrize("with_mask", [False, True])
def test_torch_backend_equals_numpy(with_mask):
    torch = pytest.importorskip("torch")
    assert torch is not None
    rng = np.random.default_rng(3)
    image = rng.normal(size=(70, 61)) + 10
    p = 7
    mask = (rng.random((64, 55)) < 0.5) if with_mask else None
    basis = np.linalg.qr(rng.normal(size=(49, 8)))[0].T.reshape(8, p, p)
    numpy_result = project_stack(image, basis, mask)
    torch_result = project_stack(image, basis, mask, backend="torch", device="cpu")
    assert _relative_error(torch_result, numpy_result) < 2e-6


def test_fast_and_reference_modes_agree_given_the_same_eigenpatches():
    image, _ = noisy_lattice((48, 52), seed=9)
    p = 7
    stack_map = assign_stacks(image.shape, p, 2, seed=0)
    for index in range(2):
        mask = stack_map == index
        eig, matrix, positions = stack_eigen_reference(image, p, mask, n_components=10)
        kept = eig.eigenpatches[[0, 1, 2, 5]]
        reference = place_back_reference(image.shape, p, matrix, positions, kept)
        fast = project_stack(image, kept, mask)
        assert _relative_error(fast, reference) < 2e-6


def test_fast_mode_with_every_patch_sampled_matches_reference_mode():
    image, _ = noisy_lattice((40, 44), seed=2)
    fast = denoise(image, classifier="k=6", patch_size=5, sample_size=10**6, variant="paper")
    reference = denoise(image, classifier="k=6", patch_size=5, mode="reference", variant="paper")
    for a, b in zip(fast.stacks, reference.stacks):
        np.testing.assert_allclose(a.eigenvalues, b.eigenvalues, rtol=1e-8)
        np.testing.assert_allclose(a.eigenpatches, b.eigenpatches, atol=1e-5)
    assert _relative_error(fast.image, reference.image) < 1e-5


def test_sampled_eigenpatches_are_orthonormal_for_both_solvers():
    image, _ = noisy_lattice((90, 90), seed=5)
    for method in ("gram", "randomized"):
        eig = stack_eigen_fast(image, 11, None, n_components=20, svd_method=method,
                               sample_size=2000, seed=(0, 0))
        flat = eig.eigenpatches.reshape(20, -1)
        np.testing.assert_allclose(flat @ flat.T, np.eye(20), atol=1e-5)
        assert np.all(np.diff(eig.eigenvalues) <= 1e-9 * eig.eigenvalues[0])


def test_interim_results_cover_more_and_end_with_the_final_result():
    image, _ = noisy_lattice((40, 40), seed=1)
    steps = list(iter_denoise(image, "k=3", patch_size=5, n_stacks=4, seed=3, variant="paper"))
    assert [s.stack_index for s in steps] == [0, 1, 2, 3]
    coverage = [int(np.count_nonzero(s.terrain)) for s in steps]
    assert coverage == sorted(coverage) and coverage[-1] == image.size
    assert all(s.final is None for s in steps[:-1])
    final = steps[-1].final
    np.testing.assert_array_equal(final.image, steps[-1].image)
    np.testing.assert_array_equal(final.terrain, steps[-1].terrain)
    # uncovered pixels show the input, covered ones the running reconstruction
    first = steps[0]
    uncovered = first.terrain == 0
    np.testing.assert_allclose(first.image[uncovered], image[uncovered].astype(np.float32))
    # the final result equals a one-shot denoise with the same settings
    again = denoise(image, "k=3", patch_size=5, n_stacks=4, seed=3, variant="paper")
    np.testing.assert_array_equal(again.image, final.image)


def test_terrain_in_the_result_is_the_full_overlap_count():
    image, _ = noisy_lattice((30, 34), seed=7)
    result = denoise(image, "k=2", patch_size=5, n_stacks=3, variant="paper")
    expected = patch_terrain(np.ones((26, 30), bool), 5)
    np.testing.assert_array_equal(result.terrain, expected)


def test_seed_changes_the_stacks_but_not_determinism():
    image, _ = noisy_lattice((40, 40), seed=1)
    a = denoise(image, "k=3", patch_size=5, n_stacks=3, seed=1, variant="paper")
    b = denoise(image, "k=3", patch_size=5, n_stacks=3, seed=1, variant="paper")
    c = denoise(image, "k=3", patch_size=5, n_stacks=3, seed=2, variant="paper")
    np.testing.assert_array_equal(a.image, b.image)
    assert not np.array_equal(a.image, c.image)


def test_truncation_removes_noise_on_a_lattice():
    noisy, clean = noisy_lattice((96, 96), spacing=8.0, dose=20.0, seed=11)
    result = denoise(noisy, classifier="k=6", patch_size=9, variant="paper")
    before = np.sqrt(np.mean((noisy - clean) ** 2))
    after = np.sqrt(np.mean((result.image - clean) ** 2))
    assert after < 0.7 * before


def test_iter_denoise_validates_when_called_not_when_iterated():
    with pytest.raises(InvalidImageError):
        iter_denoise(np.full((20, 20), np.nan), "k=2", patch_size=5)


def _cuda_available() -> bool:
    try:
        # torch (heavy) only when this runs
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


@pytest.mark.skipif(not _cuda_available(), reason="no CUDA device on this machine")
def test_cuda_device_matches_cpu():
    image, _ = noisy_lattice((96, 80), seed=8)
    cpu = denoise(image, "k=6", patch_size=7, n_stacks=2, variant="paper")
    gpu = denoise(image, "k=6", patch_size=7, n_stacks=2, device="cuda", variant="paper")
    assert _relative_error(gpu.image, cpu.image) < 1e-5


def test_denoise_series_treats_each_frame_like_a_single_image():
    frames = np.stack([noisy_lattice((32, 36), seed=s)[0] for s in range(3)])
    results = denoise_series(frames, "k=3", patch_size=5, variant="paper")
    assert len(results) == 3
    for frame, result in zip(frames, results):
        alone = denoise(frame, "k=3", patch_size=5, variant="paper")
        np.testing.assert_array_equal(result.image, alone.image)
    with pytest.raises(ValueError, match="3D"):
        denoise_series(frames[0], "k=3", patch_size=5, variant="paper")
