"""The "method" option: "best" (default, the core's best variant) or "paper" (fast).

Validation of method/classifier combinations on the API and the page, the default and
its fall-back to "paper" for an image too large for "best", and a "best" job run end to
end (eager) on a small synthetic lattice with compact diagnostics.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from django.utils.html import escape

from denoiser import job_files, methods, runner, services
from denoiser.classifier_choice import NO_GROUP_MODEL_NOTE
from denoiser.models import DenoiseJob, JobStatus
from denoiser.reucid import denoise, method_options
from denoiser.reucid.selection import group_cnn
from denoiser.reucid.selection.group_cnn import GroupEigenpatchNet, save_group_classifier
from training import services as training_services

from .conftest import lattice_image, no_job_left, npy_upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]

#: Big enough for several groups of similar patches, small enough to run in well under 1 s.
BEST_IMAGE_SIDE = 96


@pytest.mark.parametrize(
    "fields, words",
    [
        ({"method": "fast"}, 'is not a method: choose "best" (default) or "paper"'),
        ({"method": "paper", "classifier": "noise-edge"}, "noise-edge rule needs"),
        ({"method": "paper", "classifier": "noise-edge"}, "with the 'paper' method choose"),
        # without a method the default ("best") is what the options must fit
        ({"classifier": "k=all"}, "defeats the 'best' method"),
        ({"n_stacks": 4}, "or choose the 'paper' method"),
        ({"method": "best", "classifier": "k=all"}, "defeats the 'best' method"),
        ({"method": "best", "n_stacks": 4}, "applies to the 'paper' method only"),
        ({"method": "best", "patch_size": 21}, "at most 15 pixels (got 21)"),
        ({"method": "best", "classifier": "magic"}, "Unknown classifier"),
    ],
)
def test_api_refuses_bad_combinations_with_a_clear_400(api, fields, words, settings, scratch_files):
    data = {"file": npy_upload(lattice_image()), **fields}
    response = api.post("/api/denoise/", data, format="multipart")
    assert response.status_code == 400, response.content
    assert words in response.json()["detail"]
    assert no_job_left(settings) and scratch_files() == []


def test_best_refuses_images_above_its_pixel_limit(api, settings, scratch_files):
    settings.REUCID_BEST_MAX_PIXELS = 64 * 64 - 1
    response = api.post(
        "/api/denoise/", {"file": npy_upload(lattice_image()), "method": "best"},
        format="multipart",
    )
    assert response.status_code == 400
    assert "'best' method accepts images of at most" in response.json()["detail"]
    assert "use the 'paper' method" in response.json()["detail"]
    assert no_job_left(settings) and scratch_files() == []
    # the same image is fine with the paper's method
    response = api.post(
        "/api/denoise/",
        {"file": npy_upload(lattice_image()), "method": "paper", "classifier": "mp"},
        format="multipart",
    )
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    "fields, choice",
    [
        ({"method": "best"}, "noise-edge"),
        ({"method": "best", "classifier": ""}, "noise-edge"),
        ({"method": "best", "classifier": "MP"}, "mp"),
        ({"method": "best", "classifier": "gd"}, "gd"),
        ({"method": "best", "classifier": "k=3"}, "k=3"),
    ],
)
def test_api_accepts_best_with_its_classifiers(api, django_capture_on_commit_callbacks,
                                               fields, choice):
    with django_capture_on_commit_callbacks(execute=False):
        response = api.post(
            "/api/denoise/", {"file": npy_upload(lattice_image()), **fields}, format="multipart"
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["method"] == "best" and body["classifier"] == choice
    job = DenoiseJob.objects.get(pk=body["id"])
    assert job.method == "best" and job.classifier_choice == choice


@pytest.fixture
def no_group_model(monkeypatch, tmp_path):
    """No group classifier anywhere: neither an active record nor a shipped file."""
    monkeypatch.setattr(group_cnn, "GROUP_SHIPPED_MODEL_PATH", tmp_path / "no-group.pt")


@pytest.mark.parametrize("fields", [{}, {"method": ""}, {"classifier": ""}])
def test_without_a_group_model_best_runs_the_noise_edge_rule_and_says_so(
        api, django_capture_on_commit_callbacks, fields, no_group_model):
    with django_capture_on_commit_callbacks(execute=False):
        response = api.post(
            "/api/denoise/", {"file": npy_upload(lattice_image()), **fields}, format="multipart"
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["method"], body["classifier"], body["method_note"]) == (
        "best", "noise-edge", NO_GROUP_MODEL_NOTE)
    job = DenoiseJob.objects.get()
    assert (job.method, job.classifier_choice) == ("best", "noise-edge")


@pytest.mark.parametrize("fields", [{}, {"method": ""}, {"classifier": ""}])
def test_an_upload_with_no_options_runs_best_with_the_active_group_model(
        api, django_capture_on_commit_callbacks, fields, no_group_model, tmp_path):
    # torch (heavy) only when this runs
    import torch

    torch.manual_seed(0)
    path = save_group_classifier(GroupEigenpatchNet(), tmp_path / "group.pt",
                                 metadata={"name": "votes v2"})
    record = training_services.register_classifier_file(path, name="votes v2")
    training_services.activate_classifier(record)
    with django_capture_on_commit_callbacks(execute=False):
        response = api.post(
            "/api/denoise/", {"file": npy_upload(lattice_image()), **fields}, format="multipart"
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["method"], body["classifier"], body["method_note"]) == ("best", "active", "")
    job = DenoiseJob.objects.get()
    assert record.kind == "group" and f"#{record.pk}" in job.model_version
    assert "votes v2" in job.model_version
    assert training_services.sha256_of(Path(job.classifier_spec)) == record.sha256


def test_methods_select_the_cores_variants():
    # the core's own default is "best", so "paper" must be named to get the paper's pipeline
    paper = methods.core_options("paper", n_units=3, device="cpu")
    best = methods.core_options("best", n_units=3, device="cuda")
    assert paper == {"variant": "paper", "n_stacks": 3, "device": "cpu"}
    assert best == {"variant": "best", "n_groups": 3}  # the default method runs on the CPU
    assert set(paper) - {"variant"} <= set(method_options("paper"))
    assert set(best) - {"variant"} <= set(method_options("best"))
    assert methods.normalise_method(None) == methods.DEFAULT_METHOD == "best"


def test_openapi_schema_gives_best_as_the_default_method(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    request = schema["paths"]["/api/denoise/"]["post"]["requestBody"]["content"]
    reference = request["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[-1]
    method = schema["components"]["schemas"][reference]["properties"]["method"]
    assert method["default"] == "best"
    assert "falls back" in method["description"]
    job_fields = schema["components"]["schemas"]["Job"]["properties"]
    assert "method_note" in job_fields


def test_explicit_paper_runs_the_papers_pipeline(api, django_capture_on_commit_callbacks):
    image = lattice_image(seed=3)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/denoise/",
            {"file": npy_upload(image), "method": "paper", "classifier": "mp", "seed": 3},
            format="multipart",
        )
    assert response.status_code == 201, response.content
    job = DenoiseJob.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.DONE, job.error
    assert (job.method, job.method_note) == ("paper", "")
    variant = job.diagnostics["variant"]
    assert variant["grouping"] == "random" and variant["passes"] == 1
    assert variant["stabilize"] is None and variant["pilot"] is None
    assert "groups" not in job.diagnostics and job.n_stacks == job.diagnostics["n_stacks"]

    paper = denoise(image, classifier="mp", seed=3, variant="paper")
    output = tifffile.imread(job_files.job_path(job, job_files.RESULT_TIFF))
    np.testing.assert_allclose(output, paper.image, atol=1e-5)
    # the page has neither a pilot nor a fall-back note
    html = api.get(f"/denoise/jobs/{job.pk}/").content.decode()
    assert "method: paper" in html
    assert 'data-test="number-pilot"' not in html and 'data-test="method-note"' not in html


@pytest.mark.parametrize("fields", [{}, {"classifier": "noise-edge"}, {"classifier": "gd"}])
def test_image_too_large_for_best_falls_back_to_paper_without_a_chosen_method(
    api, settings, django_capture_on_commit_callbacks, fields
):
    settings.REUCID_BEST_MAX_PIXELS = 64 * 64 - 1
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/denoise/", {"file": npy_upload(lattice_image()), **fields}, format="multipart"
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["method"] == "paper"
    assert "larger than the best method accepts" in body["method_note"]
    assert "64 × 64" in body["method_note"]
    job = DenoiseJob.objects.get(pk=body["id"])
    assert job.status == JobStatus.DONE, job.error
    assert job.diagnostics["variant"]["grouping"] == "random"
    # an unnamed classifier and the noise-edge rule (best only) become the paper's
    # default; any other choice is kept
    if fields.get("classifier") == "gd":
        assert job.classifier_choice == "gd"
    else:
        assert job.classifier_choice in ("active", "mp")  # "mp" where no model exists
    assert ("noise-edge rule works with the best method only" in job.method_note) == (
        fields == {"classifier": "noise-edge"})
    html = api.get(f"/denoise/jobs/{job.pk}/").content.decode()
    assert 'data-test="method-note"' in html and escape(job.method_note) in html


def test_page_form_falls_back_to_paper_for_its_preset_but_refuses_a_chosen_best(
    client, settings, django_capture_on_commit_callbacks
):
    settings.REUCID_BEST_MAX_PIXELS = 64 * 64 - 1
    # without JavaScript the page posts its preselected "best": not a choice
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post("/denoise/", {
            "file": npy_upload(lattice_image()), "method": "best", "method_preset": "best",
            "classifier": "noise-edge", "seed": 0})
    assert response.status_code == 302
    job = DenoiseJob.objects.get()
    assert job.method == "paper" and "larger than the best method accepts" in job.method_note
    services.delete_job(job)
    # "best" without the page's preset was chosen: refused, with the way out
    refused = client.post("/denoise/", {
        "file": npy_upload(lattice_image()), "method": "best", "classifier": "noise-edge",
        "seed": 0})
    assert refused.status_code == 400
    assert "use the &#x27;paper&#x27; method" in refused.content.decode()
    assert no_job_left(settings)


def test_page_form_submits_best_and_refuses_noise_edge_with_paper(
    client, settings, django_capture_on_commit_callbacks
):
    refused = client.post(
        "/denoise/",
        {"file": npy_upload(lattice_image()), "method": "paper", "classifier": "noise-edge",
         "seed": 0},
    )
    assert refused.status_code == 400
    assert "noise-edge rule needs" in refused.content.decode()
    assert no_job_left(settings)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/denoise/",
            {"file": npy_upload(lattice_image()), "method": "best", "classifier": "noise-edge",
             "seed": 0},
        )
    assert response.status_code == 302
    job = DenoiseJob.objects.get()
    assert (job.method, job.classifier_choice) == ("best", "noise-edge")
    assert job.status == JobStatus.DONE, job.error


@pytest.mark.parametrize("fields", [{}, {"method": "best", "method_preset": "best"}])
def test_best_is_the_default_of_the_page_form(client, django_capture_on_commit_callbacks,
                                              fields):
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post("/denoise/", {
            "file": npy_upload(lattice_image()), "classifier": "noise-edge", "seed": 0,
            **fields})
    assert response.status_code == 302
    job = DenoiseJob.objects.get()
    assert (job.method, job.classifier_choice, job.method_note) == ("best", "noise-edge", "")


def test_upload_page_explains_both_methods(client):
    html = client.get("/denoise/").content.decode()
    assert 'id="method-paper"' in html and 'id="method-best"' in html
    assert 'value="best" data-test="method-best" checked' in html
    assert 'data-test="method-paper" checked' not in html
    assert '<input type="hidden" name="method_preset" id="method-preset" value="best">' in html
    assert html.index('id="method-best"') < html.index('id="method-paper"')
    assert "fast live view" in html and "Best quality (default)" in html
    for sentence in methods.METHOD_TRADE_OFFS.values():
        assert escape(sentence) in html
    # without JavaScript the classifier matches the preselected method
    assert '<option value="noise-edge" data-method="best" selected>' in html


def test_best_job_runs_end_to_end_with_small_diagnostics(
    api, django_capture_on_commit_callbacks, monkeypatch
):
    interim_steps: list[tuple[int, int]] = []
    writer = runner._progress_writer

    def counting_writer(job):
        record = writer(job)

        def counted(interim):
            interim_steps.append((int(interim.step), int(interim.n_steps)))
            record(interim)

        return counted

    monkeypatch.setattr(runner, "_progress_writer", counting_writer)
    image = lattice_image(BEST_IMAGE_SIDE, seed=4)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/denoise/", {"file": npy_upload(image), "method": "best", "seed": 2},
            format="multipart",
        )
    assert response.status_code == 201, response.content
    job = DenoiseJob.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.DONE, job.error
    assert (job.method, job.classifier_choice) == ("best", "noise-edge")

    # progress: about 16 interim results per pass, counted over groups x passes
    diagnostics = job.diagnostics
    groups = diagnostics["groups"]
    assert groups["passes"] == 2 and groups["n_groups"] > 1
    assert job.n_stacks == job.stacks_done == interim_steps[-1][1]
    assert interim_steps[-1][0] == interim_steps[-1][1]
    assert 2 <= len(interim_steps) <= 2 * 16 + 1
    assert [done for done, _ in interim_steps] == sorted(done for done, _ in interim_steps)

    # the output is the core's BEST variant with the noise-edge rule, bit for bit
    from denoiser.reucid import denoise

    reference = denoise(image, classifier="noise-edge", seed=2)
    output = tifffile.imread(job_files.job_path(job, job_files.RESULT_TIFF))
    np.testing.assert_allclose(output, reference.image, atol=1e-5)
    assert float(np.std(output - image)) < float(np.std(image))

    # diagnostics stay small: a summary of all groups, eigenvalues of a few, no eigenpatches
    size = len(json.dumps(diagnostics))
    assert size < 16_000, size
    assert "eigenpatches" not in json.dumps(diagnostics)
    assert diagnostics["method"] == "best"
    assert diagnostics["core"]["options"]["variant"] == runner.variant_metadata("best")
    assert diagnostics["variant"]["pilot"] == "coarse"
    # the coarse scales are the data's (issue 14): recorded from the core, said on the page
    assert diagnostics["core"]["options"]["local_means"] is True
    assert diagnostics["variant"]["local_means"] is True
    html = api.get(f"/denoise/jobs/{job.pk}/").content.decode()
    assert 'data-test="local-means-note"' in html
    assert "integrated intensity is the data's own" in html
    pilot = diagnostics["core"]["options"]["pilot"]
    assert pilot["kind"] == "coarse" and pilot["patch_size"] >= 3
    assert {"slope", "intercept", "gain", "sigma", "offset"} == set(
        diagnostics["core"]["options"]["noise_model"])
    assert len(diagnostics["kept_per_stack"]) == groups["n_groups"] == len(reference.last_pass)
    assert diagnostics["kept_per_stack"] == [g.n_kept for g in reference.last_pass]
    assert sum(groups["kept_histogram"]) == groups["n_groups"]
    assert groups["n_components"] == diagnostics["patch_size"] ** 2
    shown = diagnostics["stacks"]
    assert len(shown) == min(runner.GROUPS_SHOWN, groups["n_groups"])
    assert len({s["group"] for s in shown}) == len(shown)
    # the groups that kept most, and the largest one
    assert shown[0]["n_kept"] == max(diagnostics["kept_per_stack"])
    assert max(s["n_patches"] for s in shown) == groups["patches_per_group"]["max"]
    for stack in shown:
        assert len(stack["eigenvalues"]) == len(stack["kept"]) == groups["n_components"]
        assert stack["n_kept"] == sum(stack["kept"])
    assert diagnostics["galleries"] == len(shown)
    for index in range(len(shown)):
        assert job_files.job_path(job, job_files.gallery_name(index)).is_file()

    # the page shows the method, the group summary and explains the grouped scree plot
    html = api.get(f"/denoise/jobs/{job.pk}/").content.decode()
    assert "method: best" in html and escape(methods.METHOD_TRADE_OFFS["best"]) in html
    assert f"{groups['n_groups']} groups of similar patches × 2 passes" in html
    assert 'data-test="grouped-scree-note"' in html and 'data-test="kept-histogram"' in html
    assert "Noise model" in html and "counts per electron" in html and "variance ≈" not in html
    # the residual is normalised by the model's sigma and the caption says so
    assert "Residual ÷ noise σ" in html and 'data-test="residual-normalised-std"' in html
    assert api.get(f"/denoise/jobs/{job.pk}/image/residual-normalised/").status_code == 200
    assert 'data-test="number-pilot"' in html
    assert f"{pilot['patch_size']} × {pilot['patch_size']} px patches" in html
    assert html.count('data-kept="') == sum(len(s["kept"]) for s in shown)
    assert api.get(f"/api/jobs/{job.pk}/").json()["method"] == "best"


def test_best_job_with_the_trained_model(api, django_capture_on_commit_callbacks, settings,
                                        no_group_model, tmp_path):
    """The active group classifier judges each group's leading eigenpatches."""
    # torch (heavy) only when this runs
    import torch

    torch.manual_seed(0)
    path = save_group_classifier(GroupEigenpatchNet(), tmp_path / "group.pt",
                                 metadata={"name": "g1"})
    training_services.activate_classifier(
        training_services.register_classifier_file(path, name="g1"))
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/denoise/",
            {"file": npy_upload(lattice_image(64)), "method": "best", "classifier": "active"},
            format="multipart",
        )
    assert response.status_code == 201, response.content
    job = DenoiseJob.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.DONE, job.error
    assert job.diagnostics["core"]["classifier"] == "group:g1"
    assert job.diagnostics["groups"]["n_groups"] >= 1


