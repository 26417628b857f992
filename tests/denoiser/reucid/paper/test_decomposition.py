"""One decomposition, every truncation."""
from __future__ import annotations

import numpy as np
import pytest

from denoiser.reucid import decompose, denoise

from .._images import noisy_lattice


def test_reconstructions_equal_denoise_with_fixed_k():
    noisy, _ = noisy_lattice((64, 60), seed=4)
    dec = decompose(noisy, patch_size=7, n_components=12)
    stack = dec.reconstructions([1, 5, 12])
    for row, k in enumerate([1, 5, 12]):
        direct = denoise(noisy, f"k={k}", patch_size=7, n_components=12, variant="paper").image
        np.testing.assert_allclose(stack[row], direct, rtol=1e-5, atol=1e-4 * noisy.max())
        np.testing.assert_allclose(dec.reconstruct(k), direct, rtol=1e-5,
                                   atol=1e-4 * noisy.max())


def test_boolean_selection_and_full_basis():
    noisy, _ = noisy_lattice((40, 40), seed=1)
    dec = decompose(noisy, patch_size=5, n_components="all")
    np.testing.assert_allclose(dec.reconstruct(25), noisy, atol=2e-5 * noisy.max())
    mask = np.zeros(25, bool)
    mask[[0, 2]] = True
    parts = dec.contributions
    expected = (parts[0].astype(np.float64) + parts[2]) / dec.terrain
    np.testing.assert_allclose(dec.reconstruct(mask), expected, rtol=1e-5)


def test_reference_mode_gives_the_same_eigenpatches():
    noisy, _ = noisy_lattice((36, 36), seed=2)
    fast = decompose(noisy, patch_size=5, n_components=8, sample_size=10**6)
    reference = decompose(noisy, patch_size=5, n_components=8, mode="reference")
    np.testing.assert_allclose(fast.eigenpatches, reference.eigenpatches, atol=1e-5)
    np.testing.assert_allclose(fast.eigenvalues, reference.eigenvalues, rtol=1e-8)


@pytest.mark.parametrize("bad", [-1, 26, np.ones(3, bool), "x"])
def test_bad_truncations_are_refused(bad):
    dec = decompose(noisy_lattice((30, 30))[0], patch_size=5, n_components=25)
    with pytest.raises(ValueError):
        dec.reconstruct(bad)


def test_spectrum_is_available_for_objective_rules():
    dec = decompose(noisy_lattice((40, 40))[0], patch_size=5, n_components=10)
    assert dec.spectrum is not None and len(dec.spectrum) == 25
    np.testing.assert_allclose(dec.spectrum[:10], dec.eigenvalues, rtol=1e-8)


def test_reconstructions_keep_the_requested_order_and_repeats():
    dec = decompose(noisy_lattice((32, 36), seed=3)[0], patch_size=5, n_components=6)
    stack = dec.reconstructions([5, 0, 1, 5])
    for row, k in enumerate([5, 0, 1, 5]):
        np.testing.assert_allclose(stack[row], dec.reconstruct(k), rtol=1e-5, atol=1e-3)
    assert not np.any(stack[1])


def test_torch_backend_gives_the_same_contributions():
    pytest.importorskip("torch")
    noisy = noisy_lattice((64, 56), seed=6)[0]
    numpy_dec = decompose(noisy, patch_size=7, n_components=5)
    torch_dec = decompose(noisy, patch_size=7, n_components=5, backend="torch")
    np.testing.assert_allclose(torch_dec.contributions, numpy_dec.contributions,
                               atol=2e-6 * np.abs(numpy_dec.contributions).max())
    np.testing.assert_allclose(torch_dec.reconstruct(3), numpy_dec.reconstruct(3),
                               rtol=1e-5, atol=1e-4)
