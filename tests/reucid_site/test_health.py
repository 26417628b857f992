"""The /health/ endpoint: each check, each failure, and the HTTP status a balancer acts on."""
from __future__ import annotations

import pytest
from django.db import OperationalError, connections

from denoiser.reucid.errors import ModelLoadError
from denoiser.reucid.selection.cnn import EigenpatchCNN, save_classifier
from reucid_site.celery import app as celery_app
from training.services import activate_classifier, register_classifier_file

pytestmark = pytest.mark.django_db

DEAD_BROKER_URL = "redis://127.0.0.1:1/0"  # port 1: nothing listens, refused at once
# The site publishes through broker_write_url, which Celery resolves before broker_url and the
# CELERY_BROKER_URL environment variable, so tests override that one.


@pytest.fixture
def training_selectors():
    return pytest.importorskip("training.selectors")


@pytest.fixture
def active_model(training_selectors, tmp_path):
    """A (small, untrained) classifier registered and activated the way the site does it."""
    path = save_classifier(EigenpatchCNN(), tmp_path / "probe.pt", metadata={"seed": 0})
    return activate_classifier(register_classifier_file(path, name="health probe"))


@pytest.fixture
def celery_conf():
    """Celery's settings, with every value a test changes put back afterwards."""
    saved = {}

    class Overrides:
        def set(self, **values):
            for key, value in values.items():
                saved.setdefault(key, celery_app.conf[key])
                celery_app.conf[key] = value

    yield Overrides()
    for key, value in saved.items():
        celery_app.conf[key] = value


@pytest.fixture
def filesystem_broker(tmp_path, celery_conf):
    """A real, service-free broker (kombu's filesystem transport) in a temporary folder."""
    folder = str(tmp_path / "broker")
    (tmp_path / "broker").mkdir()
    celery_conf.set(
        task_always_eager=False,
        broker_write_url="filesystem://localhost/",
        broker_transport_options={
            "data_folder_in": folder, "data_folder_out": folder, "control_folder": folder
        },
    )


def get_health(client):
    response = client.get("/health/")
    assert response["Content-Type"] == "application/json"
    return response, response.json()


def test_healthy_embedded_site_answers_200_with_every_check(client, active_model, settings):
    response, body = get_health(client)

    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["broker"] == "eager"
    assert body["version"] == settings.REUCID_VERSION
    assert body["active_model"] == {
        "source": "database",
        "id": active_model.pk,
        "name": "health probe",
        "shipped": False,
        "file": active_model.file.name.rsplit("/", 1)[-1],
    }
    assert "errors" not in body


def test_reachable_broker_is_ok(client, active_model, filesystem_broker):
    response, body = get_health(client)

    assert response.status_code == 200, body
    assert body["broker"] == "ok"


def test_unreachable_broker_answers_503(client, celery_conf):
    celery_conf.set(task_always_eager=False, broker_write_url=DEAD_BROKER_URL)

    response, body = get_health(client)

    assert response.status_code == 503
    assert body["status"] == "error"
    assert body["broker"] == "error"
    assert body["errors"]["broker"] == "OperationalError"
    assert "127.0.0.1:1" not in response.content.decode(), "no connection details leak"


def test_database_failure_answers_503(client, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("could not connect to server: Connection refused")

    monkeypatch.setattr(connections["default"], "cursor", refuse)

    response, body = get_health(client)

    assert response.status_code == 503
    assert body["database"] == "error"
    assert body["errors"]["database"] == "OperationalError"
    assert "Connection refused" not in response.content.decode()


def test_missing_model_answers_503(client, active_model, training_selectors, monkeypatch):
    def no_model():
        raise ModelLoadError("no active classifier and no shipped model file")

    monkeypatch.setattr(training_selectors, "active_classifier_path", no_model)

    response, body = get_health(client)

    assert response.status_code == 503
    assert body["active_model"] == "missing"
    assert body["errors"]["active_model"] == "ModelLoadError"
    assert body["database"] == "ok"


def test_vanished_active_file_without_package_model_is_missing(
    client, active_model, monkeypatch, tmp_path
):
    monkeypatch.setattr("denoiser.reucid.selection.cnn.SHIPPED_MODEL_PATH", tmp_path / "absent.pt")
    active_model.file.delete(save=False)

    response, body = get_health(client)

    assert response.status_code == 503
    assert body["active_model"] == "missing"
    assert body["errors"]["active_model"] == "ModelLoadError"


def test_vanished_active_file_falls_back_to_the_package_model(
    client, active_model, monkeypatch, tmp_path
):
    package_model = save_classifier(EigenpatchCNN(), tmp_path / "package.pt")
    monkeypatch.setattr("denoiser.reucid.selection.cnn.SHIPPED_MODEL_PATH", package_model)
    active_model.file.delete(save=False)

    response, body = get_health(client)

    assert response.status_code == 200, body
    assert body["active_model"]["source"] == "package"
    assert body["active_model"]["file"] == "package.pt"
    assert f"#{active_model.pk}" in body["active_model"]["warning"]


def test_nothing_activated_yet_uses_the_package_model(client, training_selectors, monkeypatch,
                                                     tmp_path):
    package_model = save_classifier(EigenpatchCNN(), tmp_path / "package.pt")
    monkeypatch.setattr("denoiser.reucid.selection.cnn.SHIPPED_MODEL_PATH", package_model)

    response, body = get_health(client)

    assert response.status_code == 200, body
    assert body["active_model"] == {"source": "package", "file": "package.pt"}


def test_health_only_answers_get(client):
    assert client.post("/health/").status_code == 405


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_real_database_and_broker_are_ok(client, settings, celery_conf):
    """Second pass of scripts/test.sh: PostgreSQL and Redis/RabbitMQ really answer."""
    assert "postgresql" in settings.DATABASES["default"]["ENGINE"]
    celery_conf.set(task_always_eager=False)

    response, body = get_health(client)

    assert body["database"] == "ok"
    assert body["broker"] == "ok", body
