"""Load and fault runs against real PostgreSQL, Redis, gunicorn and Celery workers.

The same code as ``python -m loadtests.votes|jobs|faults`` (whose full-size figures are in
docs/reliability.md), at sizes that keep the services pass of scripts/test.sh short. Each
run builds its own database (``reucid_load_*``), Redis DB (12-14) and media folder, binds
only to 127.0.0.1, and stops every process it started.
"""
from __future__ import annotations

import pytest

from loadtests import faults, harness, jobs, votes

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _services_reachable():
    reason = harness.services_missing()
    if reason:
        pytest.skip(f"load tests need loopback PostgreSQL and Redis: {reason}")


def test_concurrent_voters_lose_and_double_nothing():
    report = votes.run(respondents=40, images=2, workers=2, threads=8,
                       database="reucid_load_votes_test")
    check = report["verification"]
    assert check["client_errors"] == []
    assert check["answers_in_database"] == check["answers_expected"] == 80
    assert check["lost_votes"] == check["double_votes"] == check["wrong_final_choice"] == 0
    assert check["per_image_counts_exact"], check["per_image"]
    assert set(report["all_requests"]["statuses"]) == {"200"}, report["all_requests"]


def test_uploads_during_retraining_all_finish():
    report = jobs.run(
        6, side=96, timeout=300, database="reucid_load_jobs_test",
        training_options={"n_scenes": 6, "epochs": 4, "evaluation_scenes": 1,
                          "shape": [64, 64]},
    )
    outcome = report["jobs"]
    assert outcome["accepted"] == 6, outcome["refused"]
    assert outcome["stuck"] == []
    assert outcome["done"] + outcome["failed_cleanly"] == 6, outcome
    assert report["training"]["status_when_uploads_began"] == "running"
    assert report["training"]["final_status"] in ("succeeded", "failed")


def test_killed_workers_leave_no_job_stuck_and_keep_the_active_model():
    # large enough that the job is still running after the state read that precedes the
    # kill (each read starts a Django process: about a second on a loaded machine)
    report = faults.run(side=1536, timeout=240, settle_s=5,
                        database="reucid_load_faults_test")
    child = report["kill_pool_process_mid_job"]
    assert child["killed_pool_processes"] >= 1
    assert child["state_when_killed"]["status"] == "running", child
    assert child["ok"], child
    node = report["kill_whole_worker_mid_job"]
    assert node["state_when_killed"]["status"] == "running", node
    assert node["state_after_kill"]["status"] == "running", node  # what recovery is for
    assert node["ok"], node
    training = report["kill_training_worker_mid_run"]
    assert training["active_model_after"] == training["active_model_before"], training
    assert training["denoise_with_active_model_after_kill"]["status"] == "done", training
