"""One name and one sign per measure (page, live table, admin); the live model table."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from training.measures import MEASURES
from training.models import ClassifierModel

pytestmark = pytest.mark.django_db

HEADLINE = {"accuracy": 0.91234, "balanced_accuracy": 0.8, "psnr_gap_to_oracle_db": 0.134,
            "psnr_gain_over_mp_db": 0.52}


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_user("staff", password="pw", is_staff=True,
                                                is_superuser=True)
    client.force_login(user)
    return client


def make_model(name: str = "run-7 model", **headline) -> ClassifierModel:
    return ClassifierModel.objects.create(
        name=name, file="training/classifiers/x.pt", sha256="0" * 64,
        metrics={"headline": {**HEADLINE, **headline}}, code_version="abc1234")


def test_the_page_and_the_admin_use_the_same_names_and_signs(staff_client):
    make_model()
    page = staff_client.get("/training/").content.decode()
    admin = staff_client.get(reverse("admin:training_classifiermodel_changelist")).content.decode()
    for text in (page, admin):
        for measure in MEASURES:
            assert measure.name in text, measure.name
        assert "−0.13" in text and "+0.52" in text and "0.912" in text
        assert "gap to oracle" not in text.lower() and "0.134" not in text
        assert "balanced acc." not in text


def test_the_model_table_is_served_alone_for_the_live_refresh(staff_client, client):
    first = staff_client.get(reverse("training:models-table")).content.decode()
    assert 'data-count="0"' in first
    make_model("fresh model")
    second = staff_client.get(reverse("training:models-table"))
    assert second["Cache-Control"] == "no-store"
    assert 'data-count="1"' in second.content.decode() and "fresh model" in second.content.decode()
    client.logout()
    assert client.get(reverse("training:models-table")).status_code == 302


def test_long_names_are_truncated_in_the_admin_list_but_kept_in_a_tooltip(staff_client):
    long_name = "retrained on survey + auto labels, 80 components, tuned " * 2
    make_model(long_name)
    html = staff_client.get(reverse("admin:training_classifiermodel_changelist")).content.decode()
    assert f'title="{long_name}"' in html and "training/admin.css" in html
