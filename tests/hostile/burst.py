"""N simultaneous uploads against a real server on loopback: how many connections reset?

    python -m tests.hostile.burst --server gunicorn --uploads 30 --runs 4
    python -m tests.hostile.burst --server runserver --uploads 100 --runs 4

Starts the site the way scripts/start.sh does (``gunicorn reucid_site.wsgi`` with
gunicorn.conf.py, or ``manage.py runserver``) on a free 127.0.0.1 port, on a fresh SQLite
database and media folder under a temporary directory, with a ``filesystem://`` broker and no
worker (uploads are validated, stored and queued; nothing is denoised). Then ``uploads``
threads wait on one barrier and each POSTs a 64x64 .npy to /api/denoise/ at the same moment
(the per-client job limit is lifted: every upload is read, stored and queued).
A reset is any connection the server refused, reset or closed without an HTTP answer. Each
run is bounded (every request has a 120 s timeout; the server is stopped afterwards).
"""
from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
RESET_ERRORS = (ConnectionResetError, ConnectionRefusedError, BrokenPipeError,
                ConnectionAbortedError, http.client.RemoteDisconnected,
                http.client.BadStatusLine)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def upload_body() -> tuple[bytes, str]:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:64, 0:64]
    lattice = 1.0 + np.cos(2 * np.pi * y / 8) * np.cos(2 * np.pi * x / 8)
    buffer = io.BytesIO()
    np.save(buffer, rng.poisson(20.0 * lattice).astype(np.float32))
    boundary = uuid.uuid4().hex
    parts = [
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"method\"\r\n\r\npaper\r\n",
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
        f"filename=\"burst.npy\"\r\nContent-Type: application/octet-stream\r\n\r\n",
    ]
    body = "".join(parts).encode() + buffer.getvalue() + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


class Site:
    """A throw-away site on loopback (see the module docstring)."""

    def __init__(self, server: str, workdir: Path):
        self.server, self.workdir, self.port = server, workdir, free_port()
        self.env = {
            **{k: v for k, v in os.environ.items()
               if not k.startswith(("DATABASE_URL", "CELERY_", "REUCID_", "DJANGO_"))},
            "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
            "MEDIA_ROOT": str(workdir / "media"),
            "CELERY_BROKER_URL": "filesystem://localhost/",
            "REUCID_BROKER_DIR": str(workdir / "broker"),
            "REUCID_SECRET_KEY_FILE": str(workdir / "secret_key"),
            "REUCID_CACHE_URL": f"file://{workdir / 'cache'}",
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "GUNICORN_ACCESS_LOG": str(workdir / "access.log"),
            "DJANGO_DEBUG": "1",
            # every upload comes from 127.0.0.1: lift the per-client job limit so each one
            # is read, validated, stored and queued (the work a burst really costs)
            "REUCID_MAX_JOBS_PER_CLIENT": "0",
        }
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Site:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                       cwd=REPO_ROOT, env=self.env, check=True, timeout=300)
        if self.server == "gunicorn":
            command = [sys.executable, "-m", "gunicorn", "reucid_site.wsgi"]
        else:
            command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}",
                       "--noreload"]
        log = open(self.workdir / "server.log", "wb")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(command, cwd=REPO_ROOT, env=self.env, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/health/")
                connection.getresponse().read()
                return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError((self.workdir / "server.log").read_text()[-2000:])
                time.sleep(0.5)
        raise RuntimeError("the server did not answer within 120 s")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)


def burst(port: int, uploads: int) -> dict:
    """Fire ``uploads`` POSTs at once; count statuses and resets."""
    body, content_type = upload_body()
    barrier = threading.Barrier(uploads)
    outcomes: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        try:
            barrier.wait(timeout=60)
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            connection.request("POST", "/api/denoise/", body=body,
                               headers={"Content-Type": content_type})
            outcome = str(connection.getresponse().status)
        except RESET_ERRORS as error:
            outcome = f"reset:{type(error).__name__}"
        except OSError as error:
            outcome = f"error:{type(error).__name__}"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=one) for _ in range(uploads)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    counts = Counter(outcomes)
    return {"uploads": uploads, "seconds": round(time.monotonic() - started, 2),
            "resets": sum(n for o, n in counts.items() if o.startswith("reset")),
            "outcomes": dict(counts)}


def measure(server: str, uploads: int, runs: int) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="reucid-burst-") as folder:
        with Site(server, Path(folder)) as site:
            return [burst(site.port, uploads) for _ in range(runs)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=["gunicorn", "runserver"], default="gunicorn")
    parser.add_argument("--uploads", type=int, default=30)
    parser.add_argument("--runs", type=int, default=4)
    args = parser.parse_args(argv)
    print(json.dumps({"server": args.server,
                      "runs": measure(args.server, args.uploads, args.runs)}))


if __name__ == "__main__":
    main()
