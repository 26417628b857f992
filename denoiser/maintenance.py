"""Keeping the job table honest: recover stale jobs, purge old ones.

Both run from management commands (``recover_stale_jobs``, ``purge_old_jobs``), from cron
or a Celery beat schedule, and are safe to run at any time, concurrently with workers.
"""
from __future__ import annotations

import logging
import shutil
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from . import job_files
from .models import DenoiseJob, JobStatus
from .runner import max_attempts
from .services import enqueue_job

logger = logging.getLogger(__name__)


def stale_after_seconds() -> int:
    return int(getattr(settings, "REUCID_JOB_STALE_AFTER_SECONDS", 900))


def queued_lost_after_seconds() -> int:
    return int(getattr(settings, "REUCID_JOB_QUEUED_LOST_AFTER_SECONDS", 7200))


def retention_days() -> int:
    return int(getattr(settings, "REUCID_RETENTION_DAYS", 30))


@dataclass
class RecoveryReport:
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def recover_stale_jobs(
    *,
    stale_after: float | None = None,
    queued_after: float | None = None,
    now: datetime | None = None,
) -> RecoveryReport:
    """Requeue (or fail, after too many attempts) jobs nobody is working on.

    A job is stale when it is ``running`` with no heartbeat for ``stale_after`` seconds
    (its worker died), or ``queued`` for ``queued_after`` seconds (its message was lost).
    The second threshold is long on purpose: a requeued job goes to the back of the
    queue, so requeuing jobs that are merely waiting behind others would starve them.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=stale_after_seconds() if stale_after is None else stale_after)
    queued_cutoff = now - timedelta(
        seconds=queued_lost_after_seconds() if queued_after is None else queued_after
    )
    stale = (
        Q(status=JobStatus.RUNNING)
        & (Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff))
    ) | (
        Q(status=JobStatus.QUEUED)
        & (
            Q(heartbeat_at__lt=queued_cutoff)
            | Q(heartbeat_at__isnull=True, created_at__lt=queued_cutoff)
        )
    )
    report = RecoveryReport()
    for job_id in DenoiseJob.objects.filter(stale).values_list("pk", flat=True):
        with transaction.atomic():
            job = DenoiseJob.objects.select_for_update().filter(stale, pk=job_id).first()
            if job is None:
                continue
            if not job_files.job_path(job, job_files.INPUT_NPY).is_file():
                _mark_failed(job, "The uploaded image of this job is gone; upload it again.")
                report.failed.append(str(job.pk))
            elif job.status == JobStatus.RUNNING and job.attempts >= max_attempts():
                _mark_failed(
                    job,
                    f"The worker stopped responding {job.attempts} times while denoising this "
                    "image (it may need more memory than the server has). Try a smaller image.",
                )
                report.failed.append(str(job.pk))
            else:
                job.status = JobStatus.QUEUED
                job.task_id = uuid.uuid4().hex
                job.heartbeat_at = now
                job.stacks_done = 0
                job.save(update_fields=["status", "task_id", "heartbeat_at", "stacks_done"])
                enqueue_job(job)
                report.requeued.append(str(job.pk))
    if report.requeued or report.failed:
        logger.warning("Stale denoise jobs: requeued %s, failed %s", report.requeued, report.failed)
    return report


def _mark_failed(job: DenoiseJob, message: str) -> None:
    job.status = JobStatus.FAILED
    job.error = message
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error", "finished_at"])


@dataclass
class PurgeReport:
    jobs: int = 0
    orphan_folders: int = 0
    scratch_files: int = 0


def purge_old_jobs(
    *, older_than_days: float | None = None, now: datetime | None = None, dry_run: bool = False
) -> PurgeReport:
    """Delete jobs (rows, uploads and results) created more than N days ago.

    Running jobs are left alone. Also removes job folders with no job row and scratch
    uploads, once they are more than a day old (left by a request killed halfway).
    """
    now = now or timezone.now()
    days = retention_days() if older_than_days is None else older_than_days
    cutoff = now - timedelta(days=days)
    report = PurgeReport()
    old_jobs = DenoiseJob.objects.filter(created_at__lt=cutoff).exclude(status=JobStatus.RUNNING)
    for job in old_jobs.iterator():
        report.jobs += 1
        if not dry_run:
            DenoiseJob.objects.filter(pk=job.pk).delete()
            job_files.delete_job_files(job)

    # A job folder is made a moment before its row; one without a row after a day, or a
    # scratch upload that old, was left by a request killed halfway.
    stray_before = min(time.time(), now.timestamp()) - 86400
    jobs_root = job_files.media_root() / "denoise"
    if jobs_root.is_dir():
        for folder in jobs_root.iterdir():
            if not folder.is_dir() or folder.stat().st_mtime >= stray_before:
                continue
            try:
                known = DenoiseJob.objects.filter(pk=uuid.UUID(folder.name)).exists()
            except ValueError:
                known = False
            if not known:
                report.orphan_folders += 1
                if not dry_run:
                    shutil.rmtree(folder, ignore_errors=True)

    scratch_root = job_files.media_root() / "tmp"
    if scratch_root.is_dir():
        for scratch in scratch_root.iterdir():
            if scratch.is_file() and scratch.stat().st_mtime < stray_before:
                report.scratch_files += 1
                if not dry_run:
                    scratch.unlink(missing_ok=True)
    return report
