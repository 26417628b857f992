"""After answering, a respondent sees their choices against the consensus (never a k)."""
from __future__ import annotations

import pytest
from django.utils import timezone

from survey.consensus import consensus_rows
from survey.services.answers import present_image, presented_candidates, submit_answer
from tests.survey.factories import make_respondent

pytestmark = pytest.mark.django_db


def answer(respondent, image, k):
    shown = {c.k: c for c in presented_candidates(present_image(respondent, image))}
    return submit_answer(respondent, image, candidate_token=shown[k].token, time_taken_ms=900)


def test_rows_compare_with_the_others_median(survey, images, respondent):
    others = [make_respondent("expert") for _ in range(3)]
    for other, k in zip(others, (3, 4, 8)):
        answer(other, images[0], k)
    excluded = make_respondent("expert", excluded_at=timezone.now())
    answer(excluded, images[0], 1)  # excluded by staff: does not count
    answer(others[0], images[1], 5)
    answer(respondent, images[0], 2)
    answer(respondent, images[1], 5)
    answer(respondent, images[2], 6)
    rows = {row.image.pk: row for row in consensus_rows(respondent, survey)}
    assert rows[images[0].pk].relation == "fewer" and rows[images[0].pk].difference == -2
    assert rows[images[0].pk].n_others == 3
    assert "2 eigenpatches fewer than the others' median (3 respondents)" in rows[images[0].pk].text
    assert rows[images[1].pk].relation == "same"
    assert rows[images[2].pk].relation == "alone"


def test_thanks_page_shows_the_comparison_without_any_k(respondent_client, survey, images,
                                                        respondent):
    other = make_respondent("non_expert")
    answer(other, images[0], 7)
    answer(respondent, images[0], 3)
    html = respondent_client.get("/survey/thanks/").content.decode()
    assert 'data-test="survey-consensus"' in html and 'data-relation="fewer"' in html
    assert "4 eigenpatches fewer" in html
    assert "k = " not in html and "k=" not in html
