"""Pages: upload form (with and without JavaScript), job page states, pictures, permissions."""
from __future__ import annotations

import types

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

import training.selectors
from denoiser import job_files, services
from denoiser.models import DenoiseJob, JobStatus
from denoiser.reucid.errors import ModelLoadError
from denoiser.reucid.selection import cnn, group_cnn

from .conftest import lattice_image, npy_upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]


@pytest.fixture
def no_model(monkeypatch, tmp_path):
    """A site where neither a trained nor a shipped model exists."""
    monkeypatch.setattr(cnn, "SHIPPED_MODEL_PATH", tmp_path / "absent.pt")
    monkeypatch.setattr(group_cnn, "GROUP_SHIPPED_MODEL_PATH", tmp_path / "absent-group.pt")


@pytest.fixture
def with_model(monkeypatch, tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"weights")
    def active_classifier_path(kind="paper"):
        # a paper CNN only: the default method has no group classifier on this site
        if kind != "paper":
            raise ModelLoadError("no group classifier")
        return path

    # the denoiser reads the training app only through these public selectors
    monkeypatch.setattr(training.selectors, "active_classifier_path", active_classifier_path)
    monkeypatch.setattr(training.selectors, "active_classifier_record",
                        lambda kind="paper": types.SimpleNamespace(name="cnn", version="v3"))


def make_job(capture, *, execute=True, owner=None, **options) -> DenoiseJob:
    options.setdefault("method", "paper")  # stacks, as the result page tests expect
    options.setdefault("classifier", "mp")
    with capture(execute=execute):
        job = services.submit_job(uploaded=npy_upload(lattice_image()), owner=owner, **options)
    job.refresh_from_db()
    return job


def test_upload_page_has_the_controls(client, with_model):
    response = client.get("/denoise/")
    assert response.status_code == 200
    html = response.content.decode()
    for hook in ('id="drop-zone"', 'id="file-input"', 'id="classifier-select"',
                 'id="patch-size-input"', 'id="seed-input"', 'id="denoise-submit"',
                 "denoiser/upload.js", 'data-api-url="/api/denoise/"'):
        assert hook in html
    assert "Active trained model (paper: cnn v3)" in html
    # no group classifier: the default method's selection stays the noise-edge rule
    assert '<option value="noise-edge" data-method="best" selected>' in html
    assert ".dm4" in html and ".emd" in html and ".hspy" in html


def test_upload_page_without_model_offers_the_rules(client, no_model):
    html = client.get("/denoise/").content.decode()
    assert 'id="model-unavailable"' in html and "No trained classifier" in html
    assert '<option value="active" disabled>' in html.replace("\n", "").replace("  ", "")
    # the default method's rule needs no model; "paper" falls back to MP (upload.js)
    assert '<option value="noise-edge" data-method="best" selected>' in html
    assert '<option value="mp" >' in html


def test_form_post_without_javascript_redirects_to_the_job(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/denoise/",
            {"file": npy_upload(lattice_image()), "classifier": "k", "k": 3, "seed": 0},
        )
    job = DenoiseJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/denoise/jobs/{job.pk}/"
    job.refresh_from_db()
    assert job.classifier_choice == "k=3" and job.status == JobStatus.DONE
    # no method posted: the default, "best", keeps k eigenpatches in every group
    assert job.method == "best" and job.method_note == ""
    assert set(job.diagnostics["kept_per_stack"]) == {3}


def test_form_post_with_bad_file_shows_the_reason(client, scratch_files):
    response = client.post(
        "/denoise/", {"file": SimpleUploadedFile("x.tif", b"garbage"), "classifier": "mp", "seed": 0}
    )
    assert response.status_code == 400
    assert "not a supported image file" in response.content.decode()
    assert DenoiseJob.objects.count() == 0 and scratch_files() == []


def test_form_post_fixed_k_needs_k(client):
    response = client.post(
        "/denoise/", {"file": npy_upload(lattice_image()), "classifier": "k", "seed": 0}
    )
    assert response.status_code == 400 and DenoiseJob.objects.count() == 0


def test_result_page_shows_everything(client, django_capture_on_commit_callbacks):
    job = make_job(django_capture_on_commit_callbacks, n_stacks=2)
    response = client.get(f"/denoise/jobs/{job.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    for hook in ('id="before-image"', 'id="after-image"', 'id="compare-slider"',
                 'id="residual-image"', 'class="scree-plot"', 'data-test="gallery-image"',
                 'id="profile-chart"', 'data-test="download-result.tif"',
                 'data-test="download-result.png"', 'data-test="download-residual.tif"',
                 'data-test="download-residual.png"', 'id="number-patch-size"',
                 "denoiser/job.js"):
        assert hook in html, hook
    assert html.count("<circle") == sum(
        len(stack["eigenvalues"]) for stack in job.diagnostics["stacks"]
    )
    assert 'data-test="anonymous-link-note"' in html
    for name in ("input", "result", "residual", "gallery-0", "gallery-1"):
        picture = client.get(f"/denoise/jobs/{job.pk}/image/{name}/")
        assert picture.status_code == 200 and picture["Content-Type"] == "image/png", name
    assert client.get(f"/denoise/jobs/{job.pk}/image/gallery-7/").status_code == 404
    assert client.get(f"/denoise/jobs/{job.pk}/image/input.npy/").status_code == 404
    assert client.get(f"/denoise/jobs/{job.pk}/image/..%2F..%2Fsettings/").status_code == 404


def test_queued_page_shows_progress_and_polls(client, django_capture_on_commit_callbacks):
    job = make_job(django_capture_on_commit_callbacks, execute=False)
    html = client.get(f"/denoise/jobs/{job.pk}/").content.decode()
    assert 'id="job-progress"' in html and 'id="interim-image"' in html
    assert f'data-status-url="/api/jobs/{job.pk}/"' in html
    assert "Waiting for a worker" in html
    assert 'id="before-image"' not in html


def test_failed_page_shows_reason_and_retry_works(client, django_capture_on_commit_callbacks):
    job = make_job(django_capture_on_commit_callbacks, execute=False)
    DenoiseJob.objects.filter(pk=job.pk).update(
        status=JobStatus.FAILED, error="The server ran out of memory while denoising this image."
    )
    html = client.get(f"/denoise/jobs/{job.pk}/").content.decode()
    assert 'id="job-error"' in html and "ran out of memory" in html
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/denoise/jobs/{job.pk}/retry/")
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.DONE


def test_retry_needs_post(client, django_capture_on_commit_callbacks):
    job = make_job(django_capture_on_commit_callbacks, execute=False)
    assert client.get(f"/denoise/jobs/{job.pk}/retry/").status_code == 405


def test_logged_in_user_sees_own_jobs_only(client, django_capture_on_commit_callbacks):
    users = get_user_model().objects
    alice = users.create_user("alice", password="pw-alice-123")
    bob = users.create_user("bob", password="pw-bob-123")
    mine = make_job(django_capture_on_commit_callbacks, execute=False, owner=alice)
    theirs = make_job(django_capture_on_commit_callbacks, execute=False, owner=bob)
    client.force_login(alice)
    html = client.get("/denoise/").content.decode()
    assert f"/denoise/jobs/{mine.pk}/" in html and f"/denoise/jobs/{theirs.pk}/" not in html
    assert client.get(f"/denoise/jobs/{theirs.pk}/").status_code == 404
    assert client.get(f"/denoise/jobs/{theirs.pk}/image/input/").status_code == 404
    assert client.post(f"/denoise/jobs/{theirs.pk}/delete/").status_code == 404
    client.logout()
    assert client.get(f"/denoise/jobs/{mine.pk}/").status_code == 404


def test_anonymous_session_lists_its_own_jobs(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        client.post("/api/denoise/", {"file": npy_upload(lattice_image()), "classifier": "mp"})
    job = DenoiseJob.objects.get()
    assert f"/denoise/jobs/{job.pk}/" in client.get("/denoise/").content.decode()

    stranger = Client()
    assert f"/denoise/jobs/{job.pk}/" not in stranger.get("/denoise/").content.decode()
    assert stranger.get(f"/denoise/jobs/{job.pk}/").status_code == 200  # the link is the key


def test_delete_from_the_page(client, django_capture_on_commit_callbacks):
    job = make_job(django_capture_on_commit_callbacks)
    response = client.post(f"/denoise/jobs/{job.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/denoise/"
    assert not DenoiseJob.objects.exists() and not job_files.job_path(job).exists()


def test_admin_lists_jobs(admin_client, django_capture_on_commit_callbacks):
    job = make_job(django_capture_on_commit_callbacks)
    response = admin_client.get("/admin/denoiser/denoisejob/")
    assert response.status_code == 200 and job.original_filename in response.content.decode()


def test_hostile_filename_is_escaped_on_every_page(client, django_capture_on_commit_callbacks):
    name = "<img src=x onerror=alert(1)>.npy"
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/api/denoise/", {"file": npy_upload(lattice_image(), name=name), "classifier": "mp"})
    job = DenoiseJob.objects.get()
    for url in (f"/denoise/jobs/{job.pk}/", "/denoise/"):
        html = client.get(url).content.decode()
        assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;.npy" in html
