"""REST API: submit, status, downloads, profile, permissions, schema."""
from __future__ import annotations

import io

import numpy as np
import pytest
import tifffile
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from denoiser import job_files
from denoiser.models import DenoiseJob

from .conftest import lattice_image, npy_bytes, npy_upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]


@pytest.fixture
def users(db):
    model = get_user_model()
    return {
        "alice": model.objects.create_user("alice", password="pw-alice-123"),
        "bob": model.objects.create_user("bob", password="pw-bob-123"),
        "staff": model.objects.create_user("staff", password="pw-staff-123", is_staff=True),
    }


def post_image(api, capture, *, execute=True, upload=None, **fields):
    data = {"file": upload or npy_upload(lattice_image()), "method": "paper", "classifier": "mp",
            **fields}
    with capture(execute=execute):
        return api.post("/api/denoise/", data, format="multipart")


def test_submit_returns_job_and_status_reports_diagnostics(api, django_capture_on_commit_callbacks):
    response = post_image(api, django_capture_on_commit_callbacks, seed=5)
    assert response.status_code == 201, response.content
    body = response.json()
    assert response["Location"].endswith(f"/api/jobs/{body['id']}/")
    status = api.get(f"/api/jobs/{body['id']}/").json()
    assert status["status"] == "done"
    assert status["progress"] == {"stacks_done": 1, "n_stacks": 1, "fraction": 1.0}
    assert status["seed"] == 5 and status["classifier"] == "mp"
    assert status["shape"] == [64, 64]
    assert status["diagnostics"]["patch_size"] >= 3
    assert set(status["urls"]["downloads"]) == {"result.tif", "result.png", "result.hspy",
                                                 "residual.tif", "residual.png"}


def test_queued_job_status_has_no_diagnostics(api, django_capture_on_commit_callbacks):
    body = post_image(api, django_capture_on_commit_callbacks, execute=False).json()
    status = api.get(f"/api/jobs/{body['id']}/").json()
    assert status["status"] == "queued" and status["diagnostics"] is None
    assert status["progress"]["fraction"] == 0.0
    assert status["urls"]["downloads"] == {}
    download = api.get(f"/api/jobs/{body['id']}/download/result.tif/")
    assert download.status_code == 409


def test_downloads(api, django_capture_on_commit_callbacks):
    body = post_image(
        api, django_capture_on_commit_callbacks, upload=npy_upload(lattice_image(), "STO 1.npy")
    ).json()
    urls = api.get(f"/api/jobs/{body['id']}/").json()["urls"]["downloads"]
    response = api.get(urls["result.tif"], HTTP_ACCEPT="image/tiff")
    assert response.status_code == 200
    assert 'filename="STO 1_reucid_result.tif"' in response["Content-Disposition"]
    data = b"".join(response.streaming_content)
    output = tifffile.imread(io.BytesIO(data))
    assert output.dtype == np.float32 and output.shape == (64, 64)
    residual = tifffile.imread(io.BytesIO(b"".join(api.get(urls["residual.tif"]).streaming_content)))
    np.testing.assert_allclose(residual, lattice_image() - output, atol=1e-4)
    for name in ("result.png", "residual.png"):
        response = api.get(urls[name])
        assert response["Content-Type"] == "image/png"
        assert b"".join(response.streaming_content)[:4] == b"\x89PNG"
    assert api.get(f"/api/jobs/{body['id']}/download/input.npy/").status_code == 404
    assert api.get(f"/api/jobs/{body['id']}/download/..%2Finput.npy/").status_code == 404


@pytest.mark.parametrize(
    "fields, status, words",
    [
        ({"file": None}, 400, "No file"),
        ({"classifier": "magic"}, 400, "Unknown classifier"),
        ({"patch_size": 8}, 400, "odd"),
        ({"patch_size": 1}, 400, "patch_size"),
        ({"seed": "abc"}, 400, "seed"),
        ({"file": SimpleUploadedFile("x.tif", b"not a tiff")}, 400, "not a supported image"),
        ({"file": SimpleUploadedFile("x.tif", b"II*\x00 cut")}, 400, "truncated"),
        ({"file": SimpleUploadedFile("x.exe", b"MZ")}, 400, "not a supported image"),
        # the site's one minimum (16 x 16), said from the header for any tiny image
        ({"file": npy_upload(np.ones((1, 1)))}, 400, "only 1 x 1 pixels"),
    ],
)
def test_bad_requests_get_a_message_and_leave_nothing(api, fields, status, words, scratch_files, settings):
    data = {"file": npy_upload(lattice_image()), "classifier": "mp", **fields}
    data = {key: value for key, value in data.items() if value is not None}
    response = api.post("/api/denoise/", data, format="multipart")
    assert response.status_code == status
    assert words in response.json()["detail"]
    assert DenoiseJob.objects.count() == 0
    assert scratch_files() == []
    assert not (settings.MEDIA_ROOT / "denoise").exists() or not any((settings.MEDIA_ROOT / "denoise").iterdir())


def test_oversize_upload_is_413(api, settings):
    settings.REUCID_MAX_UPLOAD_BYTES = 2048
    response = api.post(
        "/api/denoise/", {"file": npy_upload(lattice_image()), "classifier": "mp"}, format="multipart"
    )
    assert response.status_code == 413
    assert "largest upload accepted" in response.json()["detail"]


def test_filename_path_parts_are_dropped(api, django_capture_on_commit_callbacks, settings):
    upload = SimpleUploadedFile("x.npy", npy_bytes(lattice_image()))
    upload.name = "../../../../tmp/evil.npy"
    body = post_image(api, django_capture_on_commit_callbacks, upload=upload, execute=False).json()
    assert body["original_filename"] == "evil.npy"
    job = DenoiseJob.objects.get()
    assert job_files.job_path(job).resolve().is_relative_to(settings.MEDIA_ROOT.resolve())


def test_owned_job_is_private(api, users, django_capture_on_commit_callbacks):
    api.force_authenticate(users["alice"])
    body = post_image(api, django_capture_on_commit_callbacks).json()
    job_url = f"/api/jobs/{body['id']}/"
    download = api.get(job_url).json()["urls"]["downloads"]["result.tif"]
    assert DenoiseJob.objects.get().owner == users["alice"]
    assert api.get(job_url).status_code == 200
    for intruder in (None, users["bob"]):
        api.force_authenticate(intruder)
        assert api.get(job_url).status_code == 404
        assert api.get(download).status_code == 404
        assert api.get(f"{job_url}profile/?x0=0&y0=0&x1=5&y1=5").status_code == 404
        assert api.delete(job_url).status_code == 404
    api.force_authenticate(users["staff"])
    assert api.get(job_url).status_code == 200


def test_anonymous_job_is_reachable_by_its_link_only(api, django_capture_on_commit_callbacks):
    body = post_image(api, django_capture_on_commit_callbacks).json()
    assert body["id"] and len(body["id"]) == 36
    other = APIClient()
    assert other.get(f"/api/jobs/{body['id']}/").status_code == 200
    assert other.get("/api/jobs/").status_code in (401, 403)  # no listing for anonymous users
    assert other.get("/api/jobs/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert other.get("/api/jobs/not-a-uuid/").status_code == 404


def test_token_auth_and_job_list(users, django_capture_on_commit_callbacks):
    token = Token.objects.create(user=users["bob"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    body = post_image(api, django_capture_on_commit_callbacks).json()
    assert DenoiseJob.objects.get(pk=body["id"]).owner == users["bob"]
    other = APIClient()
    other.force_authenticate(users["alice"])
    post_image(other, django_capture_on_commit_callbacks, execute=False)
    listed = api.get("/api/jobs/").json()
    assert [job["id"] for job in listed] == [body["id"]]


def test_session_auth_requires_csrf(users, django_capture_on_commit_callbacks):
    api = APIClient(enforce_csrf_checks=True)
    api.login(username="alice", password="pw-alice-123")
    response = api.post(
        "/api/denoise/", {"file": npy_upload(lattice_image()), "classifier": "mp"}, format="multipart"
    )
    assert response.status_code == 403
    assert DenoiseJob.objects.count() == 0


def test_delete_job(api, django_capture_on_commit_callbacks):
    body = post_image(api, django_capture_on_commit_callbacks).json()
    folder = job_files.job_path(DenoiseJob.objects.get())
    assert api.delete(f"/api/jobs/{body['id']}/").status_code == 204
    assert not folder.exists() and DenoiseJob.objects.count() == 0


def test_line_profile(api, django_capture_on_commit_callbacks):
    body = post_image(api, django_capture_on_commit_callbacks).json()
    url = f"/api/jobs/{body['id']}/profile/"
    profile = api.get(url, {"x0": 0, "y0": 2, "x1": 63, "y1": 2}).json()
    assert profile["unit"] == "px"
    assert len(profile["distance"]) == len(profile["input"]) == len(profile["output"]) == 64
    np.testing.assert_allclose(profile["input"], lattice_image()[2, :], atol=1e-4)
    output = np.load(job_files.job_path(DenoiseJob.objects.get(), job_files.RESULT_NPY))
    np.testing.assert_allclose(profile["output"], output[2, :], atol=1e-4)
    clipped = api.get(url, {"x0": -50, "y0": 0, "x1": 500, "y1": 0}).json()
    assert clipped["start"] == [0.0, 0.0] and clipped["end"] == [63.0, 0.0]
    assert api.get(url, {"x0": "nan", "y0": 0, "x1": 1, "y1": 1}).status_code == 400
    assert api.get(url, {"x0": 1}).status_code == 400


def test_profile_in_angstrom_when_pixel_size_is_known(api, django_capture_on_commit_callbacks):
    body = post_image(api, django_capture_on_commit_callbacks).json()
    DenoiseJob.objects.filter(pk=body["id"]).update(pixel_size_row=0.5, pixel_size_col=0.5)
    profile = api.get(f"/api/jobs/{body['id']}/profile/", {"x0": 0, "y0": 0, "x1": 10, "y1": 0}).json()
    assert profile["unit"] == "Å" and profile["distance"][-1] == pytest.approx(5.0)


def test_openapi_schema_documents_the_endpoints(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json() if "json" in response["Content-Type"] else None
    text = response.content.decode()
    for path in ("/api/denoise/", "/api/jobs/{job_id}/", "/api/jobs/{job_id}/download/{name}/",
                 "/api/jobs/{job_id}/profile/"):
        assert path in text
    if schema is not None:
        assert "multipart/form-data" in schema["paths"]["/api/denoise/"]["post"]["requestBody"]["content"]
