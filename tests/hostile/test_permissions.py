"""Who may reach what: anonymous visitors and ordinary users never reach staff pages,
exports, retraining or other people's jobs.

Each refusal has a positive control (the owner or staff gets through), so a page that is
simply broken cannot pass as "protected".
"""
from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from denoiser import job_files
from denoiser.models import DenoiseJob, JobStatus
from denoiser.services import submit_job
from survey.models import Survey, SurveyImage
from survey.services.images import add_survey_image
from training.models import TrainingRun

pytestmark = pytest.mark.django_db

EXPORTS = ["responses.csv", "eigenpatches.json", "eigenpatches.npz"]


def lattice_npy(seed: int = 0, side: int = 64) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side]
    clean = 1.0 + np.cos(2 * np.pi * y / 8) * np.cos(2 * np.pi * x / 8)
    buffer = io.BytesIO()
    np.save(buffer, rng.poisson(20 * clean).astype(np.float32))
    return buffer.getvalue()


@pytest.fixture
def users(django_user_model):
    make = django_user_model.objects.create_user
    return {
        "alice": make(username="alice", password="alice-pass-123"),
        "bob": make(username="bob", password="bob-pass-123"),
        "staff": make(username="staff", password="staff-pass-123", is_staff=True,
                      is_superuser=True),
    }


def client_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def alices_job(users, django_capture_on_commit_callbacks):
    """A finished job owned by alice, made through the real service and worker code."""
    with django_capture_on_commit_callbacks(execute=True):
        job = submit_job(
            uploaded=SimpleUploadedFile("alice.npy", lattice_npy()), owner=users["alice"],
            classifier="mp", seed=0,
        )
    job.refresh_from_db()
    assert job.status == JobStatus.DONE, job.error
    return job


def _job_urls(job) -> dict[str, str]:
    base = f"/denoise/jobs/{job.pk}"
    return {
        "page": f"{base}/",
        "input picture": f"{base}/image/input/",
        "result picture": f"{base}/image/result/",
        "api status": f"/api/jobs/{job.pk}/",
        "api download": f"/api/jobs/{job.pk}/download/result.tif/",
        "api profile": f"/api/jobs/{job.pk}/profile/?r0=0&c0=0&r1=10&c1=10",
    }


@pytest.mark.parametrize("who", ["anonymous", "bob"])
def test_other_peoples_jobs_are_invisible(users, alices_job, who):
    stranger = client_for(None if who == "anonymous" else users["bob"])
    owner = client_for(users["alice"])
    for what, url in _job_urls(alices_job).items():
        if what != "api profile":
            assert owner.get(url).status_code == 200, f"owner cannot open {what} ({url})"
        answer = stranger.get(url)
        assert answer.status_code in (401, 403, 404), f"{who} got {answer.status_code} on {what}"
    listing = stranger.get("/api/jobs/")
    if who == "bob":
        assert str(alices_job.pk) not in listing.content.decode()
    else:
        assert listing.status_code in (401, 403)


@pytest.mark.parametrize("who", ["anonymous", "bob"])
def test_strangers_cannot_delete_or_retry_a_job(users, alices_job, who):
    stranger = client_for(None if who == "anonymous" else users["bob"])
    for url in (f"/denoise/jobs/{alices_job.pk}/delete/", f"/denoise/jobs/{alices_job.pk}/retry/"):
        assert stranger.post(url).status_code in (401, 403, 404), url
    assert stranger.delete(f"/api/jobs/{alices_job.pk}/").status_code in (401, 403, 404)
    job = DenoiseJob.objects.get(pk=alices_job.pk)
    assert job.status == alices_job.status and job.attempts == alices_job.attempts
    assert (alices_job_dir := _job_folder(job)).is_dir(), f"{alices_job_dir} was deleted"


def _job_folder(job):
    return job_files.job_path(job)


def test_anonymous_job_is_reachable_only_through_its_link(
    users, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = submit_job(uploaded=SimpleUploadedFile("anon.npy", lattice_npy(1)), owner=None,
                         classifier="mp", seed=0)
    job.refresh_from_db()
    assert job.status == JobStatus.DONE, job.error
    stranger = client_for(users["bob"])
    assert stranger.get(f"/denoise/jobs/{job.pk}/").status_code == 200  # the link is the key
    assert str(job.pk) not in stranger.get("/denoise/").content.decode()
    assert str(job.pk) not in client_for().get("/denoise/").content.decode()
    assert stranger.get("/api/jobs/").status_code == 200
    assert str(job.pk) not in stranger.get("/api/jobs/").content.decode()


@pytest.fixture
def survey_image(django_capture_on_commit_callbacks):
    survey = Survey.objects.create(name="Permissions", slug="permissions", k_max=6)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:48, 0:48]
    clean = 1.0 + np.cos(2 * np.pi * y / 8) * np.cos(2 * np.pi * x / 8)
    with django_capture_on_commit_callbacks(execute=True):
        image = add_survey_image(survey=survey, noisy=rng.poisson(20 * clean).astype(np.float32),
                                 clean=clean.astype(np.float32), title="P1",
                                 source=SurveyImage.Source.SIMULATED)
    image.refresh_from_db()
    assert image.status == SurveyImage.Status.READY, image.error
    return image


def _staff_only_urls(survey_image) -> list[str]:
    urls = [
        "/survey/staff/",
        f"/survey/staff/images/{survey_image.pk}/",
        f"/survey/staff/images/{survey_image.pk}/clean.png",
        f"/survey/api/images/{survey_image.pk}/summary/",
    ]
    urls += [f"/survey/staff/export/{kind}" for kind in EXPORTS]
    urls += [f"/survey/api/export/{kind}" for kind in EXPORTS]
    urls += ["/training/", "/admin/", "/admin/survey/response/", "/admin/denoiser/denoisejob/"]
    return urls


@pytest.mark.parametrize("who", ["anonymous", "alice"])
def test_staff_pages_and_exports_refuse_non_staff(users, survey_image, who):
    stranger = client_for(None if who == "anonymous" else users["alice"])
    staff = client_for(users["staff"])
    for url in _staff_only_urls(survey_image):
        allowed = staff.get(url)
        assert allowed.status_code == 200, f"staff cannot open {url} ({allowed.status_code})"
        refused = stranger.get(url)
        assert refused.status_code in (302, 401, 403, 404), (
            f"{who} got {refused.status_code} on staff-only {url}"
        )
        if refused.status_code == 302:
            assert "/login/" in refused["Location"], refused["Location"]
        body = b"".join(refused.streaming_content) if refused.streaming else refused.content
        assert b"chosen_k" not in body and b"eigenvalue" not in body.lower(), url


@pytest.mark.parametrize("who", ["anonymous", "alice"])
def test_non_staff_cannot_start_retraining(users, who, django_capture_on_commit_callbacks):
    stranger = client_for(None if who == "anonymous" else users["alice"])
    with django_capture_on_commit_callbacks(execute=False) as queued:
        for url in ("/training/runs/start/", "/admin/training/trainingrun/start/"):
            answer = stranger.post(url, {"source": "auto"})
            assert answer.status_code in (302, 401, 403, 404), (url, answer.status_code)
            if answer.status_code == 302:
                assert "/login/" in answer["Location"], (url, answer["Location"])
    assert TrainingRun.objects.count() == 0
    assert not queued, "a retraining task was queued for a non-staff user"
    run = TrainingRun.objects.create(source="auto")
    assert stranger.get(f"/training/runs/{run.pk}/status/").status_code in (302, 401, 403, 404)


def test_staff_can_start_retraining(users, django_capture_on_commit_callbacks):
    """The positive control: the same POST by staff queues exactly one run."""
    with django_capture_on_commit_callbacks(execute=False) as queued:
        answer = client_for(users["staff"]).post("/training/runs/start/", {"source": "auto"})
    assert answer.status_code == 302
    assert TrainingRun.objects.count() == 1 and len(queued) == 1


def test_ordinary_user_cannot_use_admin_actions(users, survey_image):
    """Posting an admin changelist action as a non-staff user changes nothing."""
    alice = client_for(users["alice"])
    answer = alice.post(
        "/admin/survey/surveyimage/",
        {"action": "delete_selected", "_selected_action": [survey_image.pk], "post": "yes"},
    )
    assert answer.status_code in (302, 403)
    assert SurveyImage.objects.filter(pk=survey_image.pk).exists()
