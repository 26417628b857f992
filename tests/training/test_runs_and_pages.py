"""Retraining runs (service, Celery task, command), the staff page and the admin."""
from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from denoiser.reucid.selection.cnn import load_classifier
from training import services
from training.models import ClassifierModel, LabelledDataset, TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_user("staff", password="pw", is_staff=True,
                                                is_superuser=True)
    client.force_login(user)
    return client


def test_the_training_page_is_staff_only(client):
    response = client.get("/training/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    get_user_model().objects.create_user("plain", password="pw")
    client.login(username="plain", password="pw")
    assert client.get("/training/").status_code == 302
    assert client.post("/training/runs/start/").status_code == 302
    assert TrainingRun.objects.count() == 0


def test_start_button_runs_the_task_records_progress_and_keeps_the_active_model(
        staff_client, tiny_run_settings, model_file, django_capture_on_commit_callbacks):
    active = services.register_classifier_file(model_file(seed=1), name="incumbent")
    services.activate_classifier(active)
    page = staff_client.get("/training/")
    assert page.status_code == 200 and b"Start retraining" in page.content
    assert b"csrfmiddlewaretoken" in page.content
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = staff_client.post("/training/runs/start/", {"source": "auto", "tune": "0"})
    assert response.status_code == 302 and len(callbacks) == 1
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.epoch == len(run.history) >= 1 and run.n_epochs == 2
    assert {"epoch", "train_loss", "val_loss"} <= set(run.history[0])
    result = run.result
    assert set(result.headline_metrics) >= {"accuracy", "balanced_accuracy",
                                             "psnr_gap_to_oracle_db", "psnr_gain_over_mp_db"}
    assert result.metrics["held_out"]["by_dose"][0]["dose"] == 100.0
    assert not result.is_active and not run.activated  # activation is explicit
    assert ClassifierModel.objects.get(is_active=True) == active
    dataset = LabelledDataset.objects.get()
    assert dataset.source == "auto" and dataset.images.count() == dataset.n_images > 0
    status = staff_client.get(reverse("training:run-status", args=[run.pk])).json()
    assert status["status"] == "succeeded" and status["result"]["id"] == result.pk


def test_a_failed_run_is_recorded_and_never_replaces_the_active_model(model_file):
    active = services.register_classifier_file(model_file(seed=1), name="incumbent")
    services.activate_classifier(active)
    run = services.create_training_run(source="survey", auto_activate=True)
    run = services.execute_training_run(run.pk)
    assert run.status == TrainingRun.Status.FAILED
    assert "survey" in run.error
    assert ClassifierModel.objects.get(is_active=True) == active
    assert ClassifierModel.objects.count() == 1


def test_auto_activation_only_when_the_candidate_beats_the_active_model(
        tiny_run_settings, monkeypatch, model_file):
    active = services.register_classifier_file(model_file(seed=1), name="incumbent")
    services.activate_classifier(active)
    monkeypatch.setattr(services, "_active_is_better", lambda *a: (True, {"why": "test"}))
    worse = services.execute_training_run(
        services.create_training_run(source="auto", auto_activate=True).pk)
    assert worse.status == "succeeded" and not worse.activated
    assert ClassifierModel.objects.get(is_active=True) == active
    monkeypatch.setattr(services, "_active_is_better", lambda *a: (False, {"why": "test"}))
    better = services.execute_training_run(
        services.create_training_run(source="auto", auto_activate=True).pk)
    assert better.activated and ClassifierModel.objects.get(is_active=True) == better.result


def test_bad_run_options_are_refused():
    with pytest.raises(services.TrainingError):
        services.create_training_run(source="everything")
    with pytest.raises(services.TrainingError):
        services.create_training_run(tune_trials=-1)


def test_train_classifier_command_failure_is_reported():
    with pytest.raises(CommandError, match="survey"):
        call_command("train_classifier", "--from", "survey", stdout=io.StringIO())


def test_admin_refuses_a_corrupt_upload_and_activates_from_the_changelist(
        staff_client, model_file):
    add_url = reverse("admin:training_classifiermodel_add")
    response = staff_client.post(add_url, {
        "name": "broken", "upload": SimpleUploadedFile("broken.pt", b"not a model")})
    assert response.status_code == 200 and b"refused" in response.content
    assert ClassifierModel.objects.count() == 0
    good = SimpleUploadedFile("good.pt", model_file(seed=4).read_bytes())
    response = staff_client.post(add_url, {"name": "good", "upload": good})
    assert response.status_code == 302
    record = ClassifierModel.objects.get()
    assert record.name == "good"
    changelist = reverse("admin:training_classifiermodel_changelist")
    staff_client.post(changelist, {"action": "activate_selected", "_selected_action": [record.pk]})
    record.refresh_from_db()
    assert record.is_active


def test_admin_start_button_queues_a_run(staff_client, monkeypatch):
    started = []
    monkeypatch.setattr(services, "start_training_run",
                        lambda **kw: started.append(kw) or TrainingRun.objects.create())
    changelist = staff_client.get(reverse("admin:training_trainingrun_changelist"))
    assert b"Start retraining" in changelist.content
    staff_client.post(reverse("admin:training_trainingrun_start"), {"source": "auto"})
    assert started and started[0]["source"] == "auto"


def test_train_classifier_components_option_is_recorded_in_the_model(tmp_path,
                                                                      tiny_run_settings):
    call_command("train_classifier", "--from", "auto", "--scenes", "6", "--epochs", "1",
                 "--sizes", "64", "--evaluation-scenes", "1", "--components", "12",
                 stdout=io.StringIO())
    model = ClassifierModel.objects.get()
    assert model.metrics["headline"]["n_components"] == 12
    local = tmp_path / "model.pt"
    with model.file.open("rb") as handle:
        local.write_bytes(handle.read())
    assert load_classifier(local).n_components_required == 12
    dataset = LabelledDataset.objects.get()
    assert dataset.rule_parameters["n_components"] == 12
    assert set(dataset.images.values_list("n_components", flat=True)) == {12}
    with pytest.raises(CommandError, match="positive"):
        call_command("train_classifier", "--components", "0", stdout=io.StringIO())
