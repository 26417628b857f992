"""What every REUCID Celery task does on transient failures and how long it may run.

Two pieces, both wired in ``reucid_site.celery``:

* :class:`ReucidTask`, the base class of every task: transient infrastructure failures
  (database or broker connection lost, a locked SQLite file, a network timeout) are retried
  with exponential backoff and jitter; anything else (a bad upload, a bug) fails at once,
  because repeating it would only fail again.
* :class:`QueueTimeLimits`, a Celery task annotation: each task gets the soft and hard time
  limits of the queue it is routed to (settings ``REUCID_TASK_TIME_LIMITS``), so a retraining
  run may take hours while a stuck denoise job is stopped after minutes. A task that sets its
  own ``time_limit`` keeps it.
"""
from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from celery import Task
from django.conf import settings
from django.db.utils import InterfaceError as DatabaseInterfaceError
from django.db.utils import OperationalError as DatabaseOperationalError
from kombu.exceptions import OperationalError as BrokerOperationalError

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    DatabaseOperationalError,
    DatabaseInterfaceError,
    BrokerOperationalError,
    ConnectionError,
    TimeoutError,
)


class ReucidTask(Task):
    """Base task: retry transient failures with backoff, never retry anything else."""

    autoretry_for = TRANSIENT_ERRORS
    max_retries = 5
    retry_backoff = 5  # seconds before the first retry; doubles each time
    retry_backoff_max = 600
    retry_jitter = True


def queue_for_task(task_name: str, routes: dict[str, dict[str, Any]], default_queue: str) -> str:
    """The queue a task name is routed to by glob ``routes`` (``CELERY_TASK_ROUTES``).

    Examples
    --------
    >>> routes = {"training.*": {"queue": "training"}}
    >>> queue_for_task("training.run_training", routes, "denoise")
    'training'
    >>> queue_for_task("denoiser.run_job", routes, "denoise")
    'denoise'
    """
    for pattern, route in routes.items():
        if fnmatchcase(task_name, pattern) and "queue" in route:
            return str(route["queue"])
    return default_queue


class QueueTimeLimits:
    """Celery annotation giving each task its queue's ``(soft, hard)`` time limits."""

    def annotate(self, task: Any) -> dict[str, int] | None:
        if getattr(task, "time_limit", None) is not None:
            return None
        queue = queue_for_task(
            task.name, settings.CELERY_TASK_ROUTES, settings.CELERY_TASK_DEFAULT_QUEUE
        )
        limits = settings.REUCID_TASK_TIME_LIMITS.get(queue)
        if limits is None:
            return None
        soft, hard = limits
        return {"soft_time_limit": soft, "time_limit": hard}

    def annotate_any(self) -> None:
        return None
