"""A throw-away REUCID stack on loopback: its own PostgreSQL database, Redis DB, media folder,
gunicorn and Celery workers, started and stopped by this process.

Nothing here reaches beyond 127.0.0.1. Processes are started in their own session so that
stopping one stops its children too, and only processes started here are ever signalled.
"""
from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PG_HOST = os.environ.get("REUCID_LOAD_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("REUCID_LOAD_PG_PORT", "5432"))
PG_USER = os.environ.get("REUCID_LOAD_PG_USER", "postgres")
REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
# DB 15 belongs to the services test run; the load runs use 12-14 so they never meet it.
REDIS_DB = int(os.environ.get("REUCID_LOAD_REDIS_DB", "14"))
REDIS_DB_JOBS = 13
REDIS_DB_FAULTS = 12


class ServiceUnavailable(RuntimeError):
    """PostgreSQL or Redis is not reachable on loopback."""


def _port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def services_missing() -> str | None:
    """Why the load runs cannot happen here, or None when PostgreSQL and Redis answer."""
    if not _port_open(PG_HOST, PG_PORT):
        return f"PostgreSQL is not listening on {PG_HOST}:{PG_PORT}"
    if not _port_open(REDIS_HOST, REDIS_PORT):
        return f"Redis is not listening on {REDIS_HOST}:{REDIS_PORT}"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[dev]')"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(name: str) -> str:
    return f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


def recreate_database(name: str) -> str:
    """Drop and create database ``name`` (only names starting with reucid_load)."""
    if not re.fullmatch(r"reucid_load[a-z0-9_]*", name):
        raise ValueError(f"refusing to recreate database {name!r}: not a load-test database")
    import psycopg

    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True
    ) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return database_url(name)


def drop_database(name: str) -> None:
    if not re.fullmatch(r"reucid_load[a-z0-9_]*", name):
        raise ValueError(f"refusing to drop database {name!r}")
    import psycopg

    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True
    ) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flush_redis_db(db: int = REDIS_DB) -> None:
    """Empty our own Redis database index (never FLUSHALL)."""
    import redis

    redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db).flushdb()


@dataclass
class Stack:
    """Environment and processes of one load-test site."""

    env: dict[str, str]
    workdir: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    base_url: str = ""

    @property
    def media_root(self) -> Path:
        return Path(self.env["MEDIA_ROOT"])

    def manage(self, *args: str, timeout: float = 600) -> str:
        """Run ``manage.py`` in this stack's environment; return its output."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO_ROOT, env=self.env, capture_output=True, text=True, timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def python(self, code: str, timeout: float = 600) -> str:
        """Run Django code (``django.setup()`` done) in this stack's environment."""
        prelude = "import django; django.setup()\n"
        done = subprocess.run(
            [sys.executable, "-c", prelude + code],
            cwd=REPO_ROOT, env=self.env, capture_output=True, text=True, timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"django snippet failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen:
        log = open(self.workdir / log_name, "ab")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            args, cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process.log_file = log  # type: ignore[attr-defined]
        self.processes.append(process)
        return process

    def start_web(self, *, workers: int = 3, threads: int = 8) -> str:
        port = free_port()
        self._spawn(
            [sys.executable, "-m", "gunicorn", "reucid_site.wsgi:application",
             "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads",
             str(threads), "--timeout", "120", "--graceful-timeout", "5",
             "--access-logfile", "-"],
            "gunicorn.log",
        )
        self.base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.base_url + "/", timeout=5) as response:
                    if response.status < 500:
                        return self.base_url
            except urllib.error.HTTPError as error:
                if error.code < 500:
                    return self.base_url
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"gunicorn did not answer; see {self.workdir / 'gunicorn.log'}")

    def start_worker(
        self, *, queues: str = "denoise,training", concurrency: int = 2, name: str = "w1"
    ) -> subprocess.Popen:
        process = self._spawn(
            [sys.executable, "-m", "celery", "-A", "reucid_site", "worker", "-Q", queues,
             "-c", str(concurrency), "-n", f"{name}-{uuid.uuid4().hex[:6]}@%h",
             "--loglevel", "INFO", "--without-gossip", "--without-mingle",
             "--without-heartbeat"],
            f"worker-{name}.log",
        )
        wait_for(lambda: "ready" in self.log(f"worker-{name}.log"), timeout=60,
                 what=f"celery worker {name} to be ready")
        return process

    def log(self, name: str) -> str:
        path = self.workdir / name
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, process: subprocess.Popen, sig: int = signal.SIGTERM, wait: float = 15) -> None:
        """Signal one of our processes (and its session), then make sure it is gone."""
        if process.poll() is None:
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        log = getattr(process, "log_file", None)
        if log is not None and not log.closed:
            log.close()

    def close(self) -> None:
        for process in reversed(self.processes):
            self.stop(process)
        self.processes.clear()


def worker_children(process: subprocess.Popen) -> list[int]:
    """PIDs of the pool processes of a Celery worker we started."""
    import psutil

    try:
        return [child.pid for child in psutil.Process(process.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


@contextmanager
def stack(
    name: str = "reucid_load", *, redis_db: int = REDIS_DB, keep: bool = False,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """A migrated database, an empty Redis DB and media folder, torn down afterwards.

    Give runs that may overlap different ``redis_db`` indexes: each empties its own.
    """
    reason = services_missing()
    if reason:
        raise ServiceUnavailable(reason)
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    (workdir / "media").mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": recreate_database(name),
        "CELERY_BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_db}",
        "CELERY_RESULT_BACKEND": "",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "MEDIA_ROOT": str(workdir / "media"),
        "STATIC_ROOT": str(workdir / "static"),
        "DJANGO_DEBUG": "false",
        # the load tests play a crowd from one loopback address: the per-client limit on
        # new respondents would refuse it (its own tests are in tests/hostile)
        "REUCID_RESPONDENT_BURST_RATE": "off",
        "REUCID_RESPONDENT_RATE": "off",
        "REUCID_SECRET_KEY_FILE": str(workdir / "secret_key"),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DB_CONN_MAX_AGE": "60",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "reucid_site.settings",
        **(extra_env or {}),
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    flush_redis_db(redis_db)
    site = Stack(env=env, workdir=workdir)
    try:
        site.manage("migrate", "--noinput", timeout=300)
        site.manage("collectstatic", "--noinput", timeout=300)
        yield site
    finally:
        site.close()
        flush_redis_db(redis_db)
        if not keep:
            drop_database(name)
            shutil.rmtree(workdir, ignore_errors=True)


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str, every: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}")


# --- HTTP ---------------------------------------------------------------------------------

@dataclass
class Timing:
    label: str
    seconds: float
    status: int


class Recorder:
    """Thread-safe list of request timings."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.timings: list[Timing] = []

    def add(self, timing: Timing) -> None:
        with self._lock:
            self.timings.append(timing)


class Browserless:
    """One visitor: a cookie jar, CSRF handling and timed requests (stdlib only)."""

    def __init__(self, base_url: str, recorder: Recorder | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.recorder = recorder

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)

    def request(
        self, method: str, path: str, *, data: bytes | None = None,
        headers: dict[str, str] | None = None, label: str | None = None, timeout: float = 120,
    ) -> tuple[int, bytes, str]:
        """Return (status, body, final URL); 4xx/5xx are returned, not raised."""
        url = path if path.startswith("http") else self.base_url + path
        request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        started = time.perf_counter()
        try:
            with self.opener.open(request, timeout=timeout) as response:
                status, body, final = response.status, response.read(), response.url
        except urllib.error.HTTPError as error:
            status, body, final = error.code, error.read(), url
        if self.recorder is not None:
            self.recorder.add(Timing(label or path, time.perf_counter() - started, status))
        return status, body, final

    def get(self, path: str, **kwargs) -> tuple[int, bytes, str]:
        return self.request("GET", path, **kwargs)

    def _csrf_headers(self) -> dict[str, str]:
        token = self.cookie("csrftoken")
        headers = {"Referer": self.base_url + "/"}
        if token:
            headers["X-CSRFToken"] = token
        return headers

    def post_form(self, path: str, fields: dict[str, str] | list[tuple[str, str]], **kwargs):
        items = list(fields.items()) if isinstance(fields, dict) else list(fields)
        token = self.cookie("csrftoken")
        if token and not any(key == "csrfmiddlewaretoken" for key, _ in items):
            items.append(("csrfmiddlewaretoken", token))
        body = urllib.parse.urlencode(items).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", **self._csrf_headers()}
        return self.request("POST", path, data=body, headers=headers, **kwargs)

    def post_json(self, path: str, payload: dict, **kwargs):
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   **self._csrf_headers()}
        return self.request("POST", path, data=json.dumps(payload).encode(), headers=headers,
                            **kwargs)

    def post_file(self, path: str, field_name: str, filename: str, content: bytes,
                  fields: dict[str, str] | None = None, **kwargs):
        boundary = uuid.uuid4().hex
        parts = []
        for key, value in (fields or {}).items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'
                f"{value}\r\n".encode()
            )
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
            + content + b"\r\n"
        )
        parts.append(f"--{boundary}--\r\n".encode())
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}",
                   "Accept": "application/json", **self._csrf_headers()}
        return self.request("POST", path, data=b"".join(parts), headers=headers, **kwargs)


def summarise(timings: list[Timing], wall_seconds: float) -> dict:
    """Requests, requests/s, latency percentiles (ms) and status counts of a run."""
    import numpy as np

    seconds = np.array([t.seconds for t in timings]) if timings else np.zeros(1)
    statuses: dict[str, int] = {}
    for timing in timings:
        statuses[str(timing.status)] = statuses.get(str(timing.status), 0) + 1
    return {
        "requests": len(timings),
        "wall_s": round(wall_seconds, 2),
        "requests_per_s": round(len(timings) / wall_seconds, 1) if wall_seconds else 0.0,
        "p50_ms": round(float(np.percentile(seconds, 50)) * 1000, 1),
        "p95_ms": round(float(np.percentile(seconds, 95)) * 1000, 1),
        "max_ms": round(float(seconds.max()) * 1000, 1),
        "statuses": statuses,
    }


def warm_up(base_url: str, paths: list[str], *, rounds: int) -> None:
    """Let every gunicorn worker import and connect before the timed run starts."""
    from concurrent.futures import ThreadPoolExecutor

    visitor = Browserless(base_url)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: visitor.get(paths[i % len(paths)]), range(rounds)))


def machine_summary() -> dict:
    """CPU count and load, so figures from a shared machine can be read in context."""
    return {
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python": sys.version.split()[0],
    }


def requests_served(site: Stack) -> int:
    """HTTP requests gunicorn has logged so far (its access log goes to gunicorn.log)."""
    log = site.log("gunicorn.log")
    return sum(log.count(f'"{method} ') for method in ("GET", "POST", "PUT", "PATCH", "DELETE"))
