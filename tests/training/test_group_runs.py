"""Retraining the group classifier: runs from the page, the held-out gate, kinds, rollback."""
from __future__ import annotations

import io

import pytest
import torch
from django.contrib.auth import get_user_model
from django.core.management import call_command

from denoiser.reucid.selection import NoiseEdge
from denoiser.reucid.selection.group_cnn import (
    GroupClassifier,
    GroupEigenpatchNet,
    save_group_classifier,
)
from training import selectors, services
from training.group_examples import held_out_group_cases
from training.models import ClassifierModel, TrainingRun

pytestmark = pytest.mark.django_db

TINY = {"n_crystals": 1, "n_scenes": 0, "size": 64, "epochs": 1, "held_out_crystals": 1,
        "held_out_size": 64, "held_out_scenes": False}


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_user("staff", password="pw", is_staff=True,
                                                is_superuser=True)
    client.force_login(user)
    return client


@pytest.fixture
def tiny_group_runs(settings):
    settings.REUCID_GROUP_TRAINING_RUN_DEFAULTS = TINY
    return settings


def _group_file(tmp_path, name="g.pt", *, bias=None, seed=0):
    torch.manual_seed(seed)
    net = GroupEigenpatchNet()
    if bias is not None:  # a network that always answers the same: keep all / keep none
        with torch.no_grad():
            for parameter in net.parameters():
                parameter.zero_()
            net.linear.bias.fill_(bias)
    return save_group_classifier(net, tmp_path / name, metadata={"name": name})


def test_a_group_run_from_the_page_is_gated_on_the_held_out_set(
        staff_client, tiny_group_runs, model_file, django_capture_on_commit_callbacks):
    paper = services.register_classifier_file(model_file(seed=1), name="paper cnn")
    services.activate_classifier(paper)
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post("/training/runs/start/", {"source": "auto", "kind": "group",
                                                    "respondents": "experts",
                                                    "auto_activate": "on"})
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.options == {"kind": "group", "respondents": "experts"}
    result = run.result
    gate = result.metrics["gate"]
    assert result.kind == "group" and gate["reference"] == "noise-edge rule"
    assert {entry["dose"] for entry in gate["by_dose"]} == {100.0, 500.0, 1000.0, 10000.0}
    # activated exactly when at least as good as what the default method used before
    assert run.activated == gate["ok"] == result.is_active
    # the paper method keeps its own active CNN whatever happened
    assert selectors.active_classifier_record("paper") == paper
    page = staff_client.get("/training/").content.decode()
    assert 'data-test="gate"' in page and "held-out vs noise-edge rule" in page


def test_a_run_from_the_page_can_continue_from_the_active_group_model(
        staff_client, tiny_group_runs, tmp_path, django_capture_on_commit_callbacks):
    active = services.register_classifier_file(_group_file(tmp_path, "start.pt", seed=3),
                                               name="start")
    services.activate_classifier(active)
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post("/training/runs/start/", {"source": "auto", "kind": "group",
                                                    "warm_start": "on"})
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.options == {"kind": "group", "respondents": "all", "warm_start": True}
    assert run.result.training_summary["started_from"] == {"id": active.pk, "name": "start"}
    page = staff_client.get("/training/").content.decode()
    assert 'data-test="training-warm-start"' in page
    assert f"continued from #{active.pk} start" in page


def test_continuing_without_an_active_group_model_trains_a_new_one(tiny_group_runs):
    run = services.create_training_run(source="auto",
                                       options={"kind": "group", "warm_start": True})
    run = services.execute_training_run(run.pk)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.result.training_summary["started_from"] is None


def test_the_gate_refuses_a_worse_model_and_accepts_an_equal_one(tmp_path):
    cases = held_out_group_cases(n_crystals=1, size=64, scenes=False)
    kind, keeps_everything = services.load_model_file(_group_file(tmp_path, bias=30.0))
    assert kind == "group" and isinstance(keeps_everything, GroupClassifier)
    verdict = services.gate_against_active(keeps_everything, cases=cases)
    assert not verdict["ok"] and verdict["psnr_gain_db"] < 0

    assert services.gate_against_active(NoiseEdge(), cases=cases)["ok"]


def test_a_survey_run_without_default_method_answers_fails_and_changes_nothing(
        tiny_group_runs):
    run = services.create_training_run(source="survey", options={"kind": "group"})
    run = services.execute_training_run(run.pk)
    assert run.status == TrainingRun.Status.FAILED
    assert "no survey image of the default method" in run.error
    assert not ClassifierModel.objects.exists()


def test_each_kind_has_its_own_active_model_and_rollback(tmp_path, model_file):
    paper = services.register_classifier_file(model_file(seed=1), name="paper")
    first = services.register_classifier_file(_group_file(tmp_path, "a.pt", seed=1), name="a")
    second = services.register_classifier_file(_group_file(tmp_path, "b.pt", seed=2), name="b")
    assert (paper.kind, first.kind, second.kind) == ("paper", "group", "group")
    for record in (paper, first, second):
        services.activate_classifier(record)
    assert selectors.active_classifier_record("paper") == paper
    assert selectors.active_classifier_record("group") == second
    assert services.roll_back_classifier(kind="group") == first
    assert selectors.active_classifier_record("paper") == paper
    assert selectors.active_classifier_path("group").read_bytes() == \
        (tmp_path / "a.pt").read_bytes()


def test_the_page_refuses_an_unknown_kind(staff_client):
    staff_client.post("/training/runs/start/", {"source": "auto", "kind": "magic"})
    assert not TrainingRun.objects.exists()


def test_the_command_continues_from_the_active_group_model(tiny_group_runs, tmp_path):
    active = services.register_classifier_file(_group_file(tmp_path, "start.pt", seed=4),
                                               name="start")
    services.activate_classifier(active)
    out = io.StringIO()
    call_command("train_classifier", "--kind", "group", "--from", "auto", "--warm-start",
                 "--crystals", "1", "--group-scenes", "0", "--epochs", "1", stdout=out)
    run = TrainingRun.objects.get()
    assert run.options["warm_start"] is True
    assert run.result.training_summary["started_from"]["id"] == active.pk
    assert f"group model #{run.result_id} registered" in out.getvalue()
