"""Training scenes beyond the paper's doses: doses per pixel and aligned perfect crystals."""
from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from training.examples import PAPER_DOSES, simulated_cases


def _cases(**options):
    return list(simulated_cases(materials=["SrTiO3_001", "Si_110"], n_scenes=4,
                                shape=(48, 48), seed=5, **options))


def test_pixel_doses_add_one_image_per_scene_at_that_many_electrons_per_pixel():
    plain = _cases()
    extended = _cases(pixel_doses=[1000, 10000])
    assert len(extended) == len(plain) // len(PAPER_DOSES) * (len(PAPER_DOSES) + 2)
    per_pixel = [c for c in extended if "dose_e_per_px" in c.parameters]
    assert [c.parameters["dose_e_per_px"] for c in per_pixel] == [1000.0, 10000.0] * 4
    for case in per_pixel:
        area = case.pixel_size_A ** 2
        assert case.dose * area == pytest.approx(case.parameters["dose_e_per_px"])
        # the expected counts are the fraction on the detector times the dose per pixel
        fraction = case.clean / case.parameters["dose_e_per_px"]
        assert 0 < float(fraction.max()) < 1
    # the per-Å² images of every scene come first and are those drawn without the option
    same = [c for c in extended if "dose_e_per_px" not in c.parameters]
    for a, b in zip(plain, same, strict=True):
        assert a.key == b.key and a.dose == b.dose
        np.testing.assert_array_equal(a.clean, b.clean)
        np.testing.assert_array_equal(a.noisy, b.noisy)


def test_aligned_scenes_are_perfect_bulk_crystals_along_the_scan_axes_and_others_unchanged():
    plain = {(c.key, c.dose): c for c in _cases()}
    mixed = list(simulated_cases(materials=["SrTiO3_001", "Si_110"], n_scenes=12,
                                 shape=(48, 48), seed=5, aligned_share=0.5))
    aligned = [c for c in mixed if c.parameters["aligned"]]
    assert 0 < len(aligned) < len(mixed)  # a share, not all or nothing
    for case in aligned:
        p = case.parameters
        assert p["rotation_deg"] in (0.0, 90.0) and p["environment"] == "bulk"
        assert p["vacancy_fraction"] == p["substitution_fraction"] == p["background"] == 0.0
    for case in mixed:
        if not case.parameters["aligned"] and (case.key, case.dose) in plain:
            np.testing.assert_array_equal(case.noisy, plain[(case.key, case.dose)].noisy)
    again = list(simulated_cases(materials=["SrTiO3_001", "Si_110"], n_scenes=12,
                                 shape=(48, 48), seed=5, aligned_share=0.5))
    assert [c.parameters["aligned"] for c in again] == [c.parameters["aligned"] for c in mixed]


@pytest.mark.parametrize("options", [{"pixel_doses": [0]}, {"aligned_share": 1.5},
                                     {"doses": [], "pixel_doses": []}])
def test_bad_scene_options_are_refused(options):
    with pytest.raises(ValueError):
        _cases(**options)


@pytest.mark.parametrize("argument", [["--pixel-doses", "1000,x"], ["--pixel-doses", "-5"],
                                      ["--aligned-share", "2"]])
def test_the_ship_command_refuses_bad_scene_options_before_simulating(argument, tmp_path):
    output = tmp_path / "model"  # tmp_path itself also holds the test's media root
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("train_classifier", "--from", "auto", "--ship", "--output-dir",
                     str(output), *argument, stdout=out)
    assert "simulating" not in out.getvalue() and not output.exists()


@pytest.mark.django_db
def test_runs_from_the_site_train_on_the_shipped_models_recipe():
    # a retrain started from the page must see the same kinds of images as the shipped
    # model, or auto-activation would compare it on a regime it never learnt
    from training.services import DEFAULT_RUN_OPTIONS, create_auto_dataset

    assert DEFAULT_RUN_OPTIONS["pixel_doses"] and DEFAULT_RUN_OPTIONS["aligned_share"] > 0
    plain = create_auto_dataset(n_scenes=2, shape=(48, 48), n_components=8, seed=3,
                                materials=["SrTiO3_001"])
    extended = create_auto_dataset(n_scenes=2, shape=(48, 48), n_components=8, seed=3,
                                   materials=["SrTiO3_001"], pixel_doses=[1000.0],
                                   aligned_share=0.5)
    assert extended.rule_parameters["pixel_doses"] == [1000.0]
    assert extended.rule_parameters["aligned_share"] == 0.5
    assert extended.n_images > plain.n_images
