"""Concurrent uploads while a retraining runs: every job finishes or fails cleanly.

    python -m loadtests.jobs --uploads 20

Starts its own stack (PostgreSQL ``reucid_load_jobs``, Redis DB 14, gunicorn, one Celery
worker on the ``denoise`` queue and one on ``training``, as deployed), starts a retraining
run, and while it trains posts ``--uploads`` images at once to ``POST /api/denoise/``. Every
job must end ``done`` or ``failed`` with a reason within the time bound; the training run
must end too, and the uploads must not wait for it (separate queues).
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import harness

START_TRAINING = """
from training.services import start_training_run
run = start_training_run(source="auto", options={options!r})
print(run.pk)
"""
TRAINING_STATE = """
import json
from training.models import ClassifierModel, TrainingRun
run = TrainingRun.objects.get(pk={run_id})
active = list(ClassifierModel.objects.filter(is_active=True).values_list("pk", flat=True))
print(json.dumps({{"status": run.status, "epoch": run.epoch, "n_epochs": run.n_epochs,
                  "stage": run.stage, "error": run.error[:300], "active": active,
                  "started_at": run.started_at.isoformat() if run.started_at else None,
                  "finished_at": run.finished_at.isoformat() if run.finished_at else None}}))
"""
FINISHED = ("done", "failed")


def lattice_npy(seed: int, side: int) -> bytes:
    """A noisy lattice of Gaussian columns, as .npy bytes."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side].astype(np.float32)
    period = 7 + seed % 4
    clean = (np.cos(2 * np.pi * y / period) * np.cos(2 * np.pi * x / period) + 1.2) ** 3
    buffer = io.BytesIO()
    np.save(buffer, rng.poisson(8 * clean).astype(np.float32))
    return buffer.getvalue()


def upload(base_url: str, index: int, side: int, classifier: str,
           recorder: harness.Recorder, start: threading.Barrier) -> dict:
    visitor = harness.Browserless(base_url, recorder)
    content = lattice_npy(index, side)
    start.wait(timeout=120)
    submitted = time.perf_counter()
    status, body, _ = visitor.post_file(
        "/api/denoise/", "file", f"frame-{index}.npy", content,
        fields={"method": "paper", "classifier": classifier, "seed": str(index)},
        label="POST /api/denoise/")
    try:
        payload = json.loads(body)
    except ValueError:
        payload = {}
    return {"index": index, "http": status, "id": payload.get("id"), "submitted": submitted,
            "detail": payload.get("detail")}


def wait_for_jobs(base_url: str, jobs: list[dict], *, timeout: float) -> None:
    """Poll every job's status until all are finished or the bound runs out."""
    visitor = harness.Browserless(base_url)
    deadline = time.monotonic() + timeout
    pending = [job for job in jobs if job.get("id")]
    while pending and time.monotonic() < deadline:
        for job in list(pending):
            status, body, _ = visitor.get(f"/api/jobs/{job['id']}/")
            if status != 200:
                continue
            state = json.loads(body)
            job["status"], job["error"] = state["status"], state.get("error") or ""
            job["attempts"] = state.get("attempts")
            if state["status"] in FINISHED:
                job["finished_after_s"] = time.perf_counter() - job["submitted"]
                pending.remove(job)
        time.sleep(0.5)


def run(uploads: int, *, side: int = 128, training_options: dict | None = None,
        timeout: float = 600, database: str = "reucid_load_jobs") -> dict:
    options = training_options or {"n_scenes": 16, "epochs": 8, "evaluation_scenes": 2,
                                   "shape": [96, 96]}
    with harness.stack(database, redis_db=harness.REDIS_DB_JOBS) as site:
        base_url = site.start_web(workers=2, threads=8)
        site.start_worker(queues="denoise", concurrency=2, name="denoise")
        site.start_worker(queues="training", concurrency=1, name="training")
        run_id = int(site.python(START_TRAINING.format(options=options)).split()[-1])
        harness.wait_for(
            lambda: json.loads(site.python(TRAINING_STATE.format(run_id=run_id)))["status"]
            != "queued", timeout=120, what="the training run to start")
        training_at_start = json.loads(site.python(TRAINING_STATE.format(run_id=run_id)))

        recorder = harness.Recorder()
        start = threading.Barrier(uploads)
        began = time.perf_counter()
        with ThreadPoolExecutor(uploads) as pool:
            jobs = list(pool.map(
                lambda i: upload(base_url, i, side, "mp" if i % 2 else "k=8", recorder, start),
                range(uploads)))
        wait_for_jobs(base_url, jobs, timeout=timeout)
        jobs_wall = time.perf_counter() - began
        training_after_jobs = json.loads(site.python(TRAINING_STATE.format(run_id=run_id)))
        harness.wait_for(
            lambda: json.loads(site.python(TRAINING_STATE.format(run_id=run_id)))["status"]
            in ("succeeded", "failed"), timeout=timeout, every=2,
            what="the training run to finish")
        training_final = json.loads(site.python(TRAINING_STATE.format(run_id=run_id)))

    finished = [j for j in jobs if j.get("status") in FINISHED]
    latencies = sorted(j["finished_after_s"] for j in finished)
    return {
        "machine": harness.machine_summary(),
        "uploads": uploads,
        "image_side": side,
        "upload_requests": harness.summarise(recorder.timings, jobs_wall),
        "jobs": {
            "accepted": sum(1 for j in jobs if j["http"] == 201),
            "done": sum(1 for j in jobs if j.get("status") == "done"),
            "failed_cleanly": sum(1 for j in jobs if j.get("status") == "failed" and j["error"]),
            "stuck": [j["id"] for j in jobs if j.get("id") and j.get("status") not in FINISHED],
            "refused": [(j["http"], j["detail"]) for j in jobs if j["http"] != 201],
            "p50_s_to_finish": round(float(np.percentile(latencies, 50)), 2) if latencies else None,
            "p95_s_to_finish": round(float(np.percentile(latencies, 95)), 2) if latencies else None,
            "all_finished_within_s": round(jobs_wall, 1),
            "failures": [j["error"][:200] for j in jobs if j.get("status") == "failed"][:5],
        },
        "training": {
            "status_when_uploads_began": training_at_start["status"],
            "status_when_all_jobs_finished": training_after_jobs["status"],
            "epoch_when_all_jobs_finished": f"{training_after_jobs['epoch']}/"
                                            f"{training_after_jobs['n_epochs']}",
            "final_status": training_final["status"],
            "final_error": training_final["error"],
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--side", type=int, default=128, help="image side in pixels")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    reason = harness.services_missing()
    if reason:
        print(f"loadtests.jobs: cannot run: {reason}", file=sys.stderr)
        return 2
    report = run(args.uploads, side=args.side, timeout=args.timeout)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as handle:
            handle.write(text + "\n")
    jobs = report["jobs"]
    ok = (jobs["accepted"] == args.uploads and not jobs["stuck"]
          and jobs["done"] + jobs["failed_cleanly"] == args.uploads
          and report["training"]["final_status"] in ("succeeded", "failed"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
