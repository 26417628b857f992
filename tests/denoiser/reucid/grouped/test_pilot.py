"""The coarse pilot: the paper's pipeline on the 2x2-binned image, back on the full grid."""
from __future__ import annotations

import numpy as np
import pytest

from denoiser.reucid import denoise
from denoiser.reucid.grouped.pilot import (
    COARSE_PATCH_SIZE,
    CoarsePilot,
    coarse_patch_size,
    coarse_pilot,
)

from .._images import gaussian_lattice


def _noisy_lattice(shape, seed: int = 0):
    """A unit-variance-noise lattice, like the stabilised image the grouped path gives it."""
    clean = 4.0 * gaussian_lattice(shape, 10.0, 2.0, offset=(3.0, 4.0))
    return clean + np.random.default_rng(seed).normal(size=shape), clean


def _bin2(image):
    """Mean of each 2x2 block; an odd last row/column is left out."""
    rows, cols = image.shape[0] // 2, image.shape[1] // 2
    return image[:2 * rows, :2 * cols].reshape(rows, 2, cols, 2).mean(axis=(1, 3))


def _upsample2(values, axis):
    """Linear interpolation to twice the samples along ``axis``, pixel centres aligned.

    Full-grid pixel ``2k`` lies a quarter of a binned pixel before binned pixel ``k``,
    ``2k + 1`` a quarter after it; beyond the edge the nearest binned pixel is used.
    """
    moved = np.moveaxis(values, axis, 0)
    k = np.arange(len(moved))
    out = np.empty((2 * len(moved),) + moved.shape[1:])
    out[0::2] = 0.75 * moved + 0.25 * moved[np.maximum(k - 1, 0)]
    out[1::2] = 0.75 * moved + 0.25 * moved[np.minimum(k + 1, len(moved) - 1)]
    return np.moveaxis(out, 0, axis)


@pytest.mark.parametrize(("shape", "expected"), [
    ((256, 256), COARSE_PATCH_SIZE), ((1024, 2048), COARSE_PATCH_SIZE), ((64, 80), 9),
    ((101, 77), 11), ((30, 30), 5), ((30, 500), 5), ((41, 41), 5),
    ((29, 29), None), ((29, 300), None), ((20, 20), None), ((2, 2), None),
])
def test_coarse_patch_size_fits_the_binned_image_or_is_none(shape, expected):
    p = coarse_patch_size(shape)
    assert p == expected
    if p is not None:
        binned_side = min(shape[0] // 2, shape[1] // 2)
        assert p % 2 == 1 and 5 <= p <= COARSE_PATCH_SIZE and 3 * p <= binned_side


@pytest.mark.parametrize("shape", [(29, 64), (64, 29), (16, 16)])
def test_images_too_small_get_no_pilot(shape):
    assert coarse_pilot(np.random.default_rng(0).normal(size=shape)) is None


@pytest.mark.parametrize("shape", [(96, 96), (101, 77), (64, 131)])
def test_pilot_is_the_papers_pipeline_on_the_binned_image(shape):
    noisy, _ = _noisy_lattice(shape, seed=sum(shape))
    pilot = coarse_pilot(noisy, seed=3)
    assert isinstance(pilot, CoarsePilot)
    p = coarse_patch_size(shape)
    binned = denoise(_bin2(noisy), "gd", patch_size=p, n_stacks=1, seed=3, variant="paper")
    assert pilot.patch_size == p == binned.patch_size
    assert pilot.n_kept == binned.stacks[0].n_kept
    full = _upsample2(_upsample2(binned.image.astype(np.float64), 0), 1)
    rows, cols = full.shape
    np.testing.assert_allclose(pilot.image[:rows, :cols], full, rtol=0, atol=1e-9)
    # an odd last row or column repeats its neighbour
    np.testing.assert_array_equal(pilot.image[rows:], np.repeat(pilot.image[rows - 1:rows],
                                                                shape[0] - rows, axis=0))
    np.testing.assert_array_equal(pilot.image[:, cols:], np.repeat(
        pilot.image[:, cols - 1:cols], shape[1] - cols, axis=1))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint16])
def test_pilot_has_the_inputs_shape_and_leaves_the_input_alone(dtype):
    noisy, _ = _noisy_lattice((101, 77), seed=1)
    image = (noisy * 10 + 100).astype(dtype)
    before = image.copy()
    pilot = coarse_pilot(image)
    np.testing.assert_array_equal(image, before)
    assert image.dtype == dtype
    # float64, the working precision of the grouped passes it serves
    assert pilot.image.shape == image.shape and pilot.image.dtype == np.float64
    assert np.isfinite(pilot.image).all()


def test_pilot_is_deterministic_for_a_seed():
    # 200x200: the binned 100x100 holds more 21x21 patches than the fast SVD samples,
    # so the seed decides which patches the stack's SVD sees
    noisy, _ = _noisy_lattice((200, 200), seed=2)
    first, again = coarse_pilot(noisy, seed=5), coarse_pilot(noisy, seed=5)
    np.testing.assert_array_equal(first.image, again.image)
    assert first.n_kept == again.n_kept
    other = coarse_pilot(noisy, seed=6)
    assert not np.array_equal(first.image, other.image)


def test_pilot_sees_the_lattice_through_the_noise():
    noisy, clean = _noisy_lattice((128, 128), seed=4)
    pilot = coarse_pilot(noisy)
    assert pilot.n_kept >= 1
    assert np.std(pilot.image - clean) < 0.5 * np.std(noisy - clean)


def test_pilot_of_a_constant_image_is_that_constant():
    pilot = coarse_pilot(np.full((64, 70), 7.0))
    # the paper's pipeline returns float32: a few units in the 6th significant digit
    np.testing.assert_allclose(pilot.image, 7.0, rtol=1e-5)


@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (2, 1), (7, 9), (64, 33)])
def test_upsampling_twice_is_scipys_linear_zoom_with_aligned_centres(shape):
    from scipy import ndimage

    from denoiser.reucid.grouped.pilot import upsample_twice

    values = np.random.default_rng(sum(shape)).normal(size=shape) * 50.0
    before = values.copy()
    expected = ndimage.zoom(values, 2, order=1, mode="nearest", grid_mode=True)
    np.testing.assert_allclose(upsample_twice(values), expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(values, before)
    with pytest.raises(ValueError, match="2D"):
        upsample_twice(np.ones(4))
