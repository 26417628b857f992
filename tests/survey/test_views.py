"""The respondent pages and the staff pages, including who may see what."""
from __future__ import annotations

import re

import pytest
from django.urls import reverse

from survey.identity import COOKIE_NAME
from survey.models import Invitation, Respondent, Response
from survey.services.answers import present_image, presented_candidates
from tests.survey.factories import make_respondent
from tests.survey.test_answers import answer

pytestmark = pytest.mark.django_db


def candidate_tokens(html: str) -> list[str]:
    return re.findall(r'data-candidate="([^"]+)"', html)


def test_consent_then_profile_then_questions(client, images):
    page = client.get(reverse("survey:start"))
    assert page.status_code == 200 and b'id="survey-consent-form"' in page.content
    refused = client.post(reverse("survey:start"), {})
    assert refused.status_code == 400 and b"Please tick the box" in refused.content
    assert not Respondent.objects.exists()

    joined = client.post(reverse("survey:start"), {"consent": "on"})
    assert joined.url == reverse("survey:profile") and COOKIE_NAME in joined.cookies
    assert client.get(reverse("survey:next")).url == reverse("survey:profile")
    saved = client.post(reverse("survey:profile"), {"expertise": "non_expert",
                                                     "field": "biology", "years_experience": 1})
    assert saved.url == reverse("survey:next")
    respondent = Respondent.objects.get()
    assert respondent.expertise == "non_expert" and respondent.field == "biology"

    question_url = client.get(reverse("survey:next")).url
    page = client.get(question_url)
    html = page.content.decode()
    tokens = candidate_tokens(html)
    assert len(tokens) == 8
    assert 'id="candidate-1"' in html and 'id="survey-submit"' in html
    assert 'role="progressbar"' in html and "0 of 3 answered" in html

    answered = client.post(question_url, {"candidate": tokens[2], "time_taken_ms": "4200"})
    assert answered.url == reverse("survey:next")
    response = Response.objects.get()
    assert response.time_taken_ms == 4200 and response.respondent == respondent


def test_question_page_does_not_leak_k(respondent_client, images):
    html = respondent_client.get(reverse("survey:question", args=[images[0].id])).content.decode()
    for k in range(1, 9):
        assert f"k={k}" not in html and f"k = {k}" not in html and f'data-k="{k}"' not in html
    for token in candidate_tokens(html):
        assert reverse("survey:candidate-png", args=[token]) in html


def test_candidate_images_are_served_by_the_respondents_own_token(respondent_client,
                                                                   respondent, images):
    shown = presented_candidates(present_image(respondent, images[0]))[1]
    png = respondent_client.get(reverse("survey:candidate-png", args=[shown.token]))
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert b"".join(png.streaming_content).startswith(b"\x89PNG")
    assert respondent_client.get(reverse("survey:candidate-png", args=["nope"])
                                 ).status_code == 404
    # the internal token is no URL for respondents (staff preview only)
    assert respondent_client.get(reverse("survey:candidate-png", args=[
        shown.candidate.token])).status_code == 404
    noisy = respondent_client.get(reverse("survey:noisy-png", args=[images[0].public_token]))
    assert noisy.status_code == 200


def test_double_vote_through_the_page_updates_the_one_answer(respondent_client, images):
    url = reverse("survey:question", args=[images[0].id])
    tokens = candidate_tokens(respondent_client.get(url).content.decode())
    respondent_client.post(url, {"candidate": tokens[0]})
    respondent_client.post(url, {"candidate": tokens[0]})
    respondent_client.post(url, {"candidate": tokens[5]})
    assert Response.objects.count() == 1
    assert Response.objects.get().candidate.shown.get().token == tokens[5]
    page = respondent_client.get(url).content.decode()
    assert 'id="survey-previous-note"' in page
    assert re.search(rf'class="candidate selected"[^>]*data-candidate="{tokens[5]}"', page)


def test_a_bad_answer_keeps_the_question_with_an_error(respondent_client, images):
    url = reverse("survey:question", args=[images[0].id])
    respondent_client.get(url)
    page = respondent_client.post(url, {"candidate": "forged-token"})
    assert page.status_code == 400 and b'id="survey-error"' in page.content
    assert not Response.objects.exists()


def test_thanks_page_counts_answers(respondent_client, images):
    for image in images:
        url = reverse("survey:question", args=[image.id])
        token = candidate_tokens(respondent_client.get(url).content.decode())[0]
        respondent_client.post(url, {"candidate": token})
    assert respondent_client.get(reverse("survey:next")).url == reverse("survey:thanks")
    page = respondent_client.get(reverse("survey:thanks")).content.decode()
    assert 'data-answered="3"' in page and "of 3" in page


def test_returning_respondent_sees_continue(respondent_client, images):
    page = respondent_client.get(reverse("survey:start")).content.decode()
    assert 'id="survey-continue"' in page and "answered 0 of 3" in page


def test_forged_cookie_is_a_stranger(client, images):
    client.cookies[COOKIE_NAME] = "forged:value"
    assert client.get(reverse("survey:next")).url == reverse("survey:start")


def test_invitation_makes_a_verified_expert_once(client, images):
    invitation = Invitation.objects.create(label="Dr. A", max_uses=1)
    page = client.get(reverse("survey:invitation", args=[invitation.token]))
    assert b'id="survey-invited"' in page.content
    client.post(reverse("survey:start"), {"consent": "on", "invitation": invitation.token})
    respondent = Respondent.objects.get()
    assert respondent.is_verified_expert and respondent.expertise == "expert"
    invitation.refresh_from_db()
    assert invitation.use_count == 1 and not invitation.is_usable
    # A verified expert cannot declare themselves a non-expert.
    page = client.post(reverse("survey:profile"), {"expertise": "non_expert"})
    respondent.refresh_from_db()
    assert respondent.expertise == "expert"
    # The used link no longer works for someone else.
    other = client.__class__()
    assert other.get(reverse("survey:invitation", args=[invitation.token])).url == \
        reverse("survey:start")


def test_invitation_opened_by_an_existing_respondent(respondent_client, respondent, images):
    respondent.expertise = "non_expert"
    respondent.save()
    invitation = Invitation.objects.create(label="Dr. B")
    respondent_client.get(reverse("survey:invitation", args=[invitation.token]))
    respondent.refresh_from_db()
    assert respondent.is_verified_expert and respondent.expertise == "expert"


STAFF_URLS = ["survey:staff-overview", "survey:staff-image", "survey:staff-clean-png",
              "survey:staff-export"]


def _staff_url(name, images):
    if name == "survey:staff-export":
        return reverse(name, args=["responses.csv"])
    if name == "survey:staff-overview":
        return reverse(name)
    return reverse(name, args=[images[0].id])


@pytest.mark.parametrize("name", STAFF_URLS)
def test_staff_pages_refuse_anonymous_respondents_and_plain_users(client, plain_user_client,
                                                                  images, name):
    url = _staff_url(name, images)
    plain = plain_user_client.get(url)
    assert plain.status_code == 302 and "/admin/login/" in plain.url
    plain_user_client.logout()
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous.url


def test_staff_overview_and_image_pages(staff_client, images):
    answer(make_respondent("expert"), images[0], 3)
    answer(make_respondent("non_expert"), images[0], 6)
    overview = staff_client.get(reverse("survey:staff-overview")).content.decode()
    assert 'id="staff-images"' in overview and 'data-count="answers">2<' in overview
    assert "<svg" in overview
    detail = staff_client.get(reverse("survey:staff-image", args=[images[0].id]))
    html = detail.content.decode()
    assert detail.status_code == 200 and 'id="staff-violin"' in html and "<svg" in html
    assert 'data-k="8"' in html and "ground truth" in html
    assert re.search(r'data-group="all"><th>All</th><td>2</td><td>4.50</td>', html)
    clean = staff_client.get(reverse("survey:staff-clean-png", args=[images[0].id]))
    assert clean.status_code == 200 and clean.content.startswith(b"\x89PNG")
