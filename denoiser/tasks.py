"""Celery tasks of the denoise app: thin wrappers around the services."""
from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

# modules, not names: a test (or a deployment hook) may replace a function on them
from . import maintenance, runner, services


@shared_task(
    name="denoiser.run_denoise_job",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=120,
    max_retries=3,
)
def run_denoise_job(self, job_id: str) -> str:
    """Denoise one uploaded image (queue ``denoise``); returns the job's final status.

    Whatever the outcome, the job's worker slot is free afterwards: the next waiting job
    is dispatched in its fair turn.
    """
    try:
        job = runner.run_job(job_id, task_id=self.request.id)
    finally:
        services.dispatch_jobs()
    return job.status if job is not None else "skipped"


@shared_task(name="denoiser.recover_stale_jobs")
def recover_stale_jobs_task() -> dict:
    """Periodic safety net (e.g. Celery beat every few minutes): requeue lost jobs, and
    dispatch waiting ones whose turn was missed (a broker that was down, a dead worker)."""
    report = maintenance.recover_stale_jobs()
    dispatched = services.dispatch_jobs()
    return {"requeued": report.requeued, "failed": report.failed, "dispatched": dispatched}
