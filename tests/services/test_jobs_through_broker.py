"""End to end on real services: jobs go web process -> broker -> worker process -> database.

Runs in the second pass of scripts/test.sh (PostgreSQL, Redis, one real Celery worker per queue
started by tests/services/conftest.py); skipped, with the reason, in the embedded pass.
"""
from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from denoiser import job_files
from denoiser.models import DenoiseJob, JobStatus
from denoiser.reucid.simulation import add_dose_noise, simulate_haadf
from denoiser.services import submit_job
from tests.services.conftest import wait_for
from training.models import ClassifierModel, TrainingRun
from training.services import start_training_run

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

DENOISE_TIMEOUT_S = 180
TRAINING_TIMEOUT_S = 420
#: A retraining small enough for a test: a few simulated scenes, two epochs.
SMALL_TRAINING_OPTIONS = {
    "n_scenes": 6, "epochs": 2, "evaluation_scenes": 1, "shape": [64, 64], "augment": False,
    "seed": 0,
}


def simulated_upload(*, seed: int = 3) -> SimpleUploadedFile:
    """A small low-dose HAADF image from the project's own simulator, as an .npy upload."""
    simulated = simulate_haadf(
        "SrTiO3_001", shape=(96, 96), pixel_size_A=0.2, environment="bulk", rng=seed
    )
    noisy = add_dose_noise(simulated.clean, 3000.0, 0.2, rng=seed)
    buffer = io.BytesIO()
    np.save(buffer, noisy.astype(np.float32), allow_pickle=False)
    return SimpleUploadedFile("srtio3.npy", buffer.getvalue())


def job_finished(job) -> bool:
    return DenoiseJob.objects.get(pk=job.pk).status in (JobStatus.DONE, JobStatus.FAILED)


def run_finished(run) -> bool:
    status = TrainingRun.objects.get(pk=run.pk).status
    return status in (TrainingRun.Status.SUCCEEDED, TrainingRun.Status.FAILED)


#: Celery logs "succeeded" after the task has returned, i.e. after the task wrote its status to the
#: database, so a test that saw the status waits a little for the log line.
LOG_LINE_TIMEOUT_S = 30


def worker_handled(workers, queue: str, task_name: str, task_id: str) -> bool:
    """The worker of ``queue`` took this task from the broker and finished it."""
    log = workers.by_queue[queue].log_path.read_text(errors="replace")
    return (f"{task_name}[{task_id}] received" in log
            and f"{task_name}[{task_id}] succeeded" in log)


def test_denoise_job_runs_in_the_worker_through_the_broker(through_broker):
    job = submit_job(uploaded=simulated_upload(), seed=0)  # the site's default classifier

    wait_for(lambda: job_finished(job), timeout_s=DENOISE_TIMEOUT_S, workers=through_broker,
             what="the denoise job")
    job.refresh_from_db()
    assert job.status == JobStatus.DONE, job.error
    assert job.stacks_done == job.n_stacks >= 1
    # The worker wrote the result into the shared media folder ...
    result = np.load(job_files.job_path(job, job_files.RESULT_NPY), allow_pickle=False)
    assert result.shape == (job.height, job.width)
    assert np.isfinite(result).all()
    # ... and it was the denoise queue's worker that took it from the broker.
    wait_for(lambda: worker_handled(through_broker, "denoise", "denoiser.run_denoise_job",
                                    job.task_id),
             timeout_s=LOG_LINE_TIMEOUT_S, workers=through_broker,
             what="the denoise worker's log to show it received and finished the job")


def test_small_retraining_runs_in_the_worker_through_the_broker(through_broker):
    run = start_training_run(source="auto", options=SMALL_TRAINING_OPTIONS)

    wait_for(lambda: run_finished(run), timeout_s=TRAINING_TIMEOUT_S, workers=through_broker,
             what="the retraining run")
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.epoch == run.n_epochs == SMALL_TRAINING_OPTIONS["epochs"]
    # The worker registered the new model, its file in the shared media storage.
    model = ClassifierModel.objects.get(pk=run.result_id)
    assert model.file.storage.exists(model.file.name)
    wait_for(lambda: worker_handled(through_broker, "training", "training.train_classifier",
                                    run.task_id),
             timeout_s=LOG_LINE_TIMEOUT_S, workers=through_broker,
             what="the training worker's log to show it received and finished the run")


def test_upload_is_not_held_up_by_a_running_retraining(through_broker):
    """Separate queues: a denoise job submitted while a retraining runs finishes first."""
    run = start_training_run(
        source="auto", options={**SMALL_TRAINING_OPTIONS, "n_scenes": 10, "epochs": 40}
    )
    wait_for(
        lambda: TrainingRun.objects.get(pk=run.pk).status != TrainingRun.Status.QUEUED,
        timeout_s=TRAINING_TIMEOUT_S, workers=through_broker, what="the retraining to start",
    )

    job = submit_job(uploaded=simulated_upload(seed=4), classifier="mp", seed=0)
    wait_for(lambda: job_finished(job), timeout_s=DENOISE_TIMEOUT_S, workers=through_broker,
             what="the denoise job")
    run_status_when_job_done = TrainingRun.objects.get(pk=run.pk).status

    wait_for(lambda: run_finished(run), timeout_s=TRAINING_TIMEOUT_S, workers=through_broker,
             what="the retraining run")
    run.refresh_from_db()
    job = DenoiseJob.objects.get(pk=job.pk)
    assert job.status == JobStatus.DONE, job.error
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run_status_when_job_done == TrainingRun.Status.RUNNING
    assert job.finished_at < run.finished_at
