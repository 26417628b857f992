"""Queue position and estimated time of a job: selector, API fields, job page."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from denoiser import selectors
from denoiser.models import DenoiseJob, JobStatus

from .test_fairness import queued_job, sent  # noqa: F401 - the broker recorder fixture

pytestmark = pytest.mark.django_db

PAPER_DEFAULT = selectors.default_seconds_per_pixel("paper")


@pytest.fixture
def one_slot(settings):
    settings.REUCID_DENOISE_SLOTS = 1
    settings.REUCID_MAX_JOBS_PER_CLIENT = 0


def submit(capture, client_key: str, count: int = 1, **options) -> list[DenoiseJob]:
    with capture(execute=True):
        return [queued_job(client_key, **options) for _ in range(count)]


def finished(method: str, elapsed: float, side: int = 100) -> DenoiseJob:
    job = queued_job("ip:history", side=side, method=method)
    DenoiseJob.objects.filter(pk=job.pk).update(
        status=JobStatus.DONE, elapsed_seconds=elapsed, finished_at=timezone.now(),
        dispatched_at=timezone.now())
    return job


def test_position_counts_the_jobs_that_start_before_it(
        one_slot, sent, django_capture_on_commit_callbacks):  # noqa: F811
    flood = submit(django_capture_on_commit_callbacks, "ip:A", 3, side=32)
    (other,) = submit(django_capture_on_commit_callbacks, "ip:B", side=32)
    snapshot = selectors.QueueSnapshot()
    # A's first job is at the worker; B's job is dispatched before A's other two
    estimates = {job.pk: snapshot.estimate(job) for job in flood + [other]}
    assert [estimates[job.pk].position for job in (flood[0], other, flood[1], flood[2])] \
        == [1, 2, 3, 4]
    mine = estimates[other.pk]
    assert mine.jobs_ahead == 1 and mine.measured_jobs == 0
    # no finished job yet: the documented per-pixel constant, one worker
    assert mine.seconds_per_pixel == PAPER_DEFAULT
    assert mine.wait_seconds == pytest.approx(PAPER_DEFAULT * 32 * 32)
    assert mine.total_seconds == pytest.approx(2 * PAPER_DEFAULT * 32 * 32)
    assert "no recent job" in mine.basis

    # once A's first job runs, it is no longer "ahead": B is next
    DenoiseJob.objects.filter(pk=flood[0].pk).update(status=JobStatus.RUNNING,
                                                     started_at=timezone.now())
    other.refresh_from_db()
    estimate = selectors.queue_estimate(other)
    assert (estimate.position, estimate.jobs_ahead) == (1, 0)
    running = selectors.queue_estimate(DenoiseJob.objects.get(pk=flood[0].pk))
    assert running.position is None and running.wait_seconds == 0
    assert 0 <= running.total_seconds <= PAPER_DEFAULT * 32 * 32
    DenoiseJob.objects.filter(pk=other.pk).update(status=JobStatus.DONE)
    other.refresh_from_db()
    assert selectors.queue_estimate(other) is None


def test_estimate_uses_measured_per_pixel_times_of_the_same_method(
        one_slot, sent, django_capture_on_commit_callbacks):  # noqa: F811
    for elapsed in (0.02, 0.04, 0.5):  # 100 x 100 px: median 4e-6 s per pixel
        finished("paper", elapsed)
    finished("best", 10.0)  # another method's time is not used for "paper"
    DenoiseJob.objects.filter(pk=finished("paper", 9.0).pk).update(status=JobStatus.FAILED)
    assert selectors.seconds_per_pixel("paper") == (pytest.approx(4e-6), 3)
    assert selectors.seconds_per_pixel("best") == (pytest.approx(1e-3), 1)

    (job,) = submit(django_capture_on_commit_callbacks, "ip:A", side=50)
    estimate = selectors.queue_estimate(job)
    assert estimate.position == 1 and estimate.wait_seconds == 0  # the worker is free
    assert estimate.total_seconds == pytest.approx(4e-6 * 50 * 50)
    assert estimate.basis == "measured on the last 3 finished jobs of this method"


def test_waiting_time_shares_the_work_ahead_among_the_workers(
        settings, sent, django_capture_on_commit_callbacks):  # noqa: F811
    settings.REUCID_DENOISE_SLOTS = 2
    settings.REUCID_MAX_JOBS_PER_CLIENT = 0
    finished("best", 1.0, side=100)  # 1e-4 s per pixel
    jobs = submit(django_capture_on_commit_callbacks, "ip:A", 4, side=100, method="best")
    started = timezone.now() - timedelta(seconds=0.25)
    DenoiseJob.objects.filter(pk__in=[jobs[0].pk, jobs[1].pk]).update(
        status=JobStatus.RUNNING, started_at=started)
    snapshot = selectors.QueueSnapshot(now=started + timedelta(seconds=0.25))
    last = snapshot.estimate(DenoiseJob.objects.get(pk=jobs[3].pk))
    # two running jobs with 0.75 s left each and one 1 s job ahead, over two workers
    assert last.position == 2 and last.jobs_ahead == 1
    assert last.wait_seconds == pytest.approx((0.75 + 0.75 + 1.0) / 2)
    assert last.total_seconds == pytest.approx(1.25 + 1.0)


def test_job_api_reports_position_and_estimate(
        one_slot, sent, api, django_capture_on_commit_callbacks):  # noqa: F811
    first, second = submit(django_capture_on_commit_callbacks, "ip:A", 2, side=32)
    body = api.get(f"/api/jobs/{second.pk}/").json()
    assert body["status"] == "queued"
    assert body["queue_position"] == 2 and body["jobs_ahead"] == 1
    assert body["estimated_wait_seconds"] == pytest.approx(
        round(PAPER_DEFAULT * 32 * 32, 1))
    assert body["estimated_seconds"] >= body["estimated_wait_seconds"]
    assert "no recent job" in body["estimate_basis"]

    DenoiseJob.objects.filter(pk=first.pk).update(status=JobStatus.DONE, elapsed_seconds=1.0,
                                                  finished_at=timezone.now())
    done = api.get(f"/api/jobs/{first.pk}/").json()
    assert [done[key] for key in ("queue_position", "jobs_ahead", "estimated_wait_seconds",
                                  "estimated_seconds", "estimate_basis")] == [None] * 5


def test_job_list_reads_the_queue_once(
        one_slot, sent, django_capture_on_commit_callbacks,  # noqa: F811
        django_assert_max_num_queries):
    user = get_user_model().objects.create_user("dora", password="pw-dora-123")
    with django_capture_on_commit_callbacks(execute=True):
        jobs = [queued_job(f"user:{user.pk}") for _ in range(12)]
    DenoiseJob.objects.filter(pk__in=[job.pk for job in jobs]).update(owner=user)
    client = APIClient()
    client.force_authenticate(user)
    with django_assert_max_num_queries(8):
        body = client.get("/api/jobs/").json()
    assert sorted(job["queue_position"] for job in body) == list(range(1, 13))


def test_job_page_shows_the_position(one_slot, sent, client,
                                     django_capture_on_commit_callbacks):  # noqa: F811
    first, second = submit(django_capture_on_commit_callbacks, "ip:A", 2)
    page = client.get(f"/denoise/jobs/{second.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-test="job-queue"' in html
    assert "Position 2 in the queue (1 job ahead)" in html


def test_job_page_of_a_running_job_shows_the_time_left(
        one_slot, sent, client, django_capture_on_commit_callbacks):  # noqa: F811
    finished("paper", 10000.0, side=100)  # 1 s per pixel: 1024 s for 32 x 32
    (job,) = submit(django_capture_on_commit_callbacks, "ip:A", side=32)
    DenoiseJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, started_at=timezone.now() - timedelta(seconds=424))
    html = client.get(f"/denoise/jobs/{job.pk}/").content.decode()
    assert "About 10 min left." in html
    assert "measured on the last 1 finished job of this method" in html
