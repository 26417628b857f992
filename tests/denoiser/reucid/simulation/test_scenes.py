"""Fidelity scenes: seeded, consistent ground truth, each scene holds what it says."""
from __future__ import annotations

import numpy as np
import pytest

from denoiser.reucid.simulation import scenes


@pytest.mark.parametrize("name", scenes.scene_names())
def test_every_scene_has_consistent_ground_truth(name):
    scene = scenes.make_scene(name, 1000, seed=0, size=80)
    truth = scene.truth
    n = len(truth.positions)
    assert scene.clean.shape == scene.noisy.shape == scene.perfect.shape == (80, 80)
    peak = scenes.PEAK_FRACTION * 1000
    assert scene.clean.min() >= 0 and 0.5 * peak <= scene.perfect.max() <= 1.2 * peak
    for array in (truth.species, truth.defect, truth.kind, truth.evaluated, truth.intensity):
        assert len(array) == n
    np.testing.assert_allclose(truth.positions - truth.ideal_positions, truth.displacement)
    assert truth.evaluated.sum() > 10
    assert (truth.kind[truth.defect] != "").all() and (truth.kind[~truth.defect] == "").all()
    assert scene.noise_sigma == pytest.approx(scenes.DETECTOR_NOISE * scene.clean.max())


def test_same_seed_same_specimen_at_every_dose_new_seed_new_specimen():
    a = scenes.make_scene("vacancies_thick", 100, seed=3, size=64)
    b = scenes.make_scene("vacancies_thick", 10000, seed=3, size=64)
    c = scenes.make_scene("vacancies_thick", 100, seed=3, size=64)
    np.testing.assert_allclose(a.clean * 100, b.clean, rtol=1e-12)
    np.testing.assert_array_equal(a.noisy, c.noisy)
    d = scenes.make_scene("vacancies_thick", 100, seed=4, size=64)
    assert d.parameters["rotation_deg"] != a.parameters["rotation_deg"]
    assert a.material == scenes.SCENE_MATERIALS["vacancies_thick"][3 % 3]


def test_the_scene_features_are_there():
    steps = scenes.make_scene("thickness_steps", 1000, seed=0, size=128).truth
    ratio = steps.weight[steps.defect] / steps.perfect_weight[steps.defect]
    assert np.isclose(ratio, 1.2).any() and np.isclose(ratio, 0.8).any()
    polar = scenes.make_scene("polar_domains", 1000, seed=1, size=128)
    shift = np.hypot(*polar.truth.displacement[polar.truth.displaced].T) * polar.truth.pixel_size_A
    np.testing.assert_allclose(shift, scenes.POLAR_SHIFT_A, rtol=1e-6)
    rows = scenes.make_scene("row_noise", 1000, seed=0, size=64)
    assert rows.row_noise is not None and rows.row_noise.std() > 0
    plain = scenes.make_scene("vacancies_thick", 1000, seed=0, size=64)
    assert plain.row_noise is None
    with pytest.raises(ValueError, match="unknown scene"):
        scenes.make_scene("nonsense", 1000)
