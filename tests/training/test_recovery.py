"""A training run whose worker dies never stays "running" and never touches the active model."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from training import services
from training.models import ClassifierModel, TrainingRun
from training.tasks import recover_stale_training_runs_task

pytestmark = pytest.mark.django_db


def _running_run(*, silent_for: float) -> TrainingRun:
    run = services.create_training_run(source="survey")
    TrainingRun.objects.filter(pk=run.pk).update(
        status=TrainingRun.Status.RUNNING, stage="epoch 3",
        heartbeat_at=timezone.now() - timedelta(seconds=silent_for))
    return run


def test_progress_updates_are_heartbeats():
    run = services.create_training_run(source="survey")
    services._update_run(run.pk, stage="simulating")
    run.refresh_from_db()
    assert run.heartbeat_at is not None
    assert timezone.now() - run.heartbeat_at < timedelta(seconds=60)


def test_a_silent_running_run_is_failed_and_the_active_model_stays(settings, model_file):
    settings.REUCID_TRAINING_STALE_AFTER_SECONDS = 600
    active = services.register_classifier_file(model_file(seed=1), name="incumbent")
    services.activate_classifier(active)
    lost = _running_run(silent_for=3600)
    alive = _running_run(silent_for=10)

    assert recover_stale_training_runs_task.apply().get() == [lost.pk]

    lost.refresh_from_db()
    alive.refresh_from_db()
    assert lost.status == TrainingRun.Status.FAILED and "stopped responding" in lost.error
    assert lost.finished_at is not None
    assert alive.status == TrainingRun.Status.RUNNING
    assert ClassifierModel.objects.get(is_active=True) == active


def test_a_redelivered_message_restarts_a_run_whose_worker_died(settings, monkeypatch):
    settings.REUCID_TRAINING_STALE_AFTER_SECONDS = 600
    lost = _running_run(silent_for=3600)
    # The run itself fails fast here (no survey answers), which proves it was restarted.
    run = services.execute_training_run(lost.pk)
    assert run.status == TrainingRun.Status.FAILED and "survey" in run.error


def test_a_duplicate_message_does_not_start_a_live_run_twice(settings):
    settings.REUCID_TRAINING_STALE_AFTER_SECONDS = 600
    alive = _running_run(silent_for=5)
    run = services.execute_training_run(alive.pk)
    assert run.status == TrainingRun.Status.RUNNING and run.stage == "epoch 3"
