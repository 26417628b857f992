"""Fair queueing: one client's flood of uploads does not starve the others.

Jobs wait in the database and :func:`denoiser.services.dispatch_jobs` hands each free
worker slot to the oldest job of the client with the fewest jobs at the workers; a client
with ``REUCID_MAX_JOBS_PER_CLIENT`` jobs queued or running is refused with a JSON 429.
The broker is replaced by a recorder, so the tests see the order jobs are sent in.
"""
from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from kombu.exceptions import OperationalError

from denoiser import services
from denoiser.models import DenoiseJob, JobStatus
from denoiser.tasks import run_denoise_job
from denoiser.uploads import ValidatedImage

from .conftest import lattice_image, npy_upload

pytestmark = pytest.mark.django_db


def queued_job(client_key: str, *, side: int = 32, method: str = "paper",
               name: str = "frame.npy") -> DenoiseJob:
    """A stored, queued job of ``client_key`` (no upload parsing, no denoising)."""
    image = ValidatedImage(array=np.ones((side, side), np.float32), original_filename=name,
                           source_format="npy")
    return services.create_job(image, classifier_choice="mp", classifier_spec="mp",
                               model_version="", patch_size=None, seed=0, method=method,
                               client_key=client_key)


@pytest.fixture
def sent(monkeypatch) -> list[str]:
    """Ids of the jobs sent to the broker, in order (nothing runs)."""
    messages: list[str] = []

    def record(args=None, task_id=None, **_):
        job = DenoiseJob.objects.get(pk=args[0])
        assert task_id == job.task_id  # the message carries the job's current task id
        messages.append(args[0])

    monkeypatch.setattr(run_denoise_job, "apply_async", record)
    return messages


@pytest.fixture
def two_slots(settings):
    settings.REUCID_DENOISE_SLOTS = 2
    settings.REUCID_MAX_JOBS_PER_CLIENT = 0


def submit(capture, client_key: str, count: int = 1) -> list[str]:
    with capture(execute=True):
        return [str(queued_job(client_key, name=f"{client_key}-{i}.npy").pk)
                for i in range(count)]


@pytest.fixture
def finish(django_capture_on_commit_callbacks):
    """What a worker does at the end of a job: mark it done, then dispatch the next."""

    def end(job_id: str) -> None:
        DenoiseJob.objects.filter(pk=job_id).update(status=JobStatus.DONE,
                                                    finished_at=timezone.now())
        with django_capture_on_commit_callbacks(execute=True):
            services.dispatch_jobs()

    return end


def test_new_client_is_served_before_a_flooding_client(
        finish, two_slots, sent, django_capture_on_commit_callbacks):
    flood = submit(django_capture_on_commit_callbacks, "ip:10.0.0.1", 8)
    assert sent == flood[:2]  # two worker slots, both busy with A's first jobs
    (other,) = submit(django_capture_on_commit_callbacks, "ip:10.0.0.2")
    assert sent == flood[:2]  # no free slot: B waits in the database, not in the broker
    assert DenoiseJob.objects.get(pk=other).dispatched_at is None

    finish(flood[0])
    assert sent[2] == other  # B's one job goes next, ahead of A's six older ones
    finish(flood[1])
    finish(other)
    assert sent[3:] == flood[2:4]  # then A's jobs again, oldest first


def test_clients_alternate_while_both_have_jobs_waiting(
        finish, two_slots, sent, django_capture_on_commit_callbacks):
    first = submit(django_capture_on_commit_callbacks, "user:1", 4)
    submit(django_capture_on_commit_callbacks, "user:2", 3)
    done = 0
    while len(sent) < 7:  # the workers end jobs in the order they got them
        finish(sent[done])
        done += 1
    owners = ["A" if job_id in first else "B" for job_id in sent]
    # B's first job jumps A's two older waiting ones; then they take turns
    assert owners == ["A", "A", "B", "A", "B", "A", "B"]
    assert len(set(sent)) == 7


def test_a_broker_failure_loses_no_job(
        two_slots, monkeypatch, django_capture_on_commit_callbacks):
    def broker_down(*args, **kwargs):
        raise OperationalError("Connection refused")

    monkeypatch.setattr(run_denoise_job, "apply_async", broker_down)
    (job_id,) = submit(django_capture_on_commit_callbacks, "ip:10.0.0.1")
    job = DenoiseJob.objects.get(pk=job_id)
    # the upload is accepted; the job waits for the next dispatch instead of holding a slot
    assert job.status == JobStatus.QUEUED and job.dispatched_at is None

    messages: list[str] = []
    monkeypatch.setattr(run_denoise_job, "apply_async",
                        lambda args=None, **kwargs: messages.append(args[0]))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.dispatch_jobs() == [job_id]
    assert messages == [job_id]


def test_the_end_of_a_job_dispatches_the_next(
        two_slots, sent, monkeypatch, django_capture_on_commit_callbacks, eager_celery):
    jobs = submit(django_capture_on_commit_callbacks, "ip:10.0.0.1", 3)
    assert sent == jobs[:2]

    def fake_run(job_id, *, task_id=None):
        DenoiseJob.objects.filter(pk=job_id).update(status=JobStatus.DONE)
        return DenoiseJob.objects.get(pk=job_id)

    monkeypatch.setattr("denoiser.runner.run_job", fake_run)
    with django_capture_on_commit_callbacks(execute=True):
        assert run_denoise_job.run(jobs[0]) == JobStatus.DONE
    assert sent == jobs  # the freed slot went to the third job


def test_requeued_job_waits_for_its_turn(
        finish, two_slots, sent, django_capture_on_commit_callbacks):
    jobs = submit(django_capture_on_commit_callbacks, "ip:10.0.0.1", 3)
    DenoiseJob.objects.filter(pk=jobs[0]).update(status=JobStatus.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        services.dispatch_jobs()  # the failed job's slot: the third job
    assert sent == jobs
    with django_capture_on_commit_callbacks(execute=True):
        services.requeue_job(DenoiseJob.objects.get(pk=jobs[0]))
    assert sent == jobs  # both slots busy: the retried job waits in the database
    assert DenoiseJob.objects.get(pk=jobs[0]).dispatched_at is None
    finish(jobs[1])
    assert sent[-1] == jobs[0]


def test_a_flooding_client_is_refused_with_a_json_429_naming_the_limit(
        finish, settings, sent, api, django_capture_on_commit_callbacks):
    settings.REUCID_MAX_JOBS_PER_CLIENT = 3
    settings.REUCID_DENOISE_SLOTS = 1

    def post(address: str):
        with django_capture_on_commit_callbacks(execute=True):
            # a script without cookies: told apart by its address
            api.cookies.clear()
            return api.post("/api/denoise/", {"file": npy_upload(lattice_image()),
                                              "method": "paper", "classifier": "mp"},
                            format="multipart", REMOTE_ADDR=address)

    accepted = [post("10.0.0.1") for _ in range(3)]
    assert [response.status_code for response in accepted] == [201, 201, 201]
    refused = post("10.0.0.1")
    assert refused.status_code == 429
    assert refused["Content-Type"].startswith("application/json")
    detail = refused.json()["detail"]
    assert "REUCID_MAX_JOBS_PER_CLIENT" in detail and "limit is 3" in detail
    assert DenoiseJob.objects.filter(client_key="ip:10.0.0.1").count() == 3

    other = post("10.0.0.2")  # another client is not limited by the first one's jobs
    assert other.status_code == 201, other.content
    body = other.json()
    # only the first client's job already at the worker is ahead, not its two waiting ones
    assert body["jobs_ahead"] == 1 and body["queue_position"] == 2
    assert DenoiseJob.objects.get(pk=body["id"]).client_key == "ip:10.0.0.2"
    finish(sent[0])
    assert sent[1] == body["id"]

    # once a job of the first client is finished it may upload again
    assert post("10.0.0.1").status_code == 201


def test_logged_in_user_is_one_client_whatever_the_address(
        settings, sent, api, django_capture_on_commit_callbacks):
    settings.REUCID_MAX_JOBS_PER_CLIENT = 1
    user = get_user_model().objects.create_user("carol", password="pw-carol-123")
    api.force_authenticate(user)
    with django_capture_on_commit_callbacks(execute=True):
        first = api.post("/api/denoise/", {"file": npy_upload(lattice_image()),
                                           "method": "paper", "classifier": "mp"},
                         format="multipart", REMOTE_ADDR="10.0.0.1")
    assert first.status_code == 201, first.content
    assert DenoiseJob.objects.get(pk=first.json()["id"]).client_key == f"user:{user.pk}"
    second = api.post("/api/denoise/", {"file": npy_upload(lattice_image())},
                      format="multipart", REMOTE_ADDR="10.0.0.2")
    assert second.status_code == 429


def test_anonymous_browser_with_a_session_is_one_client(
        settings, sent, django_capture_on_commit_callbacks):
    settings.REUCID_MAX_JOBS_PER_CLIENT = 0
    browser = Client()
    browser.get("/")
    session = browser.session
    session["visited"] = True  # the browser now holds a session cookie
    session.save()
    browser.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    keys = []
    for address in ("10.0.0.1", "10.0.0.2"):  # e.g. a laptop changing networks
        with django_capture_on_commit_callbacks(execute=True):
            response = browser.post("/api/denoise/", {"file": npy_upload(lattice_image()),
                                                      "method": "paper", "classifier": "mp"},
                                    REMOTE_ADDR=address)
        assert response.status_code == 201, response.content
        keys.append(DenoiseJob.objects.get(pk=response.json()["id"]).client_key)
    assert keys == [f"session:{session.session_key}"] * 2


def test_a_job_sent_long_ago_and_never_started_frees_its_slot(
        finish, two_slots, sent, settings, django_capture_on_commit_callbacks):
    settings.REUCID_JOB_STALE_AFTER_SECONDS = 900
    jobs = submit(django_capture_on_commit_callbacks, "ip:10.0.0.1", 3)
    assert sent == jobs[:2]
    # the first message was lost in the broker: the job was never claimed
    DenoiseJob.objects.filter(pk=jobs[0]).update(
        dispatched_at=timezone.now() - timedelta(seconds=901))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.dispatch_jobs() == [jobs[2]]  # a worker is not left idle for it
    # it still counts as ahead of the others for their queue position
    third = DenoiseJob.objects.get(pk=jobs[2])
    assert third.dispatched_at is not None
