"""Shared pytest fixtures for the whole suite."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.test import TransactionTestCase

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _media_root(tmp_path, settings):
    """Every test writes uploads and results into its own temporary media folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    return settings.MEDIA_ROOT


@pytest.fixture
def shared_data() -> Path:
    """The shared experimental/simulated images; tests using it skip where absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present on this machine")
    return SHARED_DATA


def services_configured() -> bool:
    """True when the run points at real services (PostgreSQL and a real broker)."""
    engine = settings.DATABASES["default"]["ENGINE"]
    return "postgresql" in engine and not settings.CELERY_BROKER_URL.startswith("memory://")


#: Fixtures through which a test reaches the database (directly or via pytest-django).
DATABASE_FIXTURES = frozenset({
    "db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback",
    "admin_user", "admin_client", "live_server",
})


def touches_database(item) -> bool:
    """Whether a collected test uses the database (marker, fixture or Django TestCase)."""
    if item.get_closest_marker("django_db") or item.get_closest_marker("services"):
        return True
    if DATABASE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    test_class = getattr(item, "cls", None)
    return isinstance(test_class, type) and issubclass(test_class, TransactionTestCase)


def pytest_collection_modifyitems(config, items):
    """`services` tests need PostgreSQL and a broker: skip them, saying so, in embedded runs.

    With REUCID_TEST_SCOPE=database (scripts/test.sh's second pass, on PostgreSQL) only tests
    that touch the database run: the others cannot behave differently there.
    """
    if os.environ.get("REUCID_TEST_SCOPE") == "database":
        kept = [item for item in items if touches_database(item)]
        deselected = [item for item in items if not touches_database(item)]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = kept
    if services_configured():
        return
    skip = pytest.mark.skip(
        reason="services test: needs DATABASE_URL=postgres://... and CELERY_BROKER_URL "
        "(redis:// or amqp://); scripts/test.sh runs them in its second pass"
    )
    for item in items:
        if "services" in item.keywords:
            item.add_marker(skip)
