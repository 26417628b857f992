"""Presenting candidates, recording answers, assignment, aggregation and labels."""
from __future__ import annotations

import numpy as np
import pytest
from django.db import IntegrityError, transaction

from survey.models import Candidate, Presentation, Response, SurveyImage
from survey.selectors import (
    image_statistics, iter_survey_labels, next_image_for, progress_for, survey_overview)
from survey.services.answers import AnswerError, present_image, presented_candidates, submit_answer
from survey.services.respondents import update_profile
from tests.survey.factories import make_respondent

pytestmark = pytest.mark.django_db


def fresh(images):
    """The images re-read, so they see survey settings changed in the test."""
    return [SurveyImage.objects.select_related("survey").get(pk=image.pk) for image in images]


def answer(respondent, image, k):
    """Show the image to the respondent and choose the candidate with this k."""
    presentation = present_image(respondent, image)
    shown = {c.k: c for c in presented_candidates(presentation)}
    return submit_answer(respondent, image, candidate_token=shown[k].token, time_taken_ms=900)


def test_presentation_is_a_random_order_per_respondent_and_stable(images):
    image = images[0]
    orders = []
    for _ in range(6):
        respondent = make_respondent()
        first = present_image(respondent, image)
        assert present_image(respondent, image).candidate_ids == first.candidate_ids
        ks = [c.k for c in presented_candidates(first)]
        assert sorted(ks) == list(range(1, 9))
        orders.append(tuple(ks))
    assert len(set(orders)) > 1


def test_one_answer_per_respondent_and_image_changing_mind_updates(images, respondent):
    image = images[0]
    response, created = answer(respondent, image, 3)
    assert created and response.chosen_k == 3 and response.revisions == 0
    response, created = answer(respondent, image, 6)
    assert not created and response.chosen_k == 6 and response.revisions == 1
    assert Response.objects.filter(respondent=respondent, image=image).count() == 1
    assert image_statistics(image).summaries["all"].count == 1


def test_the_database_refuses_a_second_row(images, respondent):
    image = images[0]
    first, _ = answer(respondent, image, 3)
    with pytest.raises(IntegrityError), transaction.atomic():
        Response.objects.create(respondent=respondent, image=image, candidate=first.candidate,
                                chosen_k=3, shown_ks=[3])


def test_answer_records_order_shown_and_time(images, respondent):
    image = images[0]
    response, _ = answer(respondent, image, 5)
    presentation = Presentation.objects.get(respondent=respondent, image=image)
    shown = [Candidate.objects.get(id=i).k for i in presentation.candidate_ids]
    assert response.shown_ks == shown and response.time_taken_ms == 900
    assert response.expertise_at_answer == "expert"


def test_answers_must_be_among_the_candidates_shown(survey, images, respondent):
    survey.candidate_strategy = "spread"
    survey.candidates_per_question = 3
    survey.save()
    images = fresh(images)
    image = images[0]
    presentation = present_image(respondent, image)
    assert len(presentation.candidate_ids) == 3
    hidden = image.candidates.exclude(id__in=presentation.candidate_ids).filter(
        kind="reconstruction").first()
    with pytest.raises(AnswerError, match="not among"):
        submit_answer(respondent, image, candidate_token=hidden.token)
    other_image_candidate = images[1].candidates.first()
    with pytest.raises(AnswerError, match="not among"):
        submit_answer(respondent, image, candidate_token=other_image_candidate.token)
    assert not Response.objects.exists()


def test_answer_needs_a_profile_and_a_shown_image(images):
    nobody = make_respondent(expertise="")
    with pytest.raises(AnswerError, match="profile"):
        submit_answer(nobody, images[0], candidate_token="x")
    someone = make_respondent()
    with pytest.raises(AnswerError, match="not been shown"):
        submit_answer(someone, images[0], candidate_token=images[0].candidates.first().token)


def test_time_taken_is_clamped(images, respondent):
    image = images[0]
    token = presented_candidates(present_image(respondent, image))[0].token
    response, _ = submit_answer(respondent, image, candidate_token=token,
                                time_taken_ms=10**12)
    assert response.time_taken_ms == 24 * 3600 * 1000


def test_next_image_is_the_least_answered_not_yet_done(images):
    busy = images[0]
    for _ in range(2):
        answer(make_respondent(), busy, 4)
    answer(make_respondent(), images[1], 4)
    newcomer = make_respondent()
    assert next_image_for(newcomer, images[0].survey) == images[2]
    answer(newcomer, images[2], 2)
    assert next_image_for(newcomer, images[0].survey) == images[1]
    answer(newcomer, images[1], 2)
    answer(newcomer, images[0], 2)
    assert next_image_for(newcomer, images[0].survey) is None
    assert progress_for(newcomer, images[0].survey).answered == 3


def test_returning_respondent_continues_with_the_open_question(images):
    respondent = make_respondent()
    for _ in range(3):
        answer(make_respondent(), images[0], 1)
    present_image(respondent, images[0])  # shown, not answered, then they left
    assert next_image_for(respondent, images[0].survey) == images[0]


def test_hidden_or_unready_images_are_not_assigned(images, respondent):
    for image in images[1:]:
        image.is_active = False
        image.save()
    assert next_image_for(respondent, images[0].survey) == images[0]
    with pytest.raises(AnswerError, match="not open"):
        present_image(respondent, images[1])


def test_statistics_per_group(images):
    image = images[0]
    for k in (4, 6):
        answer(make_respondent("expert"), image, k)
    for k in (7, 8, 8):
        answer(make_respondent("non_expert"), image, k)
    stats = image_statistics(image)
    assert stats.summaries["expert"].mean == 5
    assert stats.summaries["non_expert"].median == 8
    assert stats.summaries["all"].mean == pytest.approx(6.6)
    assert stats.label_k == 7
    assert stats.agreement["mean_difference"] == pytest.approx(5 - 23 / 3)


def test_switching_expertise_moves_all_answers_without_doubling(images):
    respondent = make_respondent("non_expert")
    answer(respondent, images[0], 3)
    answer(respondent, images[1], 5)
    update_profile(respondent, expertise="expert", field="physics", years_experience=2)
    answer(respondent, images[2], 7)
    for image in images:
        stats = image_statistics(image)
        assert stats.summaries["expert"].count == 1
        assert stats.summaries["non_expert"].count == 0
        assert stats.summaries["all"].count == 1
    # What they declared when they answered stays on record.
    assert list(Response.objects.order_by("id").values_list("expertise_at_answer", flat=True)) \
        == ["non_expert", "non_expert", "expert"]
    assert progress_for(respondent, images[0].survey).answered == 3


def test_attention_check_shows_the_raw_image_and_failing_it_excludes(survey, images):
    survey.attention_check_every = 1
    survey.save()
    images = fresh(images)
    careless, careful = make_respondent(), make_respondent()
    presentation = present_image(careless, images[0])
    assert presentation.includes_attention_check
    noisy = next(c for c in presented_candidates(presentation) if c.kind == "noisy")
    response, _ = submit_answer(careless, images[0], candidate_token=noisy.token)
    assert response.failed_attention_check and response.chosen_k is None
    answer(careless, images[1], 8)
    answer(careful, images[1], 2)
    assert image_statistics(images[1]).summaries["all"].count == 1
    survey.exclude_failed_attention = False
    survey.save()
    assert image_statistics(fresh(images)[1]).summaries["all"].count == 2


def test_attention_checks_off_by_default(images, respondent):
    assert not present_image(respondent, images[0]).includes_attention_check


def test_adaptive_strategy_refines_around_the_consensus(survey, images):
    survey.candidate_strategy = "adaptive"
    survey.candidates_per_question = 3
    survey.adaptive_after = 3
    survey.save()
    image = fresh(images)[0]
    for _ in range(3):
        respondent = make_respondent()
        presentation = present_image(respondent, image)
        ks = sorted(c.k for c in presented_candidates(presentation))
        assert ks[0] <= 3 and ks[-1] >= 6  # spread over 1..8 before enough answers
        submit_answer(respondent, image, candidate_token=presented_candidates(
            presentation)[0].token)
    chosen = [r.chosen_k for r in image.responses.all()]
    late = presented_candidates(present_image(make_respondent(), image))
    mean = np.mean(chosen)
    assert all(abs(c.k - mean) <= max(2, 2 * np.std(chosen)) + 2 for c in late)


def test_survey_labels_follow_the_mean_over_all_respondents(images):
    for k in (2, 3, 3):
        answer(make_respondent("expert"), images[0], k)
    answer(make_respondent("non_expert"), images[1], 6)
    labels = list(iter_survey_labels())
    assert [label.image_id for label in labels] == [images[0].id, images[1].id]
    first = labels[0]
    assert first.mean_k == pytest.approx(8 / 3) and first.n_responses == 3
    assert first.useful.tolist() == [True] * 3 + [False] * 5
    assert first.eigenpatches.shape == (8, 5, 5) and first.eigenvalues.shape == (8,)
    assert first.noisy.shape == (40, 40) and first.clean.shape == (40, 40)
    assert first.provenance["survey"] == "test" and first.provenance["n_expert"] == 3
    assert "exported_at" in first.provenance
    assert [label.image_id for label in iter_survey_labels(min_responses=2)] == [images[0].id]


def test_overview_lists_every_image(images):
    answer(make_respondent(), images[0], 4)
    rows = survey_overview(images[0].survey)
    assert [row.image.id for row in rows] == [image.id for image in images]
    assert rows[0].n_answers == 1 and rows[0].summaries["all"].mean == 4
    assert rows[1].summaries["all"].count == 0


def test_labels_feed_the_training_apps_dataset_builder(images):
    examples = pytest.importorskip("training.examples")
    for k in (3, 4):
        answer(make_respondent(), images[0], k)
    (label,) = list(iter_survey_labels())
    stack = examples.survey_stack(label)
    assert stack.labels.tolist() == label.useful.tolist()
    assert stack.k_star == 4  # mean 3.5 rounds half up
    assert stack.provenance["survey"] == "test" and stack.provenance["n_responses"] == 2
