"""A real Celery worker process for the `services` tests.

The worker is started once per session, after pytest-django has created the test database,
and is pointed at that database (``test_<name>``), at the run's broker and at a media folder it
shares with the tests. Tests that use it must be ``django_db(transaction=True)`` so the rows
they write are committed where the worker can see them.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import REPO_ROOT

WORKER_START_TIMEOUT_S = 120
QUEUES = ("denoise", "training")


@dataclass(frozen=True)
class WorkerProcess:
    """The running worker: its Celery node name, media folder and log file."""

    process: subprocess.Popen
    node_name: str
    media_root: Path
    log_path: Path

    def log_tail(self, n_lines: int = 60) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n_lines:])


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
    from kombu import Exchange, Queue

    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for name in QUEUES:
            queue = Queue(name, Exchange(name, type="direct"), routing_key=name)
            queue(channel).declare()
            queue(channel).purge()


def wait_until_ready(app, worker: WorkerProcess) -> None:
    deadline = time.monotonic() + WORKER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            pytest.fail(
                f"the Celery worker exited with {worker.process.returncode} while starting:\n"
                f"{worker.log_tail()}"
            )
        replies = app.control.ping(destination=[worker.node_name], timeout=1.0)
        if any(worker.node_name in reply for reply in replies):
            return
    pytest.fail(f"the Celery worker did not answer a ping in {WORKER_START_TIMEOUT_S} s:\n"
                f"{worker.log_tail()}")


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
def celery_worker_process(django_db_setup, tmp_path_factory) -> Iterator[WorkerProcess]:
    """One `celery worker -Q denoise,training` subprocess on the test database and broker."""
    from django.conf import settings
    from django.db import connections

    from reucid_site.celery import app

    from tests.conftest import services_configured

    if not services_configured():
        pytest.skip("needs PostgreSQL (DATABASE_URL) and a broker (CELERY_BROKER_URL)")
    test_database = connections["default"].settings_dict
    media_root = tmp_path_factory.mktemp("worker-media")
    log_path = tmp_path_factory.mktemp("worker-log") / "worker.log"
    node_name = f"reucid-test-{os.getpid()}@localhost"
    environment = {
        **os.environ,
        "DATABASE_URL": database_url_of(test_database),
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
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "reucid_site", "worker",
                "-Q", ",".join(QUEUES), "-c", "2", "-n", node_name,
                "--without-gossip", "--without-mingle", "-l", "INFO",
            ],
            cwd=REPO_ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    worker = WorkerProcess(process, node_name, media_root, log_path)
    try:
        wait_until_ready(app, worker)
        yield worker
    finally:
        stop(worker)


@pytest.fixture
def through_broker(celery_worker_process, settings) -> Iterator[WorkerProcess]:
    """Tasks go to the broker (not eager) and files land where the worker reads them."""
    from reucid_site.celery import app

    settings.MEDIA_ROOT = celery_worker_process.media_root
    was_eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        yield celery_worker_process
    finally:
        app.conf.task_always_eager = was_eager


def wait_for(predicate, *, timeout_s: float, worker: WorkerProcess, what: str) -> None:
    """Poll ``predicate()`` until true; fail with the worker's log if it never becomes true."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        if worker.process.poll() is not None:
            pytest.fail(f"the Celery worker died while waiting for {what}:\n{worker.log_tail()}")
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}; worker log:\n"
                f"{worker.log_tail()}")
