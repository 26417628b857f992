"""Stale-job recovery and retention, through the services and the management commands."""
from __future__ import annotations

import io
import os
import time
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from denoiser import job_files, services
from denoiser.maintenance import purge_old_jobs, recover_stale_jobs
from denoiser.models import DenoiseJob, JobStatus

from .conftest import lattice_image, npy_upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]


def queued_job(capture) -> DenoiseJob:
    with capture(execute=False):
        job = services.submit_job(uploaded=npy_upload(lattice_image()), method="paper",
                                  classifier="mp")
    return job


def age(job: DenoiseJob, **fields) -> DenoiseJob:
    DenoiseJob.objects.filter(pk=job.pk).update(**fields)
    job.refresh_from_db()
    return job


def test_dead_worker_job_is_requeued_and_completes(django_capture_on_commit_callbacks, settings):
    settings.REUCID_JOB_MAX_ATTEMPTS = 3
    long_ago = timezone.now() - timedelta(hours=1)
    job = age(queued_job(django_capture_on_commit_callbacks),
              status=JobStatus.RUNNING, attempts=1, heartbeat_at=long_ago, stacks_done=0)
    old_task = job.task_id
    with django_capture_on_commit_callbacks(execute=True):
        report = recover_stale_jobs(stale_after=600)
    assert report.requeued == [str(job.pk)] and report.failed == []
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.task_id != old_task and job.attempts == 2


def test_job_that_keeps_killing_workers_is_failed(django_capture_on_commit_callbacks, settings):
    settings.REUCID_JOB_MAX_ATTEMPTS = 2
    long_ago = timezone.now() - timedelta(hours=1)
    job = age(queued_job(django_capture_on_commit_callbacks),
              status=JobStatus.RUNNING, attempts=2, heartbeat_at=long_ago)
    report = recover_stale_jobs(stale_after=600)
    job.refresh_from_db()
    assert report.failed == [str(job.pk)]
    assert job.status == JobStatus.FAILED and "stopped responding 2 times" in job.error


def test_fresh_jobs_are_left_alone(django_capture_on_commit_callbacks):
    running = age(queued_job(django_capture_on_commit_callbacks),
                  status=JobStatus.RUNNING, attempts=1, heartbeat_at=timezone.now())
    queued = queued_job(django_capture_on_commit_callbacks)
    done = age(queued_job(django_capture_on_commit_callbacks), status=JobStatus.DONE,
               created_at=timezone.now() - timedelta(days=1))
    report = recover_stale_jobs(stale_after=600)
    assert report.requeued == [] and report.failed == []
    for job, status in ((running, "running"), (queued, "queued"), (done, "done")):
        job.refresh_from_db()
        assert job.status == status


def test_lost_queued_message_is_requeued(django_capture_on_commit_callbacks):
    job = age(queued_job(django_capture_on_commit_callbacks),
              created_at=timezone.now() - timedelta(minutes=30))
    # Waiting half an hour behind other jobs is not lost (no starving by requeueing)...
    assert recover_stale_jobs(stale_after=600, queued_after=3600).requeued == []
    job = age(job, created_at=timezone.now() - timedelta(hours=3))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        report = recover_stale_jobs(stale_after=600, queued_after=3600)
    assert report.requeued == [str(job.pk)] and len(callbacks) == 1
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and job.attempts == 0
    # Requeued just now: not stale again on the next pass.
    assert recover_stale_jobs(stale_after=600, queued_after=3600).requeued == []


def test_stale_job_without_input_is_failed(django_capture_on_commit_callbacks):
    job = age(queued_job(django_capture_on_commit_callbacks), status=JobStatus.RUNNING,
              attempts=1, heartbeat_at=timezone.now() - timedelta(hours=1))
    job_files.job_path(job, job_files.INPUT_NPY).unlink()
    assert recover_stale_jobs(stale_after=60).failed == [str(job.pk)]


def test_recover_command(django_capture_on_commit_callbacks):
    job = age(queued_job(django_capture_on_commit_callbacks), status=JobStatus.RUNNING,
              attempts=1, heartbeat_at=timezone.now() - timedelta(hours=1))
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("recover_stale_jobs", "--stale-after", "60", stdout=out)
    assert "requeued 1 job(s), failed 0 job(s)" in out.getvalue() and str(job.pk) in out.getvalue()


def test_purge_deletes_old_jobs_files_orphans_and_scratch(django_capture_on_commit_callbacks, settings):
    old = age(queued_job(django_capture_on_commit_callbacks), status=JobStatus.DONE,
              created_at=timezone.now() - timedelta(days=40))
    old_running = age(queued_job(django_capture_on_commit_callbacks), status=JobStatus.RUNNING,
                      created_at=timezone.now() - timedelta(days=40))
    recent = queued_job(django_capture_on_commit_callbacks)
    orphan = settings.MEDIA_ROOT / "denoise" / str(uuid.uuid4())
    orphan.mkdir(parents=True)
    (orphan / "input.npy").write_bytes(b"x")
    scratch = job_files.tmp_dir() / "abandoned.tif"
    scratch.write_bytes(b"x")
    two_days_ago = time.time() - 2 * 86400
    for path in (orphan, scratch):
        os.utime(path, (two_days_ago, two_days_ago))

    dry = purge_old_jobs(older_than_days=30, dry_run=True)
    assert (dry.jobs, dry.orphan_folders, dry.scratch_files) == (1, 1, 1)
    assert DenoiseJob.objects.count() == 3 and orphan.exists()

    out = io.StringIO()
    call_command("purge_old_jobs", "--days", "1", stdout=out)
    assert "deleted 1 job(s), 1 orphan folder(s), 1 scratch upload(s)" in out.getvalue()
    assert not DenoiseJob.objects.filter(pk=old.pk).exists()
    assert not job_files.job_path(old).exists()
    assert DenoiseJob.objects.filter(pk__in=[old_running.pk, recent.pk]).count() == 2
    assert job_files.job_path(recent, job_files.INPUT_NPY).is_file()
    assert not orphan.exists() and not scratch.exists()


def test_purge_command_rejects_negative_days():
    with pytest.raises(CommandError):
        call_command("purge_old_jobs", "--days", "-1")
