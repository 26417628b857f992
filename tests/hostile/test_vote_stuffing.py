"""Votes a script cannot stuff: joining is throttled, expertise is verified by invitation,
far-from-consensus answers count less, staff can exclude a respondent and see the effect.

Before issue 16: 30 respondents in 3.5 s, 20 self-declared "experts" moved an image's mean k
to 25, and an API client following the docs got 403 (CSRF) on POST respondents/.
"""
from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from survey.identity import COOKIE_NAME
from survey.models import Invitation, Respondent
from survey.selectors import image_statistics
from tests.survey.factories import make_ready_image, make_respondent, make_survey
from tests.survey.test_answers import answer

pytestmark = pytest.mark.django_db
JOIN = "/survey/api/respondents/"


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()
    yield
    cache.clear()


def api_client(address: str = "198.51.100.1") -> Client:
    # enforce_csrf_checks: the test client would otherwise skip CSRF for everyone
    return Client(enforce_csrf_checks=True, REMOTE_ADDR=address, raise_request_exception=False)


def join(client: Client, **payload):
    return client.post(JOIN, {"consent": True, **payload}, content_type="application/json")


def test_an_api_client_joins_as_documented_without_csrf_or_cookie():
    created = join(api_client(), expertise="non_expert")

    assert created.status_code == 201, created.content
    token = created.json()["token"]
    assert COOKIE_NAME not in created.cookies, "API clients get the token, not a cookie"
    me = api_client().get(f"{JOIN}me/", HTTP_X_SURVEY_RESPONDENT=token)
    assert me.status_code == 200 and me.json()["expertise"] == "non_expert"


def test_a_browser_session_still_needs_the_csrf_token(db):
    make_ready_image(make_survey(k_max=8))
    browser = api_client()
    page = browser.get(reverse("survey:start"))
    assert page.status_code == 200 and "csrftoken" in browser.cookies

    forged = join(browser)
    assert forged.status_code == 403
    assert forged["Content-Type"].startswith("application/json")
    assert "CSRF" in forged.json()["detail"]

    genuine = browser.post(JOIN, {"consent": True}, content_type="application/json",
                           HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value)
    assert genuine.status_code == 201 and COOKIE_NAME in genuine.cookies


@pytest.mark.parametrize("limit", ["REUCID_RESPONDENT_BURST_RATE", "REUCID_RESPONDENT_RATE"])
def test_joining_is_throttled_per_client_on_the_api_and_the_page(settings, limit):
    settings.REUCID_RESPONDENT_BURST_RATE = settings.REUCID_RESPONDENT_RATE = "off"
    setattr(settings, limit, "5/min" if "BURST" in limit else "5/hour")
    script = api_client("198.51.100.66")
    answers = [join(script).status_code for _ in range(8)]

    assert answers[:5] == [201] * 5 and answers[5:] == [429] * 3
    refused = join(script)
    assert refused["Content-Type"].startswith("application/json")
    assert int(refused["Retry-After"]) > 0
    assert Respondent.objects.count() == 5
    # the consent page counts on the same limit
    page = Client(REMOTE_ADDR="198.51.100.66").post(reverse("survey:start"), {"consent": "on"})
    assert page.status_code == 429 and Respondent.objects.count() == 5
    # another client is not held up by the script
    assert join(api_client("198.51.100.67")).status_code == 201


def test_the_default_limits_stop_the_issue_16_probe(settings):
    """30 joins in a row from one address (the probe made them all in 3.5 s)."""
    answers = [join(api_client("198.51.100.70")).status_code for _ in range(30)]

    assert answers.count(201) == 10 and answers.count(429) == 20


def test_an_invited_expert_joins_even_when_the_address_is_throttled(settings):
    settings.REUCID_RESPONDENT_BURST_RATE = "1/min"
    invitation = Invitation.objects.create(label="workshop", max_uses=3)
    crowded = api_client("198.51.100.80")
    assert join(crowded).status_code == 201
    assert join(crowded).status_code == 429

    invited = join(crowded, invitation=invitation.token)
    assert invited.status_code == 201 and invited.json()["is_verified_expert"] is True
    page = Client(REMOTE_ADDR="198.51.100.80").post(
        reverse("survey:start"), {"consent": "on", "invitation": invitation.token})
    assert page.status_code == 302
    assert Respondent.objects.filter(is_verified_expert=True).count() == 2


def test_self_declared_expertise_is_not_verified_an_invitation_is(db):
    staff = get_user_model().objects.create_user("staff", password="pw-123456789",
                                                 is_staff=True, is_superuser=True)
    admin = Client()
    admin.force_login(staff)
    made = admin.post(reverse("admin:survey_invitation_add"),
                      {"label": "Dr. Expert", "max_uses": 1, "is_active": "on"})
    assert made.status_code == 302
    invitation = Invitation.objects.get(label="Dr. Expert")
    assert invitation.created_by == staff

    claimed = join(api_client(), expertise="expert")
    assert claimed.status_code == 201 and claimed.json()["is_verified_expert"] is False

    invited = join(api_client(), invitation=invitation.token)
    assert invited.status_code == 201 and invited.json()["is_verified_expert"] is True
    reused = join(api_client(), invitation=invitation.token)
    assert reused.status_code == 400 and reused.json()["detail"]


def test_stuffed_votes_barely_move_the_label_and_staff_can_exclude_them(db):
    survey = make_survey(k_max=30)
    image = make_ready_image(survey)
    honest = [make_respondent("expert", is_verified_expert=True) for _ in range(3)]
    honest += [make_respondent("non_expert") for _ in range(4)]
    for respondent in honest:
        answer(respondent, image, 6)
    stuffers = [make_respondent("expert") for _ in range(6)]
    for respondent in stuffers:
        answer(respondent, image, 25)

    stats = image_statistics(image)
    assert stats.summaries["all"].mean > 14, "the plain mean is what stuffing used to move"
    assert stats.label_k <= 8, stats.robust
    assert stats.robust["downweighted"] == 6
    assert stats.robust["within_tolerance"] > 0.8

    staff = get_user_model().objects.create_user("staff", password="pw-123456789",
                                                 is_staff=True)
    client = Client()
    client.force_login(staff)
    page = client.get(reverse("survey:staff-respondent", args=[stuffers[0].pk]))
    assert page.status_code == 200 and b"staff-respondent-effects" in page.content
    for stuffer in stuffers:
        done = client.post(reverse("survey:staff-respondent", args=[stuffer.pk]),
                           {"action": "exclude", "reason": "bulk-made"})
        assert done.status_code == 302
    assert image_statistics(image).label_k == 6
    assert Respondent.objects.filter(excluded_at__isnull=False).count() == 6
    summary = client.get(reverse("survey:api-summary", args=[image.pk]))
    assert summary.json()["label_k"] == 6 and summary.json()["robust"]["downweighted"] == 0


def test_the_staff_page_shows_what_excluding_one_respondent_changes(db):
    survey = make_survey(k_max=12)
    image = make_ready_image(survey)
    ones = [make_respondent("non_expert") for _ in range(2)]
    for respondent in ones:
        answer(respondent, image, 3)
    decider = make_respondent("non_expert")
    answer(decider, image, 5)  # near enough to the consensus to count fully

    staff = get_user_model().objects.create_user("staff", password="pw-123456789",
                                                 is_staff=True)
    client = Client()
    client.force_login(staff)
    page = client.get(reverse("survey:staff-respondent", args=[decider.pk])).content.decode()

    label_with = image_statistics(image).label_k
    assert label_with != 3
    assert f"<td>{label_with}</td><td>3</td>" in page, "with and without, side by side"
    assert "1 of 1 label(s) changes" in page
    # exclusion and inclusion are reversible and need staff
    plain = Client()
    assert plain.post(reverse("survey:staff-respondent", args=[decider.pk]),
                      {"action": "exclude"}).status_code == 302
    decider.refresh_from_db()
    assert decider.excluded_at is None, "an anonymous visitor excluded nobody"
    client.post(reverse("survey:staff-respondent", args=[decider.pk]), {"action": "exclude"})
    assert image_statistics(image).label_k == 3
    client.post(reverse("survey:staff-respondent", args=[decider.pk]), {"action": "include"})
    assert image_statistics(image).label_k == label_with


def test_one_answer_per_respondent_and_image_still_holds_for_api_clients(db):
    survey = make_survey(k_max=8)
    make_ready_image(survey)
    token = join(api_client(), expertise="non_expert").json()["token"]
    client = api_client()
    question = client.get("/survey/api/next/", HTTP_X_SURVEY_RESPONDENT=token).json()
    for candidate in question["candidates"][:3]:
        sent = client.post("/survey/api/responses/", json.dumps({
            "image": question["image"]["id"], "candidate": candidate["token"]}),
            content_type="application/json", HTTP_X_SURVEY_RESPONDENT=token)
        assert sent.status_code in (200, 201)
    respondent = Respondent.objects.get()
    assert respondent.responses.count() == 1
