"""Bad input gets a clear error and loses nothing."""
from __future__ import annotations

import numpy as np
import pytest

from denoiser.reucid import InvalidImageError, PatchSizeError, denoise
from denoiser.reucid.validation import as_grey_float_image

from ._images import noisy_lattice


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_are_refused(bad_value):
    image, _ = noisy_lattice((30, 30))
    image[4, 7] = bad_value
    with pytest.raises(InvalidImageError, match="NaN or infinite"):
        denoise(image, "k=2", patch_size=5)
    assert np.isnan(image[4, 7]) or np.isinf(image[4, 7])  # the caller's array is untouched


@pytest.mark.parametrize("variant", ["paper", "best"])
@pytest.mark.parametrize("factor", [1e40, 1e-33])
def test_values_the_float32_output_cannot_hold_are_refused(variant, factor):
    # the paper path used to return NaNs for 1e40 without a word
    image, _ = noisy_lattice((40, 40))
    scaled = image * factor
    before = scaled.copy()
    with pytest.raises(InvalidImageError, match="float32"):
        denoise(scaled, patch_size=5, variant=variant)
    np.testing.assert_array_equal(scaled, before)


@pytest.mark.parametrize("variant", ["paper", "best"])
def test_an_image_in_tiny_or_huge_units_still_denoises(variant):
    image, _ = noisy_lattice((48, 48))
    plain = denoise(image, patch_size=5, variant=variant).image.astype(np.float64)
    for factor in (1e30, 1e-25):
        scaled = denoise(image * factor, patch_size=5, variant=variant).image
        assert np.all(np.isfinite(scaled))
        np.testing.assert_allclose(scaled / factor, plain, rtol=1e-4,
                                   atol=1e-4 * float(np.abs(plain).max()))


@pytest.mark.parametrize("shape", [(1, 1), (1, 50), (2, 2), (50,), ()])
def test_tiny_or_non_2d_inputs_are_refused(shape):
    with pytest.raises(InvalidImageError):
        denoise(np.ones(shape), "k=1", patch_size=3)


def test_image_smaller_than_a_patch():
    with pytest.raises(PatchSizeError, match="smaller than one 9x9 patch"):
        denoise(np.random.default_rng(0).normal(size=(8, 40)), "k=1", patch_size=9)


def test_grey_rgb_is_accepted_and_colour_rgb_refused():
    image, _ = noisy_lattice((30, 32))
    grey = image.astype(np.uint8)
    rgb = np.stack([grey, grey, grey], axis=-1)
    rgba = np.concatenate([rgb, np.full((30, 32, 1), 255, np.uint8)], axis=-1)
    expected = denoise(grey, "k=3", patch_size=5, variant="paper").image
    for coloured in (rgb, rgba):
        same = denoise(coloured, "k=3", patch_size=5, variant="paper")
        np.testing.assert_array_equal(same.image, expected)
    colour = rgb.copy()
    colour[..., 1] //= 2
    with pytest.raises(InvalidImageError, match="colour"):
        denoise(colour, "k=3", patch_size=5)


def test_3d_stacks_get_a_clear_error_naming_the_way_out():
    with pytest.raises(InvalidImageError, match="stack of 5 frames.*denoise_series"):
        denoise(np.ones((5, 32, 32)), "k=1", patch_size=3)


def test_uint16_near_the_top_does_not_overflow():
    image, _ = noisy_lattice((32, 32))
    counts = (65535 - image).clip(0, 65535).astype(np.uint16)
    result = denoise(counts, "k=all", patch_size=5, variant="paper")
    # float32 working precision: a few units in the 6th significant digit
    np.testing.assert_allclose(result.image, counts.astype(np.float64), rtol=5e-6)
    assert float(as_grey_float_image(np.full((3, 3), 65535, np.uint16)).sum()) == 9 * 65535.0


@pytest.mark.parametrize("bad", [np.array([["a", "b"], ["c", "d"]]), np.ones((4, 4), complex)])
def test_non_numeric_data_is_refused(bad):
    with pytest.raises(InvalidImageError):
        as_grey_float_image(bad)


@pytest.mark.parametrize(("option", "value"), [
    ("mode", "slow"), ("n_stacks", 0), ("n_components", 0), ("patch_size", 1),
    ("patch_size", 4.5),
])
def test_bad_options_are_refused(option, value):
    image, _ = noisy_lattice((30, 30))
    with pytest.raises(ValueError):
        denoise(image, "k=2", **{"patch_size": 5, option: value})
