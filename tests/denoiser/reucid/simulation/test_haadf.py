"""The built-in incoherent HAADF simulator and the paper's noise model."""
from __future__ import annotations

import numpy as np
import pytest

from denoiser.reucid.simulation.haadf import (
    CRYSTALS,
    HELD_OUT_MATERIALS,
    TRAINING_MATERIALS,
    add_dose_noise,
    expected_counts,
    simulate_haadf,
)


@pytest.mark.parametrize("material", sorted(CRYSTALS))
def test_every_material_renders_a_lattice(material):
    image = simulate_haadf(material, shape=(64, 64), pixel_size_A=0.25, environment="bulk",
                           background=0.0, rng=0)
    assert image.clean.shape == (64, 64) and image.clean.dtype == np.float32
    assert np.all(image.clean >= 0) and np.all(image.clean < 1)
    assert image.clean.max() - image.clean.min() > 0.2 * image.clean.max()  # columns resolved
    assert image.parameters["n_columns"] > 10


def test_same_seed_same_image_and_different_seed_differs():
    a = simulate_haadf("Si_110", shape=(48, 48), rng=5).clean
    np.testing.assert_array_equal(a, simulate_haadf("Si_110", shape=(48, 48), rng=5).clean)
    assert not np.array_equal(a, simulate_haadf("Si_110", shape=(48, 48), rng=6).clean)


def test_heavier_columns_are_brighter():
    kwargs = dict(shape=(64, 64), pixel_size_A=0.2, thickness_A=100, rotation_deg=0,
                  environment="bulk", vacancy_fraction=0, substitution_fraction=0,
                  background=0, rng=1)
    assert simulate_haadf("Au_110", **kwargs).clean.max() > simulate_haadf(
        "Si_110", **kwargs).clean.max()


def test_particle_leaves_vacuum_around_it():
    image = simulate_haadf("Pt_001", shape=(96, 96), environment="particle", background=0,
                           rng=2)
    corners = np.concatenate([image.clean[:6, :6].ravel(), image.clean[-6:, -6:].ravel()])
    assert corners.mean() < 0.05 * image.clean.max()


def test_pixel_size_sets_column_width():
    common = dict(shape=(64, 64), environment="bulk", rotation_deg=0, background=0, rng=3,
                  vacancy_fraction=0, substitution_fraction=0)
    fine = simulate_haadf("SrTiO3_001", pixel_size_A=0.1, **common)
    coarse = simulate_haadf("SrTiO3_001", pixel_size_A=0.3, **common)

    def inside(image):
        rc = image.column_positions_px
        return int(np.sum((rc >= 0).all(axis=1) & (rc < 64).all(axis=1)))

    # 3x the pixel size: 9x the columns in the field of view, each 3x narrower in pixels
    assert 6 * inside(fine) < inside(coarse) < 12 * inside(fine)


def test_training_and_held_out_materials_are_disjoint():
    assert not set(TRAINING_MATERIALS) & set(HELD_OUT_MATERIALS)
    assert set(TRAINING_MATERIALS) | set(HELD_OUT_MATERIALS) <= set(CRYSTALS)


def test_unknown_material_and_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="unknown material"):
        simulate_haadf("unobtainium")
    with pytest.raises(ValueError, match="environment"):
        simulate_haadf("Si_110", environment="moon")


def test_dose_noise_follows_the_paper_model():
    clean = np.full((200, 200), 0.05, np.float32)
    clean[:100] = 0.1
    before = clean.copy()
    expected = expected_counts(clean, 500, 0.2)  # 500 e/Å² × 0.04 Å² × fraction
    np.testing.assert_allclose(expected[150, 0], 1.0, rtol=1e-6)
    noisy = add_dose_noise(clean, 500, (0.2, 0.2), detector_noise=0.05, rng=0)
    np.testing.assert_array_equal(clean, before)
    gaussian_var = (0.05 * 2.0) ** 2
    for rows, mean in ((slice(0, 100), 2.0), (slice(100, 200), 1.0)):
        assert noisy[rows].mean() == pytest.approx(mean, rel=0.03)
        assert noisy[rows].var() == pytest.approx(mean + gaussian_var, rel=0.05)
    np.testing.assert_array_equal(noisy, add_dose_noise(clean, 500, 0.2, rng=0))


def test_dose_noise_rejects_nonsense():
    with pytest.raises(ValueError):
        add_dose_noise(np.ones((4, 4)), -1, 0.2)
    with pytest.raises(ValueError):
        add_dose_noise(-np.ones((4, 4)), 100, 0.2)
