"""Fuzzing the HTTP surface: odd option values and odd bodies never produce a 500.

The page form, ``POST /api/denoise/`` and the survey's answer API are driven with random
option strings, huge and negative numbers, unicode, empty values and hostile files. Every
answer must be a 2xx or a 4xx carrying a message, and a job may exist only after a 201.
Jobs are not run here (their on-commit enqueue is dropped): the point is the request path.
"""
from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from denoiser.models import DenoiseJob

from .strategies import hostile_files, time_limit
from .test_permissions import lattice_npy

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning"),
]

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

numbers_as_text = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["", " ", "3.5", "1e9", "NaN", "inf", "-0", "0x10", "٣", "99999999999"]),
    st.text(max_size=12),
)
option_values = st.fixed_dictionaries(
    {},
    optional={
        "classifier": st.one_of(
            st.sampled_from(["active", "mp", "gd", "k=3", "k=all", "k=0", "k=-1", "k=",
                             "k=99999999999999999999", "K=3", "../../etc/passwd", ""]),
            st.text(max_size=40),
        ),
        "patch_size": numbers_as_text,
        "seed": numbers_as_text,
        "frame": numbers_as_text,
        "n_stacks": numbers_as_text,
        "k": numbers_as_text,
    },
)


# What the page's form sends when untouched; the fuzz overrides some of it, so valid
# submissions (201/302) are exercised alongside refusals.
VALID_FORM = {"classifier": "mp", "seed": "0", "patch_size": "", "n_stacks": "", "frame": "",
              "k": "5"}


def _no_nul(fields: dict) -> dict:
    # A NUL cannot travel in a multipart form field from a real client's encoder either.
    return {key: value.replace("\x00", "") for key, value in fields.items()}


@FUZZ
@given(fields=option_values, use_valid_image=st.booleans(), file=hostile_files())
def test_denoise_api_never_answers_500(fields, use_valid_image, file):
    client = Client(raise_request_exception=False)
    before = DenoiseJob.objects.count()
    upload = (SimpleUploadedFile("lattice.npy", lattice_npy()) if use_valid_image
              else SimpleUploadedFile(file.name, file.data))
    with time_limit(60):
        answer = client.post("/api/denoise/", {"classifier": "mp", **_no_nul(fields),
                                               "file": upload})
    assert answer.status_code < 500, (answer.status_code, fields, file)
    created = DenoiseJob.objects.count() - before
    if answer.status_code == 201:
        assert created == 1
    else:
        assert 400 <= answer.status_code < 500 and created == 0, (answer.status_code, created)
        assert json.loads(answer.content).get("detail"), answer.content[:300]


@FUZZ
@given(fields=option_values)
def test_denoise_page_form_never_answers_500(fields):
    client = Client(raise_request_exception=False)
    before = DenoiseJob.objects.count()
    with time_limit(60):
        answer = client.post(
            "/denoise/",
            {**VALID_FORM, **_no_nul(fields),
             "file": SimpleUploadedFile("lattice.npy", lattice_npy())},
        )
    assert answer.status_code < 500, (answer.status_code, fields)
    if answer.status_code != 302:
        assert DenoiseJob.objects.count() == before
        assert b'id="upload-error"' in answer.content or b'class="error"' in answer.content


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20),
              st.floats(allow_nan=False), st.text(max_size=20)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=3),
    max_leaves=6,
)


@FUZZ
@given(payload=st.dictionaries(
    st.sampled_from(["image", "candidate", "time_taken_ms", "expertise", "consent", "extra"]),
    json_values, max_size=5))
def test_survey_api_never_answers_500(payload):
    client = Client(raise_request_exception=False)
    created = client.post("/survey/api/respondents/", {"consent": True, "expertise": "expert"},
                          content_type="application/json")
    assert created.status_code < 500
    token = json.loads(created.content).get("token", "") if created.status_code < 300 else ""
    headers = {"HTTP_X_SURVEY_RESPONDENT": token} if token else {}
    with time_limit(30):
        for url in ("/survey/api/responses/", "/survey/api/respondents/"):
            answer = client.post(url, payload, content_type="application/json", **headers)
            assert answer.status_code < 500, (url, answer.status_code, payload)
        patched = client.patch("/survey/api/respondents/me/", payload,
                               content_type="application/json", **headers)
        assert patched.status_code < 500, (patched.status_code, payload)
