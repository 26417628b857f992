"""Every stored file passes a permission check, whichever way the bytes are sent.

Before issue 16 /media/ served MEDIA_ROOT without any check (embedded DEBUG and
REUCID_SERVE_MEDIA, and the proxy in docs/deployment.md): an owned job's input and result
went to anyone with its UUID while the API rightly answered 404.
"""
from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from denoiser import job_files
from denoiser.models import JobStatus
from denoiser.services import submit_job
from tests.hostile.test_permissions import client_for, lattice_npy, users  # noqa: F401
from tests.survey.conftest import login_respondent
from tests.survey.factories import make_ready_image, make_respondent, make_survey

pytestmark = pytest.mark.django_db

MODES = ["django", "x-accel-redirect", "x-sendfile"]


def _done_job(owner, capture):
    with capture(execute=True):
        job = submit_job(uploaded=SimpleUploadedFile("frame.npy", lattice_npy()), owner=owner,
                         classifier="mp", seed=0)
    job.refresh_from_db()
    assert job.status == JobStatus.DONE, job.error
    return job


@pytest.fixture
def alices_job(users, django_capture_on_commit_callbacks):  # noqa: F811
    return _done_job(users["alice"], django_capture_on_commit_callbacks)


def file_urls(job) -> list[str]:
    return [f"/denoise/jobs/{job.pk}/image/input/", f"/denoise/jobs/{job.pk}/image/result/",
            f"/api/jobs/{job.pk}/download/result.tif/"]


def sent_file(response) -> bool:
    """Whether the answer hands over a file, however it is sent."""
    return response.status_code == 200 and (
        "X-Accel-Redirect" in response or "X-Sendfile" in response
        or getattr(response, "streaming", False))


@pytest.mark.parametrize("debug", [True, False])
def test_media_urls_of_an_owned_job_reach_nobody(settings, users, alices_job, debug):  # noqa: F811
    settings.DEBUG = debug
    stored = [p for p in job_files.job_path(alices_job).iterdir() if p.is_file()]
    assert stored, "the job wrote files"
    for who in (None, users["bob"], users["alice"], users["staff"]):
        client = client_for(who)
        for path in stored:
            url = f"/media/{job_files.storage_name(alices_job, path.name)}"
            assert client.get(url).status_code == 404, (who, url)


@pytest.mark.parametrize("mode", MODES)
def test_job_files_only_for_the_owner_and_staff(settings, users, alices_job, mode):  # noqa: F811
    settings.REUCID_FILE_SENDING = mode
    for url in file_urls(alices_job):
        for stranger in (None, users["bob"]):
            refused = client_for(stranger).get(url)
            assert refused.status_code == 404 and not sent_file(refused), (stranger, url)
        for allowed in (users["alice"], users["staff"]):
            answer = client_for(allowed).get(url)
            assert sent_file(answer), (allowed, url, answer.status_code)
            if mode == "x-accel-redirect":
                assert answer["X-Accel-Redirect"].startswith("/protected-media/denoise/")


def test_an_anonymous_job_opens_with_its_secret_link_only(settings,
                                                           django_capture_on_commit_callbacks):
    job = _done_job(AnonymousUser(), django_capture_on_commit_callbacks)
    for url in file_urls(job):
        assert sent_file(Client().get(url)), url
    wrong = str(job.pk)[:-4] + ("0000" if not str(job.pk).endswith("0000") else "1111")
    for url in file_urls(job):
        assert Client().get(url.replace(str(job.pk), wrong)).status_code == 404


def test_survey_ground_truth_goes_to_staff_only(users, settings):  # noqa: F811

    image = make_ready_image(make_survey(k_max=6))
    url = f"/survey/staff/images/{image.pk}/clean.png"

    assert client_for(users["staff"]).get(url).status_code == 200
    assert client_for(users["bob"]).get(url).status_code in (302, 403, 404)
    assert login_respondent(Client(), make_respondent()).get(url).status_code in (302, 403, 404)
