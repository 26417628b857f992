"""Jobs end to end through the real Celery task (eager): submit, progress, results, failures."""
from __future__ import annotations

import types

import numpy as np
import pytest
import tifffile
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

import denoiser.reucid as core
import training.selectors
from denoiser import job_files, runner, services
from denoiser.classifier_choice import ClassifierUnavailable, active_model
from denoiser.models import DenoiseJob, JobStatus
from denoiser.reucid import denoise, read_image
from denoiser.reucid.errors import ModelLoadError
from denoiser.reucid.selection import cnn
from denoiser.reucid.selection.cnn import EigenpatchCNN, save_classifier
from denoiser.uploads import UploadRejected
from reucid_site.celery import app

from .conftest import lattice_image, npy_upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]


def submit(django_capture_on_commit_callbacks, *, execute=True, image=None, **options):
    # these tests follow the paper's stacks (progress per stack, d, galleries)
    options.setdefault("method", "paper")
    options.setdefault("classifier", "mp")
    upload = npy_upload(lattice_image() if image is None else image)
    with django_capture_on_commit_callbacks(execute=execute) as callbacks:
        job = services.submit_job(uploaded=upload, **options)
    job.refresh_from_db()
    return job, callbacks


def test_submit_stores_input_and_enqueues_on_commit(django_capture_on_commit_callbacks):
    job, callbacks = submit(django_capture_on_commit_callbacks, execute=False)
    assert len(callbacks) == 1
    assert job.status == JobStatus.QUEUED
    assert (job.height, job.width) == (64, 64)
    stored = np.load(job_files.job_path(job, job_files.INPUT_NPY))
    np.testing.assert_array_equal(stored, lattice_image())
    assert job_files.job_path(job, job_files.INPUT_PREVIEW).is_file()


def test_job_runs_to_done_with_results_and_diagnostics(django_capture_on_commit_callbacks):
    job, _ = submit(django_capture_on_commit_callbacks, seed=3)
    assert job.status == JobStatus.DONE, job.error
    assert job.attempts == 1 and job.error == ""
    diagnostics = job.diagnostics
    assert diagnostics["patch_size"] >= 3 and diagnostics["n_stacks"] == 1
    assert diagnostics["kept_per_stack"] == [stack["n_kept"] for stack in diagnostics["stacks"]]
    assert 0 < diagnostics["kept_per_stack"][0] < len(diagnostics["stacks"][0]["eigenvalues"])
    assert job.stacks_done == job.n_stacks == 1
    assert job.elapsed_seconds > 0

    image = lattice_image()
    output = tifffile.imread(job_files.job_path(job, job_files.RESULT_TIFF))
    residual = tifffile.imread(job_files.job_path(job, job_files.RESIDUAL_TIFF))
    assert output.dtype == np.float32 and output.shape == image.shape
    np.testing.assert_allclose(residual, image - output, atol=1e-4)
    assert float(np.std(residual)) > 0.5  # noise was removed...
    assert float(np.std(output - image)) < float(np.std(image))  # ...not the image

    reference = denoise(image, classifier="mp", seed=3, variant="paper")
    np.testing.assert_allclose(output, reference.image, atol=1e-5)
    for name in (job_files.RESULT_PNG, job_files.RESIDUAL_PNG, job_files.RESULT_PREVIEW,
                 job_files.RESIDUAL_PREVIEW, job_files.gallery_name(0)):
        assert job_files.job_path(job, name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_result_tiff_carries_pixel_size_and_diagnostics(django_capture_on_commit_callbacks):
    job, _ = submit(django_capture_on_commit_callbacks, execute=False)
    DenoiseJob.objects.filter(pk=job.pk).update(pixel_size_row=0.2, pixel_size_col=0.2)
    with django_capture_on_commit_callbacks(execute=True):
        services.requeue_job(DenoiseJob.objects.get(pk=job.pk))
    job.refresh_from_db()

    data = read_image(job_files.job_path(job, job_files.RESULT_TIFF))
    assert data.pixel_size == pytest.approx((0.2, 0.2))
    with tifffile.TiffFile(job_files.job_path(job, job_files.RESULT_TIFF)) as tif:
        text = " ".join(str(tag.value) for tag in tif.pages[0].tags.values())
    assert str(job.pk) in text and "patch_size" in text


def test_progress_and_interim_pictures_after_each_stack(
    django_capture_on_commit_callbacks, monkeypatch
):
    seen = []
    original = runner._progress_writer

    def spying_writer(job):
        record = original(job)

        def wrapped(interim):
            record(interim)
            row = DenoiseJob.objects.get(pk=job.pk)
            interim_file = job_files.job_path(job, job_files.INTERIM_PREVIEW)
            seen.append((row.status, row.stacks_done, row.n_stacks, interim_file.is_file()))

        return wrapped

    monkeypatch.setattr(runner, "_progress_writer", spying_writer)
    monkeypatch.setattr(runner, "INTERIM_MIN_INTERVAL", 0.0)
    job, _ = submit(django_capture_on_commit_callbacks, n_stacks=3, classifier="k=4")
    assert job.status == JobStatus.DONE, job.error
    assert seen == [("running", 1, 3, True), ("running", 2, 3, True), ("running", 3, 3, True)]
    assert len(job.diagnostics["stacks"]) == 3
    assert job.diagnostics["kept_per_stack"] == [4, 4, 4]


def test_status_payload_exposes_interim_picture_while_running(
    django_capture_on_commit_callbacks, monkeypatch, client
):
    payloads = []
    original = runner._progress_writer

    def spying_writer(job):
        record = original(job)

        def wrapped(interim):
            record(interim)
            payloads.append(client.get(f"/api/jobs/{job.pk}/").json())

        return wrapped

    monkeypatch.setattr(runner, "_progress_writer", spying_writer)
    submit(django_capture_on_commit_callbacks, n_stacks=2, classifier="k=3")
    assert [p["progress"]["stacks_done"] for p in payloads] == [1, 2]
    assert payloads[0]["status"] == "running"
    assert payloads[0]["progress"]["fraction"] == 0.5
    interim_url = payloads[0]["urls"]["interim_preview"]
    assert interim_url and interim_url.endswith("?v=1")


def test_fixed_k_and_gd_classifiers(django_capture_on_commit_callbacks):
    job, _ = submit(django_capture_on_commit_callbacks, classifier="k=2")
    assert job.diagnostics["kept_per_stack"] == [2]
    job, _ = submit(django_capture_on_commit_callbacks, classifier="gd")
    assert job.status == JobStatus.DONE and job.model_version.startswith("Gavish")


def _fake_training_selectors(monkeypatch, path=None, error=None, record=None):
    """The training app's public selectors answer as told (the denoiser uses only them)."""

    def active_classifier_path(kind="paper"):
        if error is not None:
            raise error
        return path

    monkeypatch.setattr(training.selectors, "active_classifier_path", active_classifier_path)
    monkeypatch.setattr(training.selectors, "active_classifier_record",
                        lambda kind="paper": record)


def test_active_model_is_used_and_its_version_recorded(
    django_capture_on_commit_callbacks, monkeypatch, tmp_path
):
    torch = pytest.importorskip("torch")

    torch.manual_seed(0)
    model_path = save_classifier(EigenpatchCNN(), tmp_path / "active.pt", metadata={"seed": 0})
    record = types.SimpleNamespace(name="survey-cnn", version="v7")
    _fake_training_selectors(monkeypatch, path=model_path, record=record)
    job, _ = submit(django_capture_on_commit_callbacks, classifier="active")
    assert job.status == JobStatus.DONE, job.error
    assert job.classifier_spec == str(model_path)
    assert job.model_version == "survey-cnn v7"
    assert job.diagnostics["model_version"] == "survey-cnn v7"


def test_active_model_missing_is_a_clear_rejection(monkeypatch, settings):
    _fake_training_selectors(monkeypatch, error=ModelLoadError("no model"))
    with pytest.raises(UploadRejected) as info:
        services.submit_job(uploaded=npy_upload(lattice_image()), classifier="active",
                            method="paper")
    assert "No trained classifier" in info.value.message and "mp" in info.value.message
    assert DenoiseJob.objects.count() == 0


def test_active_model_without_an_active_record_falls_back_to_shipped_file(monkeypatch, tmp_path):
    monkeypatch.setattr(cnn, "SHIPPED_MODEL_PATH", tmp_path / "missing.pt")
    with pytest.raises(ClassifierUnavailable):
        active_model()
    shipped = tmp_path / "shipped.pt"
    shipped.write_bytes(b"x")
    monkeypatch.setattr(cnn, "SHIPPED_MODEL_PATH", shipped)
    assert active_model() == (shipped, "shipped model")


@pytest.mark.parametrize(
    "options, words",
    [
        ({"classifier": "cnn-please"}, "Unknown classifier"),
        ({"classifier": "k=0"}, "between 1"),
        ({"patch_size": 8}, "odd"),
        ({"method": "paper", "patch_size": 45}, "does not fit"),
        ({"patch_size": 45}, "at most 15 pixels"),  # the default method, "best"
        ({"seed": -1}, "seed"),
        ({"n_stacks": 0}, "stacks"),
    ],
)
def test_bad_options_are_rejected_before_any_job(options, words, scratch_files):
    with pytest.raises(UploadRejected) as info:
        services.submit_job(uploaded=npy_upload(lattice_image()), **{"classifier": "mp", **options})
    assert words in info.value.message
    assert DenoiseJob.objects.count() == 0
    assert scratch_files() == []


def test_image_without_structure_is_rejected_when_patch_size_is_auto(settings):
    noise = np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32)
    with pytest.raises(UploadRejected) as info:
        services.submit_job(uploaded=npy_upload(noise), classifier="mp")
    assert "patch size" in info.value.message.lower()
    job_root = settings.MEDIA_ROOT / "denoise"
    assert not job_root.exists() or not any(job_root.iterdir())


def test_worker_error_marks_job_failed_with_reason(django_capture_on_commit_callbacks, monkeypatch):
    def exploding(*args, **kwargs):
        raise core.PatchSizeError("the patch does not fit")
        yield  # pragma: no cover

    monkeypatch.setattr(runner, "iter_denoise", exploding)
    job, _ = submit(django_capture_on_commit_callbacks)
    assert job.status == JobStatus.FAILED
    assert "could not be denoised: the patch does not fit" in job.error
    assert job.finished_at is not None
    assert job_files.job_path(job, job_files.INPUT_NPY).is_file()  # kept for a retry
    assert not job_files.job_path(job, job_files.RESULT_TIFF).exists()


def test_unexpected_worker_error_is_failed_not_stuck(django_capture_on_commit_callbacks, monkeypatch):

    def crashing(*args, **kwargs):
        yield from ()
        raise KeyError("bug")

    monkeypatch.setattr(runner, "iter_denoise", crashing)
    job, _ = submit(django_capture_on_commit_callbacks)
    assert job.status == JobStatus.FAILED and "Internal error" in job.error


def test_time_limit_marks_job_failed(django_capture_on_commit_callbacks, monkeypatch):

    def slow(*args, **kwargs):
        raise SoftTimeLimitExceeded()
        yield  # pragma: no cover

    monkeypatch.setattr(runner, "iter_denoise", slow)
    job, _ = submit(django_capture_on_commit_callbacks)
    assert job.status == JobStatus.FAILED and "time limit" in job.error


def test_out_of_memory_and_model_errors_have_plain_messages():
    assert "out of memory" in runner.failure_message(MemoryError())
    assert "mp" in runner.failure_message(ModelLoadError("corrupt file"))


def test_stale_or_duplicate_message_does_nothing(django_capture_on_commit_callbacks):
    job, _ = submit(django_capture_on_commit_callbacks, execute=False)
    assert runner.run_job(job.pk, task_id="not-this-job's-task") is None
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and job.attempts == 0
    assert runner.run_job(job.pk, task_id=job.task_id).status == JobStatus.DONE
    assert runner.run_job(job.pk, task_id=job.task_id) is None  # redelivered after done
    job.refresh_from_db()
    assert job.attempts == 1


def test_redelivery_after_worker_death_reruns_then_gives_up(django_capture_on_commit_callbacks, settings):
    settings.REUCID_JOB_MAX_ATTEMPTS = 2
    job, _ = submit(django_capture_on_commit_callbacks, execute=False)
    # A worker claimed it and died mid-run: the row says running, attempt 1.
    DenoiseJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, attempts=1)
    assert runner.run_job(job.pk, task_id=job.task_id).status == JobStatus.DONE
    DenoiseJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, attempts=2)
    failed = runner.run_job(job.pk, task_id=job.task_id)
    assert failed.status == JobStatus.FAILED and "stopped 2 times" in failed.error


def test_job_deleted_while_running_stops_quietly(django_capture_on_commit_callbacks, monkeypatch):
    original = runner._progress_writer

    def deleting_writer(job):
        record = original(job)

        def wrapped(interim):
            DenoiseJob.objects.filter(pk=job.pk).delete()
            record(interim)

        return wrapped

    monkeypatch.setattr(runner, "_progress_writer", deleting_writer)
    upload = npy_upload(lattice_image())
    with django_capture_on_commit_callbacks(execute=True):
        job = services.submit_job(uploaded=upload, classifier="mp")
    assert not DenoiseJob.objects.filter(pk=job.pk).exists()


def test_retry_of_failed_job_resets_attempts(django_capture_on_commit_callbacks):
    job, _ = submit(django_capture_on_commit_callbacks, execute=False)
    DenoiseJob.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, attempts=3, error="x")
    old_task = job.task_id
    with django_capture_on_commit_callbacks(execute=True):
        services.requeue_job(DenoiseJob.objects.get(pk=job.pk))
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.attempts == 1 and job.task_id != old_task


def test_delete_job_removes_row_and_files(django_capture_on_commit_callbacks):
    job, _ = submit(django_capture_on_commit_callbacks)
    folder = job_files.job_path(job)
    assert folder.is_dir()
    services.delete_job(job)
    assert not folder.exists() and not DenoiseJob.objects.filter(pk=job.pk).exists()


def test_task_is_registered_on_the_denoise_queue():
    assert "denoiser.run_denoise_job" in app.tasks
    route = settings.CELERY_TASK_ROUTES["denoiser.*"]
    assert route["queue"] == "denoise"
    task = app.tasks["denoiser.run_denoise_job"]
    assert task.acks_late and task.reject_on_worker_lost
