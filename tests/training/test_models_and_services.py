"""Registering, activating and rolling back classifiers; the cross-app selectors."""
from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import IntegrityError

from denoiser.reucid.errors import ModelLoadError
from denoiser.reucid.selection import cnn, group_cnn
from training import selectors, services
from training.models import ActivationEvent, ClassifierModel

pytestmark = pytest.mark.django_db


def test_a_valid_file_is_registered_hashed_and_inactive(model_file):
    path = model_file(seed=1)
    record = services.register_classifier_file(path, name="one")
    assert record.sha256 == services.sha256_of(path)
    assert record.architecture["channels"] == [14, 15]
    assert record.seed == 1 and record.code_version == "test"
    assert not record.is_active
    assert selectors.active_classifier_record() is None


@pytest.mark.parametrize("payload", [b"", b"garbage" * 100, b"PK\x03\x04broken zip"])
def test_a_corrupt_upload_is_refused_and_nothing_is_stored(payload):
    with pytest.raises(ModelLoadError):
        services.register_classifier_file(io.BytesIO(payload), name="bad")
    assert ClassifierModel.objects.count() == 0


def test_exactly_one_model_is_active_and_roll_back_restores_the_previous(model_file):
    first = services.register_classifier_file(model_file(seed=1), name="first")
    second = services.register_classifier_file(model_file(seed=2), name="second")
    services.activate_classifier(first)
    services.activate_classifier(second)
    assert list(ClassifierModel.objects.filter(is_active=True)) == [second]
    assert services.sha256_of(selectors.active_classifier_path()) == second.sha256
    restored = services.roll_back_classifier()
    assert restored == first
    assert list(ClassifierModel.objects.filter(is_active=True)) == [first]
    assert ActivationEvent.objects.count() == 3


def test_the_database_forbids_two_active_models(model_file):
    first = services.register_classifier_file(model_file(seed=1), name="first")
    second = services.register_classifier_file(model_file(seed=2), name="second")
    services.activate_classifier(first)
    with pytest.raises(IntegrityError):
        ClassifierModel.objects.filter(pk=second.pk).update(is_active=True)


def test_roll_back_without_history_is_a_clear_error(model_file):
    with pytest.raises(services.TrainingError, match="no classifier is active"):
        services.roll_back_classifier()
    services.activate_classifier(services.register_classifier_file(model_file(), name="m"))
    with pytest.raises(services.TrainingError, match="no earlier"):
        services.roll_back_classifier()


def test_a_damaged_stored_file_is_never_activated(model_file):
    record = services.register_classifier_file(model_file(), name="m")
    with open(record.file.path, "wb") as handle:
        handle.write(b"damaged on disk")
    with pytest.raises(ModelLoadError):
        services.activate_classifier(record)
    assert selectors.active_classifier_record() is None


def test_active_path_falls_back_to_the_shipped_model_then_errors(tmp_path, monkeypatch,
                                                                  model_file):
    shipped = model_file(seed=5, name="shipped.pt")
    monkeypatch.setattr(cnn, "SHIPPED_MODEL_PATH", shipped)
    assert selectors.active_classifier_path() == shipped
    monkeypatch.setattr(cnn, "SHIPPED_MODEL_PATH", tmp_path / "absent.pt")
    with pytest.raises(ModelLoadError):
        selectors.active_classifier_path()


def test_register_shipped_model_is_idempotent_and_never_overrides_an_active_model(
        monkeypatch, model_file):
    monkeypatch.setattr(cnn, "SHIPPED_MODEL_PATH", model_file(seed=7, name="shipped.pt"))
    record, created, activated = services.register_shipped_model()
    assert created and activated and record.is_shipped
    again, created_again, activated_again = services.register_shipped_model()
    assert again.pk == record.pk and not created_again and not activated_again
    # a new release's default replaces the old default...
    monkeypatch.setattr(cnn, "SHIPPED_MODEL_PATH", model_file(seed=10, name="shipped.pt"))
    newer, created_newer, activated_newer = services.register_shipped_model()
    assert created_newer and activated_newer and newer.pk != record.pk
    # ...but never a model an admin chose
    other = services.register_classifier_file(model_file(seed=8), name="other")
    services.activate_classifier(other)
    monkeypatch.setattr(cnn, "SHIPPED_MODEL_PATH", model_file(seed=11, name="shipped.pt"))
    services.register_shipped_model()
    assert selectors.active_classifier_record() == other


def test_register_shipped_model_command(monkeypatch, model_file):
    monkeypatch.setattr(cnn, "SHIPPED_MODEL_PATH", model_file(seed=9, name="shipped.pt"))
    monkeypatch.setattr(group_cnn, "GROUP_SHIPPED_MODEL_PATH",
                        cnn.SHIPPED_MODEL_PATH.parent / "no-group.pt")
    out = io.StringIO()
    call_command("register_shipped_model", stdout=out)
    call_command("register_shipped_model", stdout=out)
    assert "registered and activated" in out.getvalue()
    assert "already registered" in out.getvalue()
    assert "no shipped group model file" in out.getvalue()
    assert ClassifierModel.objects.count() == 1
