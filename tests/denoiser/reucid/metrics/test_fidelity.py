"""Fidelity metrics: Gaussian fits, column intensities, defect contrast, slopes, stripes."""
from __future__ import annotations

import numpy as np
import pytest

from denoiser.reucid.metrics import fidelity
from denoiser.reucid.simulation.scenes import make_scene


def _gaussians(shape, centres, *, sigma=1.6, amplitude=10.0, background=1.0):
    yy, xx = np.mgrid[:shape[0], :shape[1]].astype(float)
    image = np.full(shape, background)
    for r, c in centres:
        image += amplitude * np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * sigma**2))
    return image


def test_fitted_position_of_a_synthetic_gaussian_is_within_a_hundredth_of_a_pixel():
    rng = np.random.default_rng(0)
    centres = np.array([[8.0, 8.0], [8.0, 20.0], [20.0, 8.0], [20.0, 20.0]])
    centres += rng.uniform(-0.5, 0.5, size=centres.shape)
    image = _gaussians((29, 29), centres)
    fit = fidelity.fit_gaussian_columns(image, np.round(centres), radius=4.5)
    assert fit.ok.all()
    np.testing.assert_allclose(fit.positions, centres, atol=0.01)


def test_a_noisy_gaussian_is_found_near_its_centre_and_a_flat_window_fails_cleanly():
    rng = np.random.default_rng(1)
    image = _gaussians((21, 21), [[10.4, 9.7]], amplitude=50.0)
    noisy = rng.poisson(image * 10) / 10
    fit = fidelity.fit_gaussian_columns(noisy, [[10.0, 10.0]], radius=4)
    assert np.hypot(*(fit.positions[0] - [10.4, 9.7])) < 0.1
    flat = fidelity.fit_gaussian_columns(np.zeros((21, 21)), [[10.0, 10.0]], radius=4)
    assert not flat.ok[0] and np.isnan(flat.positions[0]).all()
    assert fidelity.position_error(flat.positions, [[10.0, 10.0]], cap=4) == 4


def test_peaks_are_searched_near_the_lattice_site_not_at_the_answer():
    image = _gaussians((21, 21), [[11.0, 9.0]])
    assert fidelity.find_peaks_near(image, [[10.0, 10.0]], radius=3).tolist() == [[11.0, 9.0]]


@pytest.fixture(scope="module")
def scene():
    return make_scene("thickness_steps", 1000, seed=0, size=96)


def test_the_clean_image_scores_perfectly(scene):
    out = fidelity.fidelity_metrics(scene.clean, scene.noisy, scene.clean, scene.truth,
                                    perfect=scene.perfect)
    assert out["psnr"] == np.inf
    assert out["defect_contrast"] == 1.0 and out["defect_retained"] == 1.0
    assert out["intensity_slope"] == pytest.approx(1.0) and out["intensity_rel_rmse"] == 0.0
    assert out["position_error_pm"] < 2.0 and out["fit_failed"] == 0.0
    assert out["n_defects"] > 0


def test_an_image_with_the_defects_removed_keeps_no_contrast(scene):
    out = fidelity.fidelity_metrics(scene.clean, scene.noisy, scene.perfect, scene.truth,
                                    perfect=scene.perfect)
    assert out["defect_contrast"] == pytest.approx(0.0, abs=0.05)
    assert out["defect_retained"] == pytest.approx(0.0, abs=1e-12)
    assert out["intensity_slope"] < 0.3


def test_shrinking_columns_toward_their_mean_halves_the_slope(scene):
    truth = scene.truth
    labels = fidelity.voronoi_labels(scene.clean.shape, truth.positions,
                                     max_radius=truth.integration_radius_px)
    true = fidelity.column_intensities(scene.clean, truth.positions,
                                       max_radius=truth.integration_radius_px, labels=labels)
    np.testing.assert_allclose(true, truth.intensity)
    keep = truth.evaluated
    shrunk = true.copy()
    for s in np.unique(truth.species):
        mine = keep & (truth.species == s)
        shrunk[mine] = 0.5 * (true[mine] + true[mine].mean())
    out = fidelity.intensity_fidelity(shrunk[keep], true[keep], truth.species[keep])
    assert out["slope"] == pytest.approx(0.5)
    contrast = fidelity.defect_contrast_kept(shrunk[keep], true[keep], truth.defect[keep],
                                             truth.species[keep], truth.positions[keep])
    assert 0.3 < contrast < 0.7


def test_displacement_slope_of_the_clean_polar_scene_is_one():
    polar = make_scene("polar_domains", 10000, seed=1, size=128)
    out = fidelity.fidelity_metrics(polar.clean, polar.noisy, polar.clean, polar.truth)
    assert out["displacement_slope"] == pytest.approx(1.0, abs=0.1)
    # averaging the domains away (the undisplaced lattice) leaves no displacement
    truth = polar.truth
    fit = fidelity.fit_gaussian_columns(polar.clean, truth.ideal_positions[truth.displaced],
                                        radius=truth.fit_radius_px)
    assert fidelity.displacement_slope(truth.ideal_positions[truth.displaced],
                                       truth.ideal_positions[truth.displaced],
                                       truth.displacement[truth.displaced]) == 0.0
    assert np.isfinite(fit.positions).all()


def test_stripe_measures_see_row_offsets_and_ignore_isotropic_noise():
    rng = np.random.default_rng(2)
    white = rng.normal(size=(128, 128))
    smooth = np.fft.ifft2(np.fft.fft2(white) * np.exp(-np.hypot(
        *np.meshgrid(np.fft.fftfreq(128), np.fft.fftfreq(128))) * 20)).real
    for isotropic in (white, smooth):
        assert 0.6 < fidelity.stripe_anisotropy(isotropic) < 1.6
    stripes = white + 0.5 * rng.normal(size=(128, 1))
    assert fidelity.stripe_anisotropy(stripes) > 10
    assert fidelity.row_offset_ratio(stripes) > 10
    assert 0.7 < fidelity.row_offset_ratio(white) < 1.3
    with pytest.raises(ValueError):
        fidelity.stripe_anisotropy(np.zeros(10))
