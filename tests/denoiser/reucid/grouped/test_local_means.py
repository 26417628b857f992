"""Step 7: the output's coarse scales are the data's, its fine ones the groups'."""
from __future__ import annotations

import numpy as np
import pytest

from denoiser.reucid import denoise
from denoiser.reucid.grouped.local_means import local_mean_sigma, restore_local_means

from .._images import gaussian_lattice

SPACING, WIDTH = 10.0, 2.0


def _brighter_columns(seed: int, *, dose: float = 30.0, shape=(128, 128)):
    """A Poisson lattice in which six columns are 25 % brighter (one column thicker)."""
    rng = np.random.default_rng(100 + seed)
    picks = rng.choice(12 * 12, size=6, replace=False)
    centres = [(5 + 10 * (k // 12), 5 + 10 * (k % 12)) for k in picks]
    y, x = np.mgrid[:shape[0], :shape[1]]
    extra = sum(0.25 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * WIDTH**2))
                for cy, cx in centres)
    clean = dose * (0.1 + gaussian_lattice(shape, SPACING, WIDTH, offset=(5.0, 5.0)) + extra)
    noisy = np.random.default_rng(seed).poisson(clean).astype(np.float64)
    # each bright column is compared with the plain column one period beside it
    beside = []
    for cy, cx in centres:
        for dx in (10, -10, 20, -20):
            if 0 <= cx + dx < shape[1] and (cy, cx + dx) not in centres:
                beside.append((cy, cx + dx))
                break
    return noisy, clean, centres, beside


def _disc_sums(image, centres, radius=4):
    y, x = np.mgrid[:image.shape[0], :image.shape[1]]
    return np.array([image[(y - cy) ** 2 + (x - cx) ** 2 <= radius**2].sum()
                     for cy, cx in centres])


def _excess_kept(image, clean, centres, beside):
    """Median over the bright columns of their integrated excess, estimated over true."""
    def excess(values):
        return _disc_sums(values, centres) - _disc_sums(values, beside)
    return float(np.median(excess(image) / excess(clean)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_brighter_column_keeps_more_of_its_integrated_intensity(seed):
    # what atom counting reads: a column's integrated intensity against its neighbour's
    noisy, clean, centres, beside = _brighter_columns(seed)
    default = denoise(noisy)
    groups_only = denoise(noisy, local_means=False)
    kept = _excess_kept(default.image, clean, centres, beside)
    pulled = _excess_kept(groups_only.image, clean, centres, beside)
    assert kept > pulled + 0.05
    assert default.options["local_means"] is True
    assert groups_only.options["local_means"] is False


def test_brighter_columns_keep_most_of_their_excess():
    kept = [_excess_kept(denoise(noisy).image, clean, centres, beside)
            for noisy, clean, centres, beside in map(_brighter_columns, range(4))]
    # the groups alone keep 0.61-0.80 of it on these lattices
    assert np.mean(kept) > 0.75


def test_the_output_is_the_documented_linear_step_on_the_groups_estimate():
    noisy, *_ = _brighter_columns(3, shape=(72, 80))
    groups_only = denoise(noisy, local_means=False)
    default = denoise(noisy)
    # G * data + (1 - G) * estimate, never below zero counts: nothing else enters
    expected = restore_local_means(groups_only.image, noisy, patch_size=default.patch_size,
                                   floor=0.0)
    np.testing.assert_allclose(default.image, expected, rtol=0,
                               atol=1e-5 * float(noisy.max()))
    # every pass's image gets the step; the last one is the output
    np.testing.assert_array_equal(default.pass_images[-1], default.image)
    # the total is the data's (the Gaussian is reflected at the border, not padded)
    assert default.image.sum() == pytest.approx(noisy.sum(), rel=1e-4)


def test_removed_scan_line_offsets_stay_removed():
    rng = np.random.default_rng(4)
    clean = 40.0 * (0.2 + gaussian_lattice((96, 96), 9.0, 1.8, offset=(4.0, 4.0)))
    lines = rng.normal(0.0, 6.0, 96)
    noisy = rng.poisson(clean) + lines[:, None]
    default = denoise(noisy)
    groups_only = denoise(noisy, local_means=False)
    assert default.scan_lines.detected
    # the local means come from the data without the offsets found, not from the raw
    # frame (whose offsets would partly come back)
    destriped = noisy - default.scan_lines.offsets[:, None]
    expected = restore_local_means(groups_only.image, destriped, patch_size=default.patch_size)
    raw = restore_local_means(groups_only.image, noisy, patch_size=default.patch_size)
    tolerance = 1e-5 * float(noisy.max())
    np.testing.assert_allclose(default.image, expected, rtol=0, atol=tolerance)
    assert np.abs(raw - expected).max() > 100 * tolerance


def test_an_estimate_equal_to_the_data_comes_back_unchanged():
    data = np.random.default_rng(0).poisson(5.0, (40, 50)).astype(np.float64)
    before = data.copy()
    np.testing.assert_array_equal(restore_local_means(data, data, patch_size=9), data)
    np.testing.assert_array_equal(data, before)


def test_coarse_differences_come_from_the_data_fine_ones_from_the_estimate():
    data = np.random.default_rng(1).normal(10.0, 1.0, (64, 64))
    checker = np.indices((64, 64)).sum(axis=0) % 2 - 0.5
    # an estimate off by a constant gets the data's level back; a pixel-scale pattern
    # of the estimate (finer than a patch) stays
    np.testing.assert_allclose(restore_local_means(data + 3.0, data, patch_size=9), data,
                               atol=1e-4)
    kept = restore_local_means(data + checker, data, patch_size=9) - data
    # (to a percent at the border, where the reflected Gaussian sees less of it)
    np.testing.assert_allclose(kept, checker, atol=0.02)


def test_offset_data_is_not_clipped_and_count_data_is():
    data = np.random.default_rng(2).normal(0.0, 1.0, (48, 48))
    estimate = np.zeros_like(data)
    free = restore_local_means(estimate, data, patch_size=9)
    assert free.min() < 0
    assert restore_local_means(estimate, data, patch_size=9, floor=float("-inf")).min() < 0
    assert restore_local_means(estimate, data, patch_size=9, floor=0.0).min() == 0.0


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="shape"):
        restore_local_means(np.zeros((8, 8)), np.zeros((8, 9)), patch_size=3)


def test_the_width_follows_the_patch():
    assert local_mean_sigma(9) == 3.0 and local_mean_sigma(6) == 2.0


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_the_option_must_be_a_bool(value):
    with pytest.raises(ValueError, match="local_means"):
        denoise(np.ones((32, 32)), local_means=value)
