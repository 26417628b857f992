"""Killing workers: a job is retried or failed, never stuck; the active model survives.

    python -m loadtests.faults

Three faults on a stack of its own (PostgreSQL ``reucid_load_faults``, Redis DB 14):

1. ``child``: SIGKILL the pool process running a denoise job (what the kernel's OOM killer
   does). Late acknowledgement plus reject-on-worker-lost must hand the job back to the
   queue; it must end ``done`` (or ``failed`` with a reason).
2. ``worker``: SIGKILL the whole worker (node lost). The message stays unacknowledged in
   Redis; a new worker starts and ``manage.py recover_stale_jobs`` (cron/beat) must requeue
   the job, which must then end ``done``.
3. ``training``: SIGKILL the training worker's pool process mid-retraining. The active model
   must stay active and keep serving denoise jobs; the run's own fate is reported.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

from . import harness
from .jobs import lattice_npy

JOB_STATE = """
import json
from denoiser.models import DenoiseJob
job = DenoiseJob.objects.get(pk="{job_id}")
print(json.dumps({{"status": job.status, "attempts": job.attempts, "error": job.error[:300],
                  "stacks_done": job.stacks_done, "n_stacks": job.n_stacks}}))
"""
MAKE_ACTIVE_MODEL = """
from training.models import ClassifierModel
from training.services import (
    activate_classifier, create_training_run, execute_training_run, register_shipped_model)
record, _, _ = register_shipped_model()
if record is None:  # no shipped model in this checkout: train a tiny one to be the active one
    run = execute_training_run(create_training_run(source="auto", options={options!r}).pk)
    assert run.status == "succeeded", run.error
    record = activate_classifier(run.result, reason="load test")
print(ClassifierModel.objects.get(is_active=True).pk)
"""
START_TRAINING = """
from training.services import start_training_run
print(start_training_run(source="auto", options={options!r}).pk)
"""
TRAINING_STATE = """
import json
from training.models import ClassifierModel, TrainingRun
run = TrainingRun.objects.get(pk={run_id})
active = list(ClassifierModel.objects.filter(is_active=True).values_list("pk", flat=True))
print(json.dumps({{"status": run.status, "stage": run.stage, "epoch": run.epoch,
                  "error": run.error[:300], "active": active}}))
"""
TINY_TRAINING = {"n_scenes": 3, "epochs": 2, "evaluation_scenes": 1, "shape": [64, 64]}
LONG_TRAINING = {"n_scenes": 24, "epochs": 30, "evaluation_scenes": 2, "shape": [96, 96]}


def _state(site: harness.Stack, job_id: str) -> dict:
    return json.loads(site.python(JOB_STATE.format(job_id=job_id)).strip().splitlines()[-1])


def _submit(site: harness.Stack, *, side: int, n_stacks: int, classifier: str = "mp") -> str:
    visitor = harness.Browserless(site.base_url)
    status, body, _ = visitor.post_file(
        "/api/denoise/", "file", "big.npy", lattice_npy(7, side),
        fields={"method": "paper", "classifier": classifier, "n_stacks": str(n_stacks)})
    if status != 201:
        raise RuntimeError(f"upload refused ({status}): {body[:300]!r}")
    return json.loads(body)["id"]


def _wait_finished(site: harness.Stack, job_id: str, timeout: float) -> tuple[dict, float]:
    started = time.monotonic()
    state: dict = {}

    def finished() -> bool:
        nonlocal state
        state = _state(site, job_id)
        return state["status"] in ("done", "failed")

    try:
        harness.wait_for(finished, timeout=timeout, every=1, what=f"job {job_id} to finish")
    except TimeoutError:
        pass
    return state, time.monotonic() - started


def _wait_running(site: harness.Stack, job_id: str) -> None:
    harness.wait_for(lambda: _state(site, job_id)["status"] == "running", timeout=120,
                     every=0.2, what=f"job {job_id} to start running")


def kill_child_mid_job(site: harness.Stack, *, side: int, timeout: float) -> dict:
    worker = site.start_worker(queues="denoise", concurrency=1, name="denoise-child")
    job_id = _submit(site, side=side, n_stacks=8)
    _wait_running(site, job_id)
    children = harness.worker_children(worker)
    before = _state(site, job_id)
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    state, recovery = _wait_finished(site, job_id, timeout)
    site.stop(worker)
    return {"killed_pool_processes": len(children), "state_when_killed": before,
            "final": state, "seconds_to_final_state": round(recovery, 1),
            "ok": state.get("status") == "done" or (state.get("status") == "failed"
                                                    and bool(state.get("error")))}


def kill_worker_mid_job(site: harness.Stack, *, side: int, timeout: float) -> dict:
    worker = site.start_worker(queues="denoise", concurrency=1, name="denoise-node")
    job_id = _submit(site, side=side, n_stacks=8)
    _wait_running(site, job_id)
    before = _state(site, job_id)
    site.stop(worker, sig=signal.SIGKILL)
    time.sleep(6)
    stuck = _state(site, job_id)
    site.start_worker(queues="denoise", concurrency=1, name="denoise-replacement")
    recovered = site.manage("recover_stale_jobs", "--stale-after", "5")
    state, recovery = _wait_finished(site, job_id, timeout)
    return {"state_when_killed": before, "state_after_kill": stuck,
            "recover_stale_jobs": recovered.strip(), "final": state,
            "seconds_to_final_state_after_recovery": round(recovery, 1),
            "ok": state.get("status") == "done" or (state.get("status") == "failed"
                                                    and bool(state.get("error")))}


def kill_training_worker(site: harness.Stack, *, timeout: float, settle_s: float = 20) -> dict:
    active = int(site.python(MAKE_ACTIVE_MODEL.format(options=TINY_TRAINING)).split()[-1])
    site.start_worker(queues="denoise", concurrency=1, name="denoise-serving")
    trainer = site.start_worker(queues="training", concurrency=1, name="training")
    run_id = int(site.python(START_TRAINING.format(options=LONG_TRAINING)).split()[-1])

    def training(key: str = "status"):
        return json.loads(site.python(TRAINING_STATE.format(run_id=run_id)).split("\n")[-2])

    harness.wait_for(lambda: training()["status"] == "running", timeout=120, every=0.5,
                     what="the training run to start")
    time.sleep(3)  # into the data generation / training loop
    children = harness.worker_children(trainer)
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    killed_at = training()
    served_id = _submit(site, side=96, n_stacks=1, classifier="active")
    served, _ = _wait_finished(site, served_id, timeout)
    time.sleep(settle_s)  # a requeued run would have restarted by now
    later = training()
    return {
        "active_model_before": [active],
        "run_when_killed": killed_at,
        "active_model_after": later["active"],
        "denoise_with_active_model_after_kill": served,
        f"run_{settle_s:.0f}s_after_kill": later,
        "run_after_kill": later,
        "ok": later["active"] == [active] and served.get("status") == "done",
    }


def run(*, side: int = 768, timeout: float = 300, which: tuple[str, ...] = (
        "child", "worker", "training"), settle_s: float = 20,
        database: str = "reucid_load_faults") -> dict:
    report: dict = {"machine": harness.machine_summary(), "image_side": side}
    with harness.stack(database, redis_db=harness.REDIS_DB_FAULTS) as site:
        site.start_web(workers=2, threads=4)
        if "child" in which:
            report["kill_pool_process_mid_job"] = kill_child_mid_job(
                site, side=side, timeout=timeout)
        if "worker" in which:
            report["kill_whole_worker_mid_job"] = kill_worker_mid_job(
                site, side=side, timeout=timeout)
        if "training" in which:
            report["kill_training_worker_mid_run"] = kill_training_worker(
                site, timeout=timeout, settle_s=settle_s)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=768, help="image side of the killed job")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--only", choices=["child", "worker", "training"], action="append")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    reason = harness.services_missing()
    if reason:
        print(f"loadtests.faults: cannot run: {reason}", file=sys.stderr)
        return 2
    report = run(side=args.side, timeout=args.timeout,
                 which=tuple(args.only or ("child", "worker", "training")))
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as handle:
            handle.write(text + "\n")
    return 0 if all(v.get("ok") for v in report.values() if isinstance(v, dict) and "ok" in v) \
        else 1


if __name__ == "__main__":
    sys.exit(main())
