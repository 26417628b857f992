"""A crowd of 100 simulated respondents votes at once on PostgreSQL while staff retrain.

Runs in the second pass of scripts/test.sh (PostgreSQL, Redis and a real Celery worker per
queue, started by tests/services/conftest.py). Each respondent has its own HTTP client and
thread; they join, ask for questions and vote through the survey API. While their votes
still arrive, staff start a retraining of the group classifier from the training page; the
worker takes it from the broker and finishes it. No vote is lost or doubled.
"""
from __future__ import annotations

import threading
import time

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Sum
from django.test import Client
from django.urls import reverse

from denoiser.reucid.simulation.scenes import make_scene
from survey.models import Respondent, Response, Survey
from survey.services.crowd import plan_crowd, run_crowd, scene_detail
from survey.services.images import add_survey_image, generate_candidates
from tests.services.conftest import wait_for
from tests.services.test_jobs_through_broker import LOG_LINE_TIMEOUT_S, worker_handled
from training import services as training_services
from training.models import TrainingRun

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

N_RESPONDENTS = 100
CONCURRENCY = 8
SIZE = 64
CROWD_TIMEOUT_S = 180
TRAINING_TIMEOUT_S = 240
#: The training page's group run, sized for a test: survey labels only, two epochs, a
#: held-out gate of one small crystal per dose.
SMALL_GROUP_RUN = {"size": SIZE, "epochs": 2, "seed": 0, "held_out_crystals": 1,
                   "held_out_size": SIZE, "held_out_scenes": False}


def scene_images(survey: Survey) -> list:
    images = []
    for seed in (1, 2):
        scene = make_scene("vacancies_thick", 100.0, seed=seed, size=SIZE, material="Au_110")
        image = add_survey_image(
            survey=survey, noisy=scene.noisy, clean=scene.clean, title=f"scene {seed}",
            source="simulated", material="Au_110", dose=100.0, candidate_method="best",
            source_detail=scene_detail("vacancies_thick", "Au_110", seed, 100.0, SIZE),
            make_candidates=False)
        images.append(generate_candidates(image.id))
    return images


def test_a_concurrent_crowd_loses_no_vote_while_a_retraining_runs_in_the_worker(
        through_broker, monkeypatch):
    survey = Survey.objects.create(name="Crowd", slug="crowd", k_max=6,
                                   attention_check_every=3)
    images = scene_images(survey)
    staff = Client()
    staff.force_login(get_user_model().objects.create_user(
        "staff", password="pw-staff-123", is_staff=True, is_superuser=True))
    # the training page's form, with the run sized for a test (the view calls this)
    form_options = training_services.run_options_from_form
    monkeypatch.setattr(training_services, "run_options_from_form",
                        lambda data: {**form_options(data), **SMALL_GROUP_RUN})

    outcome: dict = {}

    def crowd() -> None:
        try:
            outcome["report"] = run_crowd(
                plan_crowd(N_RESPONDENTS, experts=0.3, adversarial=0.1,
                           attention_failures=0.05, seed=0),
                seed=0, concurrency=CONCURRENCY, repeat_fraction=0.1)
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            outcome["error"] = error
        finally:
            connection.close()

    voting = threading.Thread(target=crowd, name="crowd")
    voting.start()
    try:
        deadline = time.monotonic() + CROWD_TIMEOUT_S
        while Response.objects.count() < 20 and voting.is_alive() \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        assert voting.is_alive(), outcome.get("error") or "the crowd finished too soon"
        page = staff.post(reverse("training:start-run"), {
            "source": "survey", "kind": "group", "respondents": "all"})
        assert page.status_code == 302
        run = TrainingRun.objects.get()
        votes_when_started = Response.objects.count()
    finally:
        voting.join(CROWD_TIMEOUT_S)
    assert not voting.is_alive(), "the crowd did not finish"
    assert "error" not in outcome, outcome.get("error")
    report = outcome["report"]

    # votes kept arriving after the retraining was queued
    assert Response.objects.count() > votes_when_started
    assert Response.objects.filter(updated_at__gt=run.created_at).exists()
    # every respondent joined (each from its own address) and answered every image once
    assert report.joined == Respondent.objects.count() == N_RESPONDENTS
    assert report.refused == 0
    assert report.accepted == N_RESPONDENTS * len(images) == Response.objects.count()
    doubled = (Response.objects.values("respondent", "image").annotate(n=Count("id"))
               .filter(n__gt=1))
    assert not doubled.exists()
    # a double click updated the answer it repeated, and nothing else
    assert report.repeated > 0
    assert Response.objects.aggregate(total=Sum("revisions"))["total"] == report.repeated
    stored = {(r.respondent_id, r.image_id): r.chosen_k for r in Response.objects.all()}
    for vote in report.votes:
        assert stored[(report.respondent_ids[vote.respondent], vote.image_id)] == vote.k

    # the retraining the staff page queued ran in the training worker, on survey labels
    wait_for(lambda: TrainingRun.objects.get(pk=run.pk).status in (
        TrainingRun.Status.SUCCEEDED, TrainingRun.Status.FAILED),
        timeout_s=TRAINING_TIMEOUT_S, workers=through_broker, what="the retraining")
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.options["kind"] == "group" and run.result.kind == "group"
    assert run.result.training_summary["n_images"] == len(images)
    wait_for(lambda: worker_handled(through_broker, "training", "training.train_classifier",
                                    run.task_id),
             timeout_s=LOG_LINE_TIMEOUT_S, workers=through_broker,
             what="the training worker's log line")
