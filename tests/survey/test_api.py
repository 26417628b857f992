"""The REST API: a client runs the survey with a respondent token; staff read and export."""
from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from survey.models import Response, ShownCandidate
from tests.survey.factories import make_respondent
from tests.survey.test_answers import answer

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


def join(api, **profile):
    created = api.post(reverse("survey:api-respondents"),
                       {"consent": True, **profile}, format="json")
    assert created.status_code == 201, created.content
    fresh = APIClient()  # a plug-in with no cookies, only the header
    fresh.credentials(HTTP_X_SURVEY_RESPONDENT=created.json()["token"])
    return fresh, created.json()


def test_a_client_runs_the_survey_with_its_token(api, images):
    client, me = join(api, expertise="expert", field="catalysis", years_experience=12)
    assert me["expertise"] == "expert" and not me["is_verified_expert"]
    question = client.get(reverse("survey:api-next"))
    assert question.status_code == 200
    body = question.json()
    assert body["answered"] == 0 and body["total"] == 3 and len(body["candidates"]) == 8
    assert set(body["candidates"][0]) == {"token", "url"}  # blinded: no k
    assert body["image"]["noisy_url"].endswith(".png")
    choice = {"image": body["image"]["id"], "candidate": body["candidates"][1]["token"],
              "time_taken_ms": 2500}
    first = client.post(reverse("survey:api-responses"), choice, format="json")
    assert first.status_code == 201 and first.json()["revisions"] == 0
    choice["candidate"] = body["candidates"][4]["token"]
    again = client.post(reverse("survey:api-responses"), choice, format="json")
    assert again.status_code == 200 and again.json()["revisions"] == 1
    assert Response.objects.count() == 1
    # tokens are the respondent's own: the answer points at the candidate behind the token
    assert Response.objects.get().candidate == ShownCandidate.objects.get(
        token=body["candidates"][4]["token"]).candidate
    after = client.get(reverse("survey:api-candidates", args=[body["image"]["id"]])).json()
    assert after["previous_choice"] == body["candidates"][4]["token"]
    assert [c["token"] for c in after["candidates"]] == [c["token"] for c in body["candidates"]]


def test_without_a_respondent_the_api_says_how_to_join(api, images):
    refused = api.get(reverse("survey:api-next"))
    assert refused.status_code in (401, 403) and "respondents/" in refused.json()["detail"]
    forged = APIClient()
    forged.credentials(HTTP_X_SURVEY_RESPONDENT="not-a-token")
    assert forged.get(reverse("survey:api-next")).status_code in (401, 403)


def test_consent_is_required(api, db):
    refused = api.post(reverse("survey:api-respondents"), {"consent": False}, format="json")
    assert refused.status_code == 400 and "consent" in refused.content.decode()


def test_profile_is_needed_before_questions_and_can_change(api, images):
    client, _ = join(api)
    assert client.get(reverse("survey:api-next")).status_code == 400
    changed = client.patch(reverse("survey:api-respondent-me"), {"expertise": "non_expert"},
                           format="json")
    assert changed.status_code == 200 and changed.json()["expertise"] == "non_expert"
    assert client.get(reverse("survey:api-next")).status_code == 200
    bad = client.patch(reverse("survey:api-respondent-me"), {"expertise": "wizard"},
                       format="json")
    assert bad.status_code == 400


def test_next_is_204_when_everything_is_answered(api, images):
    client, _ = join(api, expertise="non_expert")
    for _ in images:
        body = client.get(reverse("survey:api-next")).json()
        client.post(reverse("survey:api-responses"), {
            "image": body["image"]["id"], "candidate": body["candidates"][0]["token"]},
            format="json")
    assert client.get(reverse("survey:api-next")).status_code == 204


def test_a_forged_candidate_is_rejected(api, images):
    client, _ = join(api, expertise="expert")
    body = client.get(reverse("survey:api-next")).json()
    refused = client.post(reverse("survey:api-responses"), {
        "image": body["image"]["id"], "candidate": "zzz"}, format="json")
    assert refused.status_code == 400 and not Response.objects.exists()


def test_images_list_is_public(api, images):
    listed = api.get(reverse("survey:api-images")).json()
    assert [row["id"] for row in listed] == [image.id for image in images]
    assert listed[0]["has_ground_truth"] is True
    one = api.get(reverse("survey:api-image", args=[images[1].id])).json()
    assert one["id"] == images[1].id and one["width"] == 40


@pytest.mark.parametrize("url_name,args", [
    ("survey:api-summary", "image"), ("survey:api-export", "responses.csv"),
    ("survey:api-export", "eigenpatches.npz")])
def test_staff_endpoints_refuse_others(api, plain_user_client, images, url_name, args):
    url = reverse(url_name, args=[images[0].id if args == "image" else args])
    assert api.get(url).status_code in (401, 403)
    assert plain_user_client.get(url).status_code == 403


def test_staff_summary(staff_client, images):
    answer(make_respondent("expert"), images[0], 2)
    answer(make_respondent("non_expert"), images[0], 6)
    body = staff_client.get(reverse("survey:api-summary", args=[images[0].id])).json()
    assert body["all"]["mean"] == 4 and body["expert"]["count"] == 1 and body["label_k"] == 4
    assert body["ks"]["non_expert"] == [6]


def test_openapi_schema_lists_the_survey_endpoints(client, db):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    text = schema.content.decode()
    for path in ("/survey/api/responses/", "/survey/api/next/", "/survey/api/respondents/",
                 "/survey/api/images/{id}/candidates/", "/survey/api/export/{kind}"):
        assert path in text
