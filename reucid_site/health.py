"""Health checks of the running site: database, Celery broker and the active classifier.

Read-only selectors used by the ``/health/`` endpoint (``reucid_site.views.health``) and by
``scripts/start.sh``. Each check answers in a second or two and reports only the kind of a
failure, never its message, because the endpoint is public and messages can carry hostnames
or credentials; the full error goes to the log.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections

from denoiser.reucid.errors import ModelLoadError
from reucid_site.celery import app
from training import selectors as training_selectors

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class SiteHealth:
    """Result of all checks; ``healthy`` is what a load balancer should act on."""

    database: str
    broker: str
    active_model: dict[str, Any] | str
    version: str
    errors: dict[str, str]

    @property
    def healthy(self) -> bool:
        return (
            self.database == "ok"
            and self.broker in {"ok", "eager"}
            and self.active_model != "missing"
        )

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "ok" if self.healthy else "error",
            "database": self.database,
            "broker": self.broker,
            "active_model": self.active_model,
            "version": self.version,
        }
        if self.errors:
            body["errors"] = self.errors
        return body


def database_status(alias: str = "default") -> tuple[str, str | None]:
    """``("ok", None)`` when a trivial query round-trips, else ``("error", kind)``."""
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("health: database check failed: %s", exc)
        return "error", type(exc).__name__
    return "ok", None


def broker_status() -> tuple[str, str | None]:
    """``"eager"`` when tasks run in-process, ``"ok"`` when the broker accepts a connection."""
    if app.conf.task_always_eager:
        return "eager", None
    try:
        with app.connection_for_write(connect_timeout=BROKER_TIMEOUT_S) as connection:
            connection.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT_S
            )
    except Exception as exc:  # kombu raises transport-specific errors; all mean "unreachable"
        logger.warning("health: broker check failed: %s", exc)
        return "error", type(exc).__name__
    return "ok", None


def active_model_status() -> tuple[dict[str, Any] | str, str | None]:
    """The classifier new denoise jobs would use, or ``"missing"`` if there is none."""
    try:
        record = training_selectors.active_classifier_record()
        path = training_selectors.active_classifier_path()
    except (ModelLoadError, DatabaseError, OSError) as exc:
        logger.warning("health: no usable classifier: %s", exc)
        return "missing", type(exc).__name__
    if not path.is_file():
        return "missing", "FileNotFoundError"
    if record is None:  # nothing activated yet: denoising falls back to the package's model
        return {"source": "package", "file": path.name}, None
    if record.file and Path(record.file.name).name != path.name:
        # The selector fell back to the package's model because the active file is gone.
        return {
            "source": "package",
            "file": path.name,
            "warning": f"the file of active model #{record.pk} is missing",
        }, None
    return {
        "source": "database",
        "id": record.pk,
        "name": getattr(record, "name", str(record)),
        "shipped": bool(getattr(record, "is_shipped", False)),
        "file": path.name,
    }, None


def site_health() -> SiteHealth:
    """Run every check once."""
    errors: dict[str, str] = {}
    database, database_error = database_status()
    broker, broker_error = broker_status()
    active_model, model_error = active_model_status()
    for name, error in (
        ("database", database_error),
        ("broker", broker_error),
        ("active_model", model_error),
    ):
        if error is not None:
            errors[name] = error
    return SiteHealth(
        database=database,
        broker=broker,
        active_model=active_model,
        version=settings.REUCID_VERSION,
        errors=errors,
    )
