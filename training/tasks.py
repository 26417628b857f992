"""Celery tasks of the training app (queue ``training``); thin wrappers of services."""
from __future__ import annotations

from celery import shared_task

from .services import execute_training_run, fail_stale_training_runs


@shared_task(name="training.train_classifier", acks_late=True)
def train_classifier_task(run_id: int) -> str:
    """Execute a queued :class:`training.models.TrainingRun`; returns its final status."""
    return execute_training_run(run_id).status


@shared_task(name="training.recover_stale_runs")
def recover_stale_training_runs_task() -> list[int]:
    """Mark runs whose worker died as failed, so none shows "running" forever."""
    return fail_stale_training_runs()
