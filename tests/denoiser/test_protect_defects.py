"""The "protect rare defects" option: the best method without its coarse pilot.

Default off on the form and the API; on, the worker runs ``denoise(..., pilot=None)``
and records it; refused with "paper"; dropped with a note after a fall-back to "paper".
"""
from __future__ import annotations

import numpy as np
import pytest
import tifffile
from django.utils.html import escape

from denoiser import job_files, methods, services
from denoiser.forms import DenoiseForm
from denoiser.models import DenoiseJob, JobStatus

from .conftest import lattice_image, no_job_left, npy_upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]

#: Big enough for several groups of similar patches and a coarse pilot, small enough
#: to run in well under a second.
IMAGE_SIDE = 96


def test_form_default_is_off():
    form = DenoiseForm(
        data={"classifier": "noise-edge", "seed": 0},
        files={"file": npy_upload(lattice_image())},
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["protect_defects"] is False
    checked = DenoiseForm(
        data={"classifier": "noise-edge", "seed": 0, "protect_defects": "on"},
        files={"file": npy_upload(lattice_image())},
    )
    assert checked.is_valid(), checked.errors
    assert checked.cleaned_data["protect_defects"] is True


@pytest.mark.parametrize("fields", [{}, {"method": "best"}, {"protect_defects": "false"}])
def test_api_default_is_off(api, django_capture_on_commit_callbacks, fields):
    with django_capture_on_commit_callbacks(execute=False):
        response = api.post(
            "/api/denoise/", {"file": npy_upload(lattice_image()), **fields}, format="multipart"
        )
    assert response.status_code == 201, response.content
    assert response.json()["protect_defects"] is False
    assert DenoiseJob.objects.get().protect_defects is False


def test_page_form_default_is_off_and_a_ticked_box_is_stored(
    client, django_capture_on_commit_callbacks
):
    base = {"method": "best", "method_preset": "best", "classifier": "noise-edge", "seed": 0}
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post("/denoise/", {"file": npy_upload(lattice_image()), **base})
    assert response.status_code == 302
    assert DenoiseJob.objects.get().protect_defects is False
    DenoiseJob.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post("/denoise/", {"file": npy_upload(lattice_image()), **base,
                                             "protect_defects": "on"})
    assert response.status_code == 302
    job = DenoiseJob.objects.get()
    assert (job.method, job.protect_defects) == ("best", True)


def test_core_options_turn_off_the_pilot_only():
    protected = methods.core_options("best", protect_defects=True)
    assert protected == {**methods.core_options("best"), "pilot": None}
    with pytest.raises(ValueError, match="'best' method only"):
        methods.core_options("paper", protect_defects=True)


def test_protected_job_runs_without_the_pilot_and_says_so(
    api, django_capture_on_commit_callbacks
):
    image = lattice_image(IMAGE_SIDE, seed=5)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/denoise/", {"file": npy_upload(image), "protect_defects": "true"},
            format="multipart",
        )
    assert response.status_code == 201, response.content
    assert response.json()["protect_defects"] is True
    job = DenoiseJob.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.DONE, job.error
    assert (job.method, job.classifier_choice, job.protect_defects) == (
        "best", "noise-edge", True)
    diagnostics = job.diagnostics
    assert diagnostics["protect_defects"] is True
    assert diagnostics["core"]["options"]["variant"]["pilot"] is None
    assert diagnostics["variant"]["pilot"] is None
    assert diagnostics["variant"]["grouping"] == "similar" and diagnostics["groups"]["passes"] == 2

    # the output is the core's default variant without the pilot, and not the default
    from denoiser.reucid import denoise

    output = tifffile.imread(job_files.job_path(job, job_files.RESULT_TIFF))
    np.testing.assert_allclose(output, denoise(image, pilot=None).image, atol=1e-5)
    assert not np.allclose(output, denoise(image).image, atol=1e-3)

    # the page shows the option in the header and the pilot row
    html = api.get(f"/denoise/jobs/{job.pk}/").content.decode()
    assert 'data-test="job-protect-defects"' in html
    assert 'data-test="number-pilot"' in html and "none: rare defects protected" in html
    assert "2×2-binned" not in html


def test_unprotected_job_page_has_no_protect_note(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/denoise/", {"file": npy_upload(lattice_image(IMAGE_SIDE, seed=5))},
            format="multipart",
        )
    job = DenoiseJob.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.DONE, job.error
    assert job.diagnostics["protect_defects"] is False
    assert job.diagnostics["core"]["options"]["variant"]["pilot"] == "coarse"
    html = api.get(f"/denoise/jobs/{job.pk}/").content.decode()
    assert 'data-test="job-protect-defects"' not in html
    assert "rare defects protected" not in html and "2×2-binned" in html


def test_api_refuses_protect_defects_with_paper(api, settings, scratch_files):
    response = api.post(
        "/api/denoise/",
        {"file": npy_upload(lattice_image()), "method": "paper", "classifier": "mp",
         "protect_defects": "true"},
        format="multipart",
    )
    assert response.status_code == 400, response.content
    detail = response.json()["detail"]
    assert "'best' method only" in detail and "choose the 'best' method" in detail
    assert no_job_left(settings) and scratch_files() == []


def test_page_form_refuses_protect_defects_with_paper(client, settings, scratch_files):
    response = client.post("/denoise/", {
        "file": npy_upload(lattice_image()), "method": "paper", "classifier": "mp",
        "seed": 0, "protect_defects": "on"})
    assert response.status_code == 400
    assert escape("'best' method only") in response.content.decode()
    assert no_job_left(settings) and scratch_files() == []


def test_fallback_to_paper_drops_protect_defects_with_a_note(
    api, settings, django_capture_on_commit_callbacks
):
    settings.REUCID_BEST_MAX_PIXELS = 64 * 64 - 1
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/denoise/", {"file": npy_upload(lattice_image()), "protect_defects": "true"},
            format="multipart",
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["method"] == "paper" and body["protect_defects"] is False
    assert "larger than the best method accepts" in body["method_note"]
    assert methods.PROTECT_DEFECTS_DROPPED_NOTE in body["method_note"]
    job = DenoiseJob.objects.get(pk=body["id"])
    assert job.status == JobStatus.DONE, job.error
    assert job.diagnostics["protect_defects"] is False
    assert job.diagnostics["variant"]["grouping"] == "random"
    services.delete_job(job)
    # without the option the note does not mention it
    response = api.post("/api/denoise/", {"file": npy_upload(lattice_image())},
                        format="multipart")
    assert methods.PROTECT_DEFECTS_DROPPED_NOTE not in response.json()["method_note"]


def test_upload_page_and_schema_explain_the_option(client, api):
    html = client.get("/denoise/").content.decode()
    assert 'name="protect_defects"' in html
    assert 'data-test="protect-defects-input">' in html  # not checked by default
    assert escape(methods.PROTECT_DEFECTS_HELP) in html
    assert "keeps more of a rare defect" in methods.PROTECT_DEFECTS_HELP.lower()
    assert "removes less noise" in methods.PROTECT_DEFECTS_HELP

    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    schema = response.json()
    request = schema["paths"]["/api/denoise/"]["post"]["requestBody"]["content"]
    reference = request["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[-1]
    field = schema["components"]["schemas"][reference]["properties"]["protect_defects"]
    assert field["type"] == "boolean" and field["default"] is False
    assert "removes less noise" in field["description"]
    assert "protect_defects" in schema["components"]["schemas"]["Job"]["properties"]
