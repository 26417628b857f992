"""The simulated crowd (issue 19): it votes through the public API like a browser does."""
from __future__ import annotations

import doctest
import io

import numpy as np
import pytest
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from PIL import Image

from denoiser.reucid.simulation.scenes import make_scene
from survey.models import Candidate, Respondent, Response, SurveyImage
from survey.selectors import counted_responses
from survey.services import crowd
from survey.services.crowd import (
    ImageTruth, PlannedRespondent, choose_candidate, image_truth, plan_crowd, run_crowd,
    scene_detail)
from survey.services.images import add_survey_image, generate_candidates

from .factories import make_ready_image, make_survey

pytestmark = pytest.mark.django_db

SIZE = 64
K_MAX = 8


def scene_image(survey, *, seed: int, dose: float = 100.0,
                name: str = "vacancies_thick") -> SurveyImage:
    """A default-method survey image of a fidelity scene, with its recipe for the oracle."""
    scene = make_scene(name, dose, seed=seed, size=SIZE, material="Au_110")
    image = add_survey_image(
        survey=survey, noisy=scene.noisy, clean=scene.clean, title=f"{name} {seed}",
        source="simulated", source_detail=scene_detail(name, "Au_110", seed, dose, SIZE),
        material="Au_110", dose=dose, candidate_method="best", make_candidates=False)
    return generate_candidates(image.id)


@pytest.fixture
def survey():
    return make_survey(k_max=K_MAX)


@pytest.fixture
def images(survey):
    return [scene_image(survey, seed=seed) for seed in (1, 2)]


def test_the_crowd_votes_through_the_api_and_every_vote_is_stored(images):
    report = run_crowd(plan_crowd(4, experts=0.5, seed=1), seed=1)
    assert report.joined == 4 and report.throttled == 0
    assert report.accepted == 4 * len(images) == Response.objects.count()
    assert report.refused == 0 and report.repeated == 0
    # each respondent was made by the API (consent + profile) and answered every image once
    respondents = Respondent.objects.filter(id__in=report.respondent_ids.values())
    assert respondents.count() == 4
    assert all(r.consented_at is not None and r.has_profile for r in respondents)
    for respondent in respondents:
        assert sorted(respondent.responses.values_list("image_id", flat=True)) == \
            sorted(i.pk for i in images)
    # what the report says each vote chose is what the database holds
    stored = {(r.respondent_id, r.image_id): r.chosen_k for r in Response.objects.all()}
    for vote in report.votes:
        assert stored[(report.respondent_ids[vote.respondent], vote.image_id)] == vote.k
    assert report.counted == Response.objects.count()


def test_the_oracle_sees_the_candidates_the_site_made(images):
    image = images[0]
    truth = image_truth(image)
    assert truth.uses_column_truth
    assert sorted(truth.scores) == list(range(1, K_MAX + 1))
    assert {"psnr", "defect_contrast", "position_error_pm"} <= set(truth.measures[1])
    remade = crowd._candidate_images(image, np.load(default_storage.path(image.noisy_file.name)))
    for candidate in image.candidates.filter(kind=Candidate.Kind.RECONSTRUCTION):
        with default_storage.open(candidate.png.name, "rb") as handle:
            shown = np.asarray(Image.open(io.BytesIO(handle.read())).convert("L"), float)
        expected = np.clip((remade[candidate.k] - image.display_low)
                           / (image.display_high - image.display_low) * 255, 0, 255)
        # the stored PNG is the oracle's candidate up to the 8-bit dithering
        assert np.mean(np.abs(shown - expected)) < 1.0, candidate.k


def test_experts_land_nearer_the_best_k_than_adversaries_who_pick_the_largest(images):
    report = run_crowd(plan_crowd(6, experts=0.5, adversarial=0.5, seed=2), seed=2)
    largest = K_MAX
    adversarial = [v for v in report.votes if v.role == "adversarial"]
    assert len(adversarial) == 3 * len(images)
    assert all(v.k == largest for v in adversarial)
    stored = Response.objects.filter(
        respondent_id__in=[report.respondent_ids[v.respondent] for v in adversarial])
    assert set(stored.values_list("chosen_k", flat=True)) == {largest}
    rows = report.by_role()
    # on these scenes the best candidate keeps fewer than the most eigenpatches
    assert all(truth.best_k < largest for truth in report.truths.values())
    assert rows["adversarial"]["mean_abs_error"] == np.mean(
        [largest - truth.best_k for truth in report.truths.values()])
    assert rows["expert"]["mean_abs_error"] < rows["adversarial"]["mean_abs_error"]


def test_inattentive_respondents_fail_the_attention_check_and_stop_counting(survey, images):
    survey.attention_check_every = 1  # every question shows the raw noisy image too
    survey.save()
    report = run_crowd(plan_crowd(4, experts=1.0, attention_failures=0.5, seed=3), seed=3)
    assert report.attention_failures == 2 * len(images)
    failed = Response.objects.filter(failed_attention_check=True)
    assert failed.count() == 2 * len(images)
    assert set(failed.values_list("chosen_k", flat=True)) == {None}
    # the site leaves out every answer of those respondents, as for any respondent
    assert report.counted == counted_responses(survey).count() == 2 * len(images)


def test_a_double_click_updates_the_answer_and_never_adds_one(images):
    report = run_crowd(plan_crowd(3, seed=4), seed=4, repeat_fraction=1.0)
    assert report.accepted == report.repeated == 3 * len(images)
    assert Response.objects.count() == 3 * len(images)
    assert set(Response.objects.values_list("revisions", flat=True)) == {1}


def test_the_same_seed_gives_the_same_choices(images):
    def choices(seed: int) -> dict:
        report = run_crowd(plan_crowd(5, experts=0.2, seed=seed), seed=seed)
        Respondent.objects.all().delete()
        return {(v.respondent, v.image_id): v.k for v in report.votes}

    first, again = choices(7), choices(7)
    assert first == again and len(first) == 5 * len(images)


def test_the_join_throttle_holds_a_crowd_behind_one_address(images, settings):
    settings.REUCID_RESPONDENT_BURST_RATE = "2/min"
    report = run_crowd(plan_crowd(4, seed=5), seed=5, shared_address=True, max_wait_s=0)
    assert (report.joined, report.throttled) == (2, 2)
    assert Respondent.objects.count() == 2
    assert Response.objects.count() == report.accepted == 2 * len(images)
    # a respondent that may wait honours Retry-After and joins when the window has passed
    cache.clear()
    waits = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        cache.clear()  # the minute has passed

    report = run_crowd(plan_crowd(3, seed=6, first_index=10), seed=6, shared_address=True,
                       max_wait_s=120, sleep=sleep)
    assert report.joined == 3 and report.throttled == 0
    assert len(waits) == 1 and 0 < waits[0] <= 60
    # one address per respondent (the default): nobody is held back
    cache.clear()
    report = run_crowd(plan_crowd(4, seed=7, first_index=20), seed=7)
    assert report.joined == 4


def test_chosen_images_only(images):
    report = run_crowd(plan_crowd(2, seed=8), seed=8, image_ids=[images[1].pk])
    assert {v.image_id for v in report.votes} == {images[1].pk}
    assert Response.objects.filter(image=images[0]).count() == 0


def test_the_command_prints_the_summary(images):
    out = io.StringIO()
    call_command("simulate_crowd", "--respondents", "3", "--adversarial", "0.34",
                 "--seed", "9", stdout=out)
    text = out.getvalue()
    assert "votes accepted 6" in text and "adversarial" in text
    assert f"image {images[0].pk}: ground-truth best k" in text
    with pytest.raises(CommandError):
        call_command("simulate_crowd", "--respondents", "0")


def test_the_command_needs_images_with_a_ground_truth(survey):
    make_ready_image(survey, with_clean=False, candidate_method="best", size=48)
    with pytest.raises(CommandError, match="no ground truth"):
        call_command("simulate_crowd", "--respondents", "1", stdout=io.StringIO())


def test_choices_follow_the_behaviours():
    truth = ImageTruth(1, {1: 30.0, 2: 33.0, 3: 32.9, 4: 32.8, 5: 32.7})
    experts = [choose_candidate([1, 2, 3, 4, 5], truth, PlannedRespondent(i, "expert"), seed=0)
               for i in range(200)]
    others = [choose_candidate([1, 2, 3, 4, 5], truth, PlannedRespondent(i, "non-expert"),
                               seed=0) for i in range(200)]
    ks = np.array([1, 2, 3, 4, 5])
    # experts mostly pick the best; non-experts spread more, and lean toward fewer k
    assert np.mean(ks[experts] == 2) > 0.5
    assert np.std(ks[others]) > np.std(ks[experts])
    assert np.mean(ks[others]) < 3.5
    random = {choose_candidate([1, 2, None, 4], truth, PlannedRespondent(
        i, "adversarial", adversary="random"), seed=0) for i in range(60)}
    assert random == {0, 1, 2, 3}
    # the choice does not depend on the order shown
    respondent = PlannedRespondent(3, "non-expert")
    a = choose_candidate([5, 4, 3, 2, 1], truth, respondent, seed=11)
    b = choose_candidate([1, 2, 3, 4, 5], truth, respondent, seed=11)
    assert [5, 4, 3, 2, 1][a] == [1, 2, 3, 4, 5][b]


def test_docstring_examples():
    result = doctest.testmod(crowd, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.django_db(transaction=True)
def test_over_real_http_against_a_live_server(live_server, settings):
    settings.REUCID_RESPONDENT_BURST_RATE = "off"  # every respondent comes from 127.0.0.1
    survey = make_survey(k_max=K_MAX)
    image = scene_image(survey, seed=1)
    report = run_crowd(plan_crowd(3, experts=0.5, adversarial=0.34, seed=10), seed=10,
                       base_url=live_server.url, repeat_fraction=1.0)
    assert report.joined == 3 and report.refused == 0
    assert report.accepted == report.repeated == 3 == Response.objects.count()
    assert {v.image_id for v in report.votes} == {image.pk}
    adversary = next(v for v in report.votes if v.role == "adversarial")
    assert Response.objects.get(respondent_id=report.respondent_ids[adversary.respondent]
                                ).chosen_k == K_MAX


def test_an_estimate_is_scored_as_the_oracle_scores_the_candidates(images):
    """What the loop compares a model's output with: the same score as a candidate's."""
    image = images[0]
    truth = image_truth(image)
    noisy = np.load(default_storage.path(image.noisy_file.name))
    remade = crowd._candidate_images(image, noisy)
    for k in (1, K_MAX):
        score, measures = crowd.estimate_score(image, remade[k])
        assert score == pytest.approx(truth.scores[k])
        assert measures == pytest.approx(truth.measures[k])
    # the raw input scores far below the best candidate
    assert crowd.estimate_score(image, noisy)[0] < truth.scores[truth.best_k] - 3.0


def test_an_image_without_ground_truth_cannot_be_scored(survey):
    image = make_ready_image(survey, with_clean=False)
    with pytest.raises(crowd.CrowdError, match="no ground truth"):
        crowd.estimate_score(image, np.zeros((8, 8)))
