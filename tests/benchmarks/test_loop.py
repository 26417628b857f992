"""The loop benchmark's pure parts: adversary counts, label shifts, label errors, verdicts."""
from __future__ import annotations

import doctest

import pytest

from benchmarks import loop


def test_docstring_examples():
    result = doctest.testmod(loop, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_adversary_counts_make_the_asked_share_of_the_crowd():
    for n, fraction in zip(loop.adversary_counts(30, loop.ADVERSARY_FRACTIONS),
                           loop.ADVERSARY_FRACTIONS):
        assert abs(n / (30 + n) - fraction) < 0.02
    with pytest.raises(ValueError):
        loop.adversary_counts(30, [1.0])


def honest_and_stuffed(n_honest: int, n_stuffed: int, images=(1, 2, 3)):
    answers = [(f"h{i}", image, 4 + (i + image) % 3) for i in range(n_honest)
               for image in images]
    answers += [(f"a{i}", image, 12) for i in range(n_stuffed) for image in images]
    return answers, [f"h{i}" for i in range(n_honest)], [f"a{i}" for i in range(n_stuffed)]


def test_robust_aggregation_holds_against_a_minority_the_plain_mean_does_not():
    answers, honest, adversaries = honest_and_stuffed(30, 8)
    plain = loop.label_shifts(answers, honest, adversaries, 8, robust=False)
    robust = loop.label_shifts(answers, honest, adversaries, 8, robust=True)
    assert set(plain) == set(robust) == {1, 2, 3}
    # the plain mean moves by 8 * (12 - 5) / 38 ≈ 1.5; the robust one by less than half
    # that (the stuffed answers sit ~5 spreads out, always on one side)
    assert min(plain.values()) > 1.2
    assert max(robust.values()) < 0.5 * min(plain.values())
    # the site's robust weights cut the stuffed answers' weight
    assert 0.05 <= loop.adversary_weight(answers, honest, adversaries, 8) < 0.5
    assert loop.adversary_weight(answers, honest, adversaries, 0) is None
    # no adversary: nothing moves
    assert max(loop.label_shifts(answers, honest, adversaries, 0, robust=True).values()) == 0


def test_a_majority_of_stuffed_votes_is_the_consensus_even_robustly():
    answers, honest, adversaries = honest_and_stuffed(5, 8)
    robust = loop.label_shifts(answers, honest, adversaries, 8, robust=True)
    assert min(robust.values()) > 3
    assert loop.adversary_weight(answers, honest, adversaries, 8) == 1.0


def test_label_errors_per_group():
    answers = [("e1", 1, 4), ("e2", 1, 6), ("n1", 1, 2), ("a1", 1, 12),
               ("e1", 2, 5), ("e2", 2, 5), ("n1", 2, 3), ("a1", 2, 12)]
    roles = {"e1": "expert", "e2": "expert", "n1": "non-expert", "a1": "adversarial"}
    errors = loop.label_errors(answers, roles, {1: 5, 2: 5})
    assert errors["expert"] == {"vote": 0.5, "label": 0.0, "votes": 4}
    assert errors["non-expert"]["label"] == 2.5
    assert errors["adversarial"]["vote"] == 7.0


def rows(psnr_au: float, psnr_gaas: float, contrast: float = 0.9) -> list[dict]:
    return [{"kind": "scene:x", "material": "Au_110", "dose": 100.0, "psnr": psnr_au,
             "defect_contrast": contrast, "n_kept": 3.0},
            {"kind": "crystal", "material": "Au_110", "dose": 100.0, "psnr": 25.0,
             "n_kept": 3.0},
            {"kind": "scene:y", "material": "GaAs_110", "dose": 100.0, "psnr": psnr_gaas,
             "defect_contrast": 0.9, "n_kept": 3.0}]


def test_verdicts_read_the_targets_from_held_out_rows():
    better = loop.verdicts(rows(30.0, 31.0), rows(30.5, 31.0), material="Au_110")
    assert better["at_least_as_good"] and better["better_on_family"]
    assert better["family_psnr_gain_db"] == pytest.approx(0.5)
    # a gain in PSNR bought with the defects is not better
    worse = loop.verdicts(rows(30.0, 31.0), rows(30.5, 31.0, contrast=0.5), material="Au_110")
    assert not worse["at_least_as_good"] and not worse["better_on_family"]
    same = loop.verdicts(rows(30.0, 31.0), rows(30.0, 31.0), material="Au_110")
    assert same["at_least_as_good"] and not same["better_on_family"]


@pytest.mark.django_db
def test_label_headroom_sees_room_when_the_model_keeps_too_little():
    """A model that keeps one eigenpatch per group leaves room a perfect crowd's label
    shows; the table reports it."""
    from denoiser.reucid.simulation.scenes import make_scene
    from survey.services.crowd import image_truth, scene_detail
    from survey.services.images import add_survey_image, generate_candidates
    from tests.survey.factories import make_survey

    survey = make_survey(k_max=6)
    scene = make_scene("vacancies_thick", 1000.0, seed=3, size=64, material="Au_110")
    image = generate_candidates(add_survey_image(
        survey=survey, noisy=scene.noisy, clean=scene.clean, title="scene", source="simulated",
        source_detail=scene_detail("vacancies_thick", "Au_110", 3, 1000.0, 64),
        material="Au_110", dose=1000.0, candidate_method="best", make_candidates=False).id)
    truth = image_truth(image)
    rows = loop.label_headroom(survey, "k=1", {image.pk: truth})
    assert len(rows) == 1
    row = rows[0]
    assert row["candidate_score"] == pytest.approx(max(truth.scores.values()))
    assert row["best_k"] == truth.best_k > 1
    assert row["candidate_score"] > row["model_score"]
    assert row["candidate_psnr"] > row["model_psnr"]
    line = [text for text in loop.tables({**minimal_result(), "headroom": rows}).splitlines()
            if text.startswith("- what votes can teach")]
    assert line and "better on 1 of 1 images" in line[0]


def minimal_result() -> dict:
    held_out = rows(30.0, 31.0)
    return {"material": "Au_110", "before": held_out, "after": held_out,
            "verdicts": loop.verdicts(held_out, held_out, material="Au_110"),
            "retrain": {"activated": False}, "honest_labels": {1: 5.0}, "n_survey_images": 1,
            "best_k": {1: 5}, "label_errors": {}, "robustness": []}


def test_the_survey_may_show_only_families_with_held_out_scenes():
    from training.group_examples import HELD_OUT_SCENES

    assert set(loop.HELD_OUT_FAMILIES) == {material for _, material in HELD_OUT_SCENES}
    assert loop.SURVEY_MATERIAL in loop.HELD_OUT_FAMILIES
    with pytest.raises(SystemExit):
        loop.main(["--material", "SrTiO3_001"])


def test_the_report_judges_a_model_without_votes_by_the_same_verdicts():
    """The control (the starting recipe at the next seed, no votes) gets the retrained
    model's verdicts, so a reader sees how much the retraining moves by itself."""
    held_out = rows(30.0, 31.0)
    control_rows = rows(30.0, 31.3)
    control_rows[1] = {**control_rows[1], "psnr": 24.6}  # the crystal got worse
    result = {**minimal_result(), "control": {
        "rows": control_rows, "verdicts": loop.verdicts(held_out, control_rows,
                                                        material="Au_110"),
        "largest_cell_change_db": loop.largest_cell_change(
            [{"set": "crystals", "dose": 100.0, "psnr": 25.0}],
            [{"set": "crystals", "dose": 100.0, "psnr": 24.6}])}}
    text = loop.tables(result)
    assert any(line.startswith("| all (3) | control |") for line in text.splitlines())
    line = [t for t in text.splitlines() if t.startswith("- the retraining's own noise")][0]
    assert "largest change of one set and dose -0.400 dB" in line
    assert "at least as good everywhere: **False**" in line
    assert "control" not in loop.tables(minimal_result())
