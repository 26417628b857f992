"""Real Celery worker processes for the `services` tests, one per queue as in production.

The workers start once per session, after pytest-django has created the test database, and
are pointed at that database (``test_<name>``), at the run's broker and at a media folder they
share with the tests. Tests that use them must be ``django_db(transaction=True)`` so the rows
they write are committed where the workers can see them.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connections
from kombu import Exchange, Queue

from reucid_site.celery import app
from tests.conftest import REPO_ROOT, services_configured

WORKER_START_TIMEOUT_S = 120
QUEUES = ("denoise", "training")


@dataclass(frozen=True)
class WorkerProcess:
    """One running `celery worker` process: its queue, Celery node name and log file."""

    queue: str
    process: subprocess.Popen
    node_name: str
    log_path: Path

    def log_tail(self, n_lines: int = 60) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n_lines:])


@dataclass(frozen=True)
class Workers:
    """The workers of the session and the media folder they share with the tests."""

    by_queue: dict[str, WorkerProcess]
    media_root: Path

    def log_tail(self, n_lines: int = 60) -> str:
        return "\n".join(
            f"--- worker for queue {queue} ---\n{worker.log_tail(n_lines)}"
            for queue, worker in self.by_queue.items()
        )

    def dead(self) -> list[str]:
        return [q for q, worker in self.by_queue.items() if worker.process.poll() is not None]


def database_url_of(settings_dict: dict) -> str:
    """A DATABASE_URL for the connection settings pytest-django switched to the test DB."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{settings_dict['NAME']}"


def purge_queues(app) -> None:
    """Drop messages a previous, interrupted run may have left in the test broker."""
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for name in QUEUES:
            queue = Queue(name, Exchange(name, type="direct"), routing_key=name)
            queue(channel).declare()
            queue(channel).purge()


def start_worker(queue: str, environment: dict[str, str], log_path: Path) -> WorkerProcess:
    node_name = f"{queue}-test-{os.getpid()}@localhost"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "reucid_site", "worker",
                "-Q", queue, "-c", "1", "-n", node_name,
                "--without-gossip", "--without-mingle", "-l", "INFO",
            ],
            cwd=REPO_ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return WorkerProcess(queue, process, node_name, log_path)


def wait_until_ready(app, workers: Workers) -> None:
    waiting = {worker.node_name: worker for worker in workers.by_queue.values()}
    deadline = time.monotonic() + WORKER_START_TIMEOUT_S
    while waiting and time.monotonic() < deadline:
        for worker in waiting.values():
            if worker.process.poll() is not None:
                pytest.fail(
                    f"the Celery worker for {worker.queue} exited with "
                    f"{worker.process.returncode} while starting:\n{worker.log_tail()}"
                )
        for reply in app.control.ping(destination=list(waiting), timeout=1.0):
            for node_name in reply:
                waiting.pop(node_name, None)
    if waiting:
        pytest.fail(f"Celery workers {sorted(waiting)} did not answer a ping in "
                    f"{WORKER_START_TIMEOUT_S} s:\n{workers.log_tail()}")


def stop(worker: WorkerProcess) -> None:
    """Warm shutdown, then kill the worker's process group if it does not go in time."""
    if worker.process.poll() is not None:
        return
    os.killpg(worker.process.pid, signal.SIGTERM)
    try:
        worker.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait(timeout=10)


@pytest.fixture(scope="session")
def celery_workers(django_db_setup, tmp_path_factory) -> Iterator[Workers]:
    """`celery worker -Q denoise` and `-Q training` subprocesses on the test DB and broker."""
    if not services_configured():
        pytest.skip("needs PostgreSQL (DATABASE_URL) and a broker (CELERY_BROKER_URL)")
    media_root = tmp_path_factory.mktemp("worker-media")
    logs = tmp_path_factory.mktemp("worker-logs")
    environment = {
        **os.environ,
        "DATABASE_URL": database_url_of(connections["default"].settings_dict),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "MEDIA_ROOT": str(media_root),
        "DJANGO_DEBUG": "0",
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
        # A fresh connection per task: the test process truncates tables between tests.
        "DB_CONN_MAX_AGE": "0",
    }
    purge_queues(app)
    workers = Workers({}, media_root)
    try:
        for queue in QUEUES:
            workers.by_queue[queue] = start_worker(queue, environment, logs / f"{queue}.log")
        wait_until_ready(app, workers)
        yield workers
    finally:
        for worker in workers.by_queue.values():
            stop(worker)


@pytest.fixture
def through_broker(celery_workers, settings) -> Iterator[Workers]:
    """Tasks go to the broker (not eager) and files land where the workers read them."""
    settings.MEDIA_ROOT = celery_workers.media_root
    was_eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        yield celery_workers
    finally:
        app.conf.task_always_eager = was_eager


def wait_for(predicate: Callable[[], bool], *, timeout_s: float, workers: Workers,
             what: str) -> None:
    """Poll ``predicate()`` until true; fail with the workers' logs if it never becomes true."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        if workers.dead():
            pytest.fail(f"Celery worker(s) {workers.dead()} died while waiting for {what}:\n"
                        f"{workers.log_tail()}")
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}; worker logs:\n"
                f"{workers.log_tail()}")
