"""End to end on real services: jobs go web process -> broker -> worker process -> database.

Runs in the second pass of scripts/test.sh (PostgreSQL, Redis, a real Celery worker started by
tests/services/conftest.py); skipped, with the reason, in the embedded pass.
"""
from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.services.conftest import wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

DENOISE_TIMEOUT_S = 180


def simulated_upload(*, seed: int = 3) -> SimpleUploadedFile:
    """A small low-dose HAADF image from the project's own simulator, as an .npy upload."""
    from training.simulation import add_dose_noise, simulate_haadf

    simulated = simulate_haadf(
        "SrTiO3_001", shape=(96, 96), pixel_size_A=0.2, environment="bulk", rng=seed
    )
    noisy = add_dose_noise(simulated.clean, 3000.0, 0.2, rng=seed)
    buffer = io.BytesIO()
    np.save(buffer, noisy.astype(np.float32), allow_pickle=False)
    return SimpleUploadedFile("srtio3.npy", buffer.getvalue())


def test_denoise_job_runs_in_the_worker_through_the_broker(through_broker):
    from denoiser import job_files
    from denoiser.models import DenoiseJob, JobStatus
    from denoiser.services import submit_job

    job = submit_job(uploaded=simulated_upload(), classifier="mp", seed=0)

    def finished() -> bool:
        return DenoiseJob.objects.get(pk=job.pk).status in (JobStatus.DONE, JobStatus.FAILED)

    wait_for(finished, timeout_s=DENOISE_TIMEOUT_S, worker=through_broker, what="the denoise job")
    job.refresh_from_db()
    assert job.status == JobStatus.DONE, job.error
    assert job.stacks_done == job.n_stacks >= 1
    # The worker wrote the result into the shared media folder ...
    result = np.load(job_files.job_path(job, job_files.RESULT_NPY), allow_pickle=False)
    assert result.shape == (job.height, job.width)
    assert np.isfinite(result).all()
    # ... and it was the worker process that ran it, taken from the broker under this task id.
    log = through_broker.log_tail(400)
    assert f"denoiser.run_denoise_job[{job.task_id}] received" in log
    assert f"denoiser.run_denoise_job[{job.task_id}] succeeded" in log
