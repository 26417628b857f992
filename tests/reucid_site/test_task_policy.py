"""Every task retries transient failures with backoff, fails fast otherwise, and gets its
queue's time limits."""
from __future__ import annotations

import pytest
from celery import Celery
from django.db import OperationalError

from reucid_site.celery import app as site_app
from reucid_site.task_policy import ReucidTask, queue_for_task


@pytest.fixture
def probe_app(settings):
    """A throwaway Celery app configured exactly like the site's, so probe tasks stay out of
    the site's registry."""
    app = Celery("probe", task_cls="reucid_site.task_policy:ReucidTask")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.task_always_eager = True
    # Eager retries re-run in place only when the Retry is not propagated.
    app.conf.task_eager_propagates = False
    return app


def test_site_tasks_use_the_retrying_base_class():
    assert issubclass(site_app.Task, ReucidTask)


def test_transient_database_error_is_retried_until_it_succeeds(probe_app):
    calls = []

    @probe_app.task(name="denoiser.probe_flaky")
    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("server closed the connection unexpectedly")
        return "done"

    assert flaky.delay().get() == "done"
    assert len(calls) == 3


def test_bad_input_is_not_retried(probe_app):
    calls = []

    @probe_app.task(name="denoiser.probe_bad_input")
    def bad_input():
        calls.append(1)
        raise ValueError("not a 2-D image")

    with pytest.raises(ValueError, match="not a 2-D image"):
        bad_input.delay().get()
    assert len(calls) == 1


def test_retries_give_up_after_max_retries(probe_app):
    calls = []

    @probe_app.task(name="denoiser.probe_always_down")
    def always_down():
        calls.append(1)
        raise ConnectionError("broker unreachable")

    with pytest.raises(ConnectionError):
        always_down.delay().get()
    assert len(calls) == ReucidTask.max_retries + 1


def test_each_queue_gets_its_own_time_limits(probe_app, settings):
    @probe_app.task(name="training.probe_long")
    def long_run():
        return None

    @probe_app.task(name="denoiser.probe_short")
    def short_run():
        return None

    @probe_app.task(name="denoiser.probe_own_limit", time_limit=7, soft_time_limit=5)
    def own_limit():
        return None

    training_soft, training_hard = settings.REUCID_TASK_TIME_LIMITS["training"]
    denoise_soft, denoise_hard = settings.REUCID_TASK_TIME_LIMITS["denoise"]
    assert (long_run.soft_time_limit, long_run.time_limit) == (training_soft, training_hard)
    assert (short_run.soft_time_limit, short_run.time_limit) == (denoise_soft, denoise_hard)
    assert (own_limit.soft_time_limit, own_limit.time_limit) == (5, 7)
    assert training_hard > denoise_hard


def test_routes_send_training_and_denoise_to_separate_queues(settings):
    routes, default = settings.CELERY_TASK_ROUTES, settings.CELERY_TASK_DEFAULT_QUEUE
    assert queue_for_task("training.run_training", routes, default) == "training"
    assert queue_for_task("denoiser.run_denoise_job", routes, default) == "denoise"
    assert queue_for_task("survey.make_candidates", routes, default) == "denoise"
    assert site_app.amqp.router.route({}, "training.run_training")["queue"].name == "training"
    assert site_app.amqp.router.route({}, "denoiser.run_denoise_job")["queue"].name == "denoise"


def test_registered_site_tasks_have_their_queue_limits(settings):
    site_app.loader.import_default_modules()
    checked = 0
    for name, task in site_app.tasks.items():
        if name.startswith("celery."):
            continue
        queue = queue_for_task(
            name, settings.CELERY_TASK_ROUTES, settings.CELERY_TASK_DEFAULT_QUEUE
        )
        assert task.time_limit is not None, name
        if queue == "training":
            assert task.time_limit > settings.REUCID_TASK_TIME_LIMITS["denoise"][1], name
        checked += 1
    if checked == 0:
        pytest.skip("no app has registered a task yet")
