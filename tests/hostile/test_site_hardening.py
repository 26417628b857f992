"""The embedded start as an outsider meets it: technical pages, the signing key, API errors
and the API docs without internet.

Before issue 16: anonymous requests got DEBUG's technical page (/media/%2e%2e/x), a token
signed with the key printed in settings.py was accepted, an oversized form field answered
the HTML debug page on an API path, and /api/docs/ loaded Swagger UI from a CDN.
"""
from __future__ import annotations

import io as _io
import json
import re

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from PIL import Image

import reucid_site.views
import survey.api
from reucid_site.errors import TECHNICAL_MARKER
from survey.identity import SALT
from survey.models import Respondent

pytestmark = pytest.mark.django_db

OUTSIDER = "203.0.113.7"  # TEST-NET-3: any address that is not this machine
OLD_PUBLIC_KEY = "django-insecure-embedded-default-key-change-me-in-production-0123456789"


def outsider() -> Client:
    return Client(REMOTE_ADDR=OUTSIDER, raise_request_exception=False)


def local() -> Client:
    return Client(REMOTE_ADDR="127.0.0.1", raise_request_exception=False)


@pytest.mark.parametrize("url", ["/media/%2e%2e/x", "/no-such-page/", "/denoise/jobs/00000000-0000-0000-0000-000000000000/"])
def test_debug_technical_pages_only_for_this_machine(settings, url):
    settings.DEBUG = True

    seen_from_outside = outsider().get(url)
    seen_locally = local().get(url)

    assert seen_from_outside.status_code == seen_locally.status_code == 404
    assert TECHNICAL_MARKER not in seen_from_outside.content
    assert b"URLconf" not in seen_from_outside.content
    # Positive control: the developer at the machine still gets the technical page.
    assert TECHNICAL_MARKER in seen_locally.content


def test_a_crash_shows_no_traceback_to_outsiders(settings, monkeypatch):
    settings.DEBUG = True

    def boom(request):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(reucid_site.views, "site_health", lambda: boom(None))
    response = outsider().get("/health/")

    assert response.status_code == 500
    assert b"secret internals" not in response.content and b"Traceback" not in response.content


def test_a_token_signed_with_the_old_public_key_is_refused(settings):
    respondent = Respondent.objects.create(consented_at=timezone.now(), expertise="expert")
    forged = signing.dumps(str(respondent.uid), key=OLD_PUBLIC_KEY, salt=SALT)
    genuine = signing.dumps(str(respondent.uid), salt=SALT)

    assert settings.SECRET_KEY != OLD_PUBLIC_KEY
    refused = outsider().get("/survey/api/respondents/me/", HTTP_X_SURVEY_RESPONDENT=forged)
    accepted = outsider().get("/survey/api/respondents/me/", HTTP_X_SURVEY_RESPONDENT=genuine)
    assert refused.status_code in (401, 403)
    assert accepted.status_code == 200


@pytest.mark.parametrize("debug", [True, False])
@pytest.mark.parametrize("url", ["/api/no-such-thing/", "/survey/api/no-such-thing/",
                                 "/api/jobs/00000000-0000-0000-0000-000000000000/",
                                 "/survey/api/images/999999/"])
def test_api_404s_are_json(settings, url, debug):
    settings.DEBUG = debug
    for client in (outsider(), local()):
        response = client.get(url)
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/json")
        assert "detail" in json.loads(response.content)


@pytest.mark.parametrize("debug", [True, False])
def test_api_500s_are_json_without_internals(settings, monkeypatch, debug):
    settings.DEBUG = debug

    def boom():
        raise RuntimeError("secret internals")

    monkeypatch.setattr(survey.api, "current_survey", boom)
    response = outsider().get("/survey/api/images/")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    assert b"secret internals" not in response.content
    assert json.loads(response.content)["detail"]


@pytest.mark.parametrize("debug", [True, False])
def test_an_oversized_form_field_on_the_api_is_a_json_413(settings, debug):
    settings.DEBUG = debug
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = outsider().post("/api/denoise/", {"seed": "1" * 5000, "method": "paper"})

    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/json")
    assert "too large" in json.loads(response.content)["detail"]


def test_csrf_failure_of_a_browser_session_on_the_api_is_json(settings):
    user = get_user_model().objects.create_user("csrf-user", password="pw-123456789")
    browser = Client(enforce_csrf_checks=True, raise_request_exception=False)
    browser.force_login(user)

    response = browser.post("/api/denoise/", {"method": "paper"})

    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/json")
    assert "CSRF" in json.loads(response.content)["detail"]


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_api_docs_load_nothing_from_other_sites(client, url):
    page = client.get(url)

    assert page.status_code == 200
    html = page.content.decode()
    external = re.findall(r"""(?:src|href)=["'](https?://[^"']+)""", html)
    assert external == [], external
    scripts = re.findall(r"""src=["'](/static/[^"']+)""", html)
    assert scripts, "the docs page loads its scripts from the site's own static files"
    for script in scripts:
        assert finders.find(script.removeprefix("/static/")), script


@pytest.mark.parametrize("side", [1, 2, 3, 15])
@pytest.mark.parametrize("kind", ["npy", "png"])
def test_too_small_images_are_told_one_minimum(side, kind):
    """Before: a 1x1 image was told "at least 3x3", then a 3x3 one "at least 16x16"."""
    pixels = (np.arange(side * side).reshape(side, side) % 200).astype(np.uint8)
    buffer = _io.BytesIO()
    if kind == "npy":
        np.save(buffer, pixels.astype(np.float32))
    else:
        Image.fromarray(pixels).save(buffer, format="PNG")
    upload = SimpleUploadedFile(f"tiny.{kind}", buffer.getvalue())

    response = outsider().post("/api/denoise/", {"file": upload, "method": "paper"})

    assert response.status_code == 400
    detail = json.loads(response.content)["detail"]
    assert f"only {side} x {side} pixels" in detail and "at least 16 x 16" in detail
