"""CSRF: every POST form on the site carries a token, and a POST without one is refused.

The pages are crawled the way a staff user and a survey respondent see them (with a job,
a survey image and a training run present, so the forms on their pages exist); every
``<form method=post>`` found must hold ``csrfmiddlewaretoken``, and replaying it without
the token through a CSRF-enforcing client must get 403 and change nothing.
"""
from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from denoiser.models import DenoiseJob
from denoiser.services import submit_job
from survey.models import Respondent, Response, Survey, SurveyImage
from survey.services.images import add_survey_image

from .test_permissions import lattice_npy

pytestmark = pytest.mark.django_db


class FormsAndLinks(HTMLParser):
    """The forms (method, action, fields) and same-site links of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.links: list[str] = []
        self._form: dict | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self._form = {
                "method": (attributes.get("method") or "get").lower(),
                "action": attributes.get("action"),
                "fields": {},
            }
            self.forms.append(self._form)
        elif tag in ("input", "select", "textarea", "button") and self._form is not None:
            name = attributes.get("name")
            if name and attributes.get("type") not in ("submit", "file"):
                self._form["fields"].setdefault(name, attributes.get("value") or "")
        elif tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


def parse(html: str) -> FormsAndLinks:
    parser = FormsAndLinks()
    parser.feed(html)
    return parser


# Crawling the admin's every change page would take minutes and adds nothing: one
# changelist per app shows the admin's forms.
SKIP_PREFIXES = ("/api/docs", "/api/schema", "/static/", "/media/")
ADMIN_PAGES = ("/admin/", "/admin/survey/survey/", "/admin/training/trainingrun/",
               "/admin/training/classifiermodel/", "/admin/denoiser/denoisejob/")


def crawl(client: Client, start: list[str], *, limit: int = 60) -> dict[str, FormsAndLinks]:
    """GET pages breadth-first from ``start``, staying on the site; return parsed HTML."""
    seen: dict[str, FormsAndLinks] = {}
    queue = list(start)
    while queue and len(seen) < limit:
        url = queue.pop(0)
        path = urlsplit(url).path
        if path in seen or path.startswith(SKIP_PREFIXES):
            continue
        if path.startswith("/admin/") and path not in ADMIN_PAGES:
            continue
        response = client.get(url)
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        html = b"".join(response.streaming_content) if response.streaming else response.content
        page = parse(html.decode("utf-8", "replace"))
        seen[path] = page
        for link in page.links:
            absolute = urljoin(path, link)
            parts = urlsplit(absolute)
            if parts.netloc in ("", "testserver") and parts.path not in seen:
                queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return seen


@pytest.fixture
def site_with_content(django_user_model, django_capture_on_commit_callbacks, settings):
    """A staff user, a finished job, a survey image and a training run."""
    staff = django_user_model.objects.create_user(
        username="staff", password="x-pass-123456", is_staff=True, is_superuser=True
    )
    survey = Survey.objects.create(name="CSRF", slug="csrf", k_max=5)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:48, 0:48]
    clean = 1.0 + np.cos(2 * np.pi * y / 8) * np.cos(2 * np.pi * x / 8)
    with django_capture_on_commit_callbacks(execute=True):
        job = submit_job(uploaded=SimpleUploadedFile("s.npy", lattice_npy()), owner=staff,
                         classifier="mp", seed=0)
        image = add_survey_image(survey=survey, noisy=rng.poisson(20 * clean).astype(np.float32),
                                 title="C1", source=SurveyImage.Source.SIMULATED)
    return {"staff": staff, "job": job, "image": image}


def _assert_forms_protected(pages: dict[str, FormsAndLinks], make_client) -> int:
    checked = 0
    for path, page in pages.items():
        for form in page.forms:
            if form["method"] != "post":
                continue
            assert "csrfmiddlewaretoken" in form["fields"], (
                f"the POST form to {form['action']!r} on {path} has no CSRF token"
            )
            action = urljoin(path, form["action"] or path)
            fields = {k: v for k, v in form["fields"].items() if k != "csrfmiddlewaretoken"}
            answer = make_client().post(action, fields)
            assert answer.status_code == 403, (
                f"POST {action} (form on {path}) without a CSRF token got {answer.status_code}"
            )
            checked += 1
    return checked


def test_staff_pages_forms_all_need_csrf(site_with_content):
    staff = site_with_content["staff"]
    browsing = Client()
    browsing.force_login(staff)
    start = ["/", "/denoise/", f"/denoise/jobs/{site_with_content['job'].pk}/", "/training/",
             "/survey/staff/", *ADMIN_PAGES]
    pages = crawl(browsing, start)
    assert "/training/" in pages and f"/denoise/jobs/{site_with_content['job'].pk}/" in pages

    def attacker_riding_staff_session() -> Client:
        client = Client(enforce_csrf_checks=True)
        client.force_login(staff)
        return client

    checked = _assert_forms_protected(pages, attacker_riding_staff_session)
    assert checked >= 4, f"only {checked} POST forms found; the crawl missed the site's forms"


def test_respondent_pages_forms_all_need_csrf(site_with_content):
    respondent_browser = Client()
    respondent_browser.post("/survey/", {"consent": "on"})
    respondent_browser.post("/survey/profile/", {"expertise": "expert"})
    assert Respondent.objects.filter(expertise="expert").count() == 1
    pages = crawl(respondent_browser, ["/survey/", "/survey/profile/", "/survey/next/",
                                       f"/survey/q/{site_with_content['image'].pk}/"])
    assert f"/survey/q/{site_with_content['image'].pk}/" in pages

    def attacker_riding_respondent_cookie() -> Client:
        client = Client(enforce_csrf_checks=True)
        client.cookies = respondent_browser.cookies
        return client

    checked = _assert_forms_protected(pages, attacker_riding_respondent_cookie)
    assert checked >= 2
    assert Respondent.objects.count() == 1


def test_api_posts_with_a_session_need_csrf(site_with_content):
    """Session-authenticated API calls need the CSRF header; token-authenticated ones do not."""
    staff = site_with_content["staff"]
    riding = Client(enforce_csrf_checks=True)
    riding.force_login(staff)
    before = DenoiseJob.objects.count()
    upload = SimpleUploadedFile("x.npy", lattice_npy(2))
    answer = riding.post("/api/denoise/", {"file": upload, "classifier": "mp"})
    assert answer.status_code == 403, answer.status_code
    assert riding.delete(f"/api/jobs/{site_with_content['job'].pk}/").status_code == 403
    assert DenoiseJob.objects.count() == before


def test_survey_answers_through_the_cookie_need_csrf(site_with_content):
    """The survey API accepts the browser's signed cookie; then it must also demand CSRF.

    (A client using the ``X-Survey-Respondent`` header is not exposed: a browser never
    adds that header to a cross-site request.)
    """
    browser = Client()
    browser.post("/survey/", {"consent": "on"})
    browser.post("/survey/profile/", {"expertise": "non_expert"})
    image = site_with_content["image"]
    page = browser.get(f"/survey/q/{image.pk}/").content.decode()
    token = page.split('data-candidate="', 1)[1].split('"', 1)[0]

    riding = Client(enforce_csrf_checks=True)
    riding.cookies = browser.cookies
    answer = riding.post("/survey/api/responses/", {"image": image.pk, "candidate": token},
                         content_type="application/json")
    assert answer.status_code == 403, (
        f"a cross-site POST riding the respondent cookie was answered {answer.status_code}"
    )
    assert Response.objects.count() == 0


def test_survey_answers_through_the_cookie_pass_with_the_csrf_token(site_with_content):
    """The same-site page's own request, carrying the CSRF token, is still accepted."""
    browser = Client(enforce_csrf_checks=True)
    page = browser.get("/survey/").content.decode()
    csrf = page.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    browser.post("/survey/", {"consent": "on", "csrfmiddlewaretoken": csrf})
    browser.post("/survey/profile/", {"expertise": "non_expert", "csrfmiddlewaretoken": csrf})
    image = site_with_content["image"]
    page = browser.get(f"/survey/q/{image.pk}/").content.decode()
    token = page.split('data-candidate="', 1)[1].split('"', 1)[0]
    answer = browser.post("/survey/api/responses/", {"image": image.pk, "candidate": token},
                          content_type="application/json",
                          HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value)
    assert answer.status_code == 201, answer.content
    assert Response.objects.count() == 1
