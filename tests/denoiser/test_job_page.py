"""The job page and API for a microscopist: warnings, noise model, residual, versions, .hspy."""
from __future__ import annotations

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from scipy.ndimage import gaussian_filter

from denoiser import job_files
from denoiser.models import DenoiseJob
from denoiser.reucid import write_tiff
from tests.image_files import write_image_file

from .conftest import lattice_image, npy_upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]


def submit(api, capture, upload, **fields):
    data = {"file": upload, "method": "paper", "classifier": "mp", **fields}
    with capture(execute=True):
        response = api.post("/api/denoise/", data, format="multipart")
    assert response.status_code == 201, response.content
    return DenoiseJob.objects.get(pk=response.json()["id"])


def blurred_photo(size: int = 128) -> np.ndarray:
    """A 'photo': smooth blobs, a PSF-like autocorrelation lobe but nothing repeating."""
    blobs = gaussian_filter(np.random.default_rng(4).random((size, size)), 4) * 4000
    return np.random.default_rng(5).poisson(np.maximum(blobs, 0)).astype(np.float32)


def gradient(size: int = 96) -> np.ndarray:
    y, x = np.mgrid[:size, :size]
    return np.random.default_rng(4).poisson((x + y) / 4.0 + 10).astype(np.float32)


def test_an_image_without_lattice_still_runs_and_is_flagged(
        api, django_capture_on_commit_callbacks):
    job = submit(api, django_capture_on_commit_callbacks, npy_upload(blurred_photo(), "photo.npy"))
    status = api.get(f"/api/jobs/{job.pk}/").json()
    assert status["status"] == "done"  # asked for, so it ran
    assert status["lattice"]["ok"] is False and status["lattice"]["psf_found"] is True
    assert len(status["warnings"]) == 1 and "No lattice found" in status["warnings"][0]
    html = api.get(f"/denoise/jobs/{job.pk}/").content.decode()
    assert 'data-test="lattice-warning"' in html and "No lattice found" in html


def test_an_image_without_psf_runs_when_a_patch_size_is_given(
        api, django_capture_on_commit_callbacks):
    job = submit(api, django_capture_on_commit_callbacks, npy_upload(gradient(), "grad.npy"),
                 patch_size=9)
    status = api.get(f"/api/jobs/{job.pk}/").json()
    assert status["status"] == "done"
    assert status["warnings"] and not status["lattice"]["lattice_found"]


def test_a_lattice_gives_no_warning(api, django_capture_on_commit_callbacks):
    job = submit(api, django_capture_on_commit_callbacks, npy_upload(lattice_image(96)))
    status = api.get(f"/api/jobs/{job.pk}/").json()
    assert status["warnings"] == [] and status["lattice"]["ok"] is True
    assert 'data-test="lattice-warning"' not in api.get(f"/denoise/jobs/{job.pk}/").content.decode()


def test_model_version_is_shown_for_models_only(api, django_capture_on_commit_callbacks):
    rule = submit(api, django_capture_on_commit_callbacks, npy_upload(lattice_image()))
    html = api.get(f"/denoise/jobs/{rule.pk}/").content.decode()
    assert "Model version" not in html and 'data-test="number-model"' not in html
    model = submit(api, django_capture_on_commit_callbacks, npy_upload(lattice_image()),
                   classifier="active")
    html = api.get(f"/denoise/jobs/{model.pk}/").content.decode()
    assert 'data-test="number-model"' in html and model.model_version


def test_paper_residual_caption_does_not_promise_what_poisson_noise_breaks(
        api, django_capture_on_commit_callbacks):
    job = submit(api, django_capture_on_commit_callbacks, npy_upload(lattice_image()))
    html = api.get(f"/denoise/jobs/{job.pk}/").content.decode()
    assert "no lattice in it" not in html
    assert "not normalised" in html


def test_result_downloads_as_hspy_with_the_inputs_axes_and_metadata(
        api, django_capture_on_commit_callbacks, tmp_path):
    pytest.importorskip("rsciio.hspy")
    # rosettasciio (optional) only for its formats
    from rsciio.hspy import file_reader

    path = write_image_file("hspy", tmp_path, lattice_image(64), pixel_size_nm=0.05)
    job = submit(api, django_capture_on_commit_callbacks,
                 SimpleUploadedFile("frame.hspy", path.read_bytes()))
    response = api.get(f"/api/jobs/{job.pk}/download/result.hspy/")
    assert response.status_code == 200
    assert "frame_reucid_result.hspy" in response["Content-Disposition"]
    target = tmp_path / "downloaded.hspy"
    target.write_bytes(b"".join(response.streaming_content))
    signal = file_reader(str(target))[0]
    result = np.load(job_files.job_path(job, job_files.RESULT_NPY))
    np.testing.assert_array_equal(signal["data"], result)
    assert [(a["name"], a["scale"], a["units"]) for a in signal["axes"]] == [
        ("y", 0.05, "nm"), ("x", 0.05, "nm")]
    assert signal["original_metadata"]["Microscope"]["voltage_kV"] == 300
    assert signal["metadata"]["General"]["title"] == "test frame, denoised by REUCID"
    assert signal["metadata"]["Processing"]["REUCID"]["classifier"] == "mp"
    # a retry keeps the input record; the download is made again from the new result
    assert job_files.job_path(job, job_files.INPUT_RECORD).is_file()


def test_hspy_of_a_tiff_takes_its_calibration_from_the_pixel_size(
        api, django_capture_on_commit_callbacks, tmp_path):
    pytest.importorskip("rsciio.hspy")
    # rosettasciio (optional) only for its formats
    from rsciio.hspy import file_reader

    write_tiff(tmp_path / "a.tif", lattice_image(48), pixel_size=(0.3, 0.3))
    job = submit(api, django_capture_on_commit_callbacks,
                 SimpleUploadedFile("a.tif", (tmp_path / "a.tif").read_bytes()))
    response = api.get(f"/api/jobs/{job.pk}/download/result.hspy/")
    target = tmp_path / "d.hspy"
    target.write_bytes(b"".join(response.streaming_content))
    axes = file_reader(str(target))[0]["axes"]
    assert [(a["scale"], a["units"]) for a in axes] == [(0.3, "Å"), (0.3, "Å")]
