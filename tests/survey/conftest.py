"""Fixtures of the survey tests."""
from __future__ import annotations

import pytest
from django.core.cache import cache
from django.contrib.auth import get_user_model
from django.http import HttpResponse
from django.test import RequestFactory

from survey.identity import COOKIE_NAME, remember_respondent
from tests.survey.factories import make_ready_image, make_respondent, make_survey


@pytest.fixture
def survey(db):
    return make_survey()


@pytest.fixture
def images(survey):
    return [make_ready_image(survey, seed=seed) for seed in range(3)]


@pytest.fixture
def respondent(db):
    return make_respondent("expert", field="physics", years_experience=5)


def login_respondent(client, respondent):
    """Give a test client the signed cookie that names `respondent`."""
    response = HttpResponse()
    remember_respondent(RequestFactory().get("/"), response, respondent)
    client.cookies[COOKIE_NAME] = response.cookies[COOKIE_NAME].value
    return client


@pytest.fixture
def respondent_client(client, respondent):
    return login_respondent(client, respondent)


@pytest.fixture
def staff_client(client, db):
    user = get_user_model().objects.create_user("staff", password="pw-staff-123",
                                                is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


@pytest.fixture
def plain_user_client(client, db):
    user = get_user_model().objects.create_user("plain", password="pw-plain-123")
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    """Joining the survey is throttled per client address (survey.throttles), counted in
    the cache; every test starts with the counters at zero."""
    cache.clear()
    yield
    cache.clear()
