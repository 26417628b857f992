"""Settings come from the environment: embedded defaults, production services, bad values.

Each case runs the settings module in a fresh interpreter, because settings are read once at
import time; the module alone, without setting up Django, so that each case is quick.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

PRINT_SETTINGS = """
import json
import runpy
from types import SimpleNamespace
settings = SimpleNamespace(**runpy.run_path("reucid_site/settings.py"))
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "db_name": settings.DATABASES["default"]["NAME"],
    "db_options": settings.DATABASES["default"].get("OPTIONS", {}),
    "db_health_checks": settings.DATABASES["default"]["CONN_HEALTH_CHECKS"],
    "debug": settings.DEBUG,
    "broker": settings.CELERY_BROKER_URL,
    "eager": settings.CELERY_TASK_ALWAYS_EAGER,
    "result_backend": settings.CELERY_RESULT_BACKEND,
    "transport_options": settings.CELERY_BROKER_TRANSPORT_OPTIONS,
    "time_limits": settings.REUCID_TASK_TIME_LIMITS,
    "storage": settings.STORAGES["default"],
    "static_storage": settings.STORAGES["staticfiles"]["BACKEND"],
    "allowed_hosts": settings.ALLOWED_HOSTS,
    "media_root": str(settings.MEDIA_ROOT),
    "static_root": str(settings.STATIC_ROOT),
    "secret_key": settings.SECRET_KEY,
    "ssl_redirect": getattr(settings, "SECURE_SSL_REDIRECT", False),
}))
"""

SITE_VARIABLES = (
    "DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CELERY_TASK_ALWAYS_EAGER",
    "DJANGO_DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "MEDIA_ROOT", "STATIC_ROOT",
    "REUCID_STORAGE", "REUCID_BROKER_DIR", "DJANGO_SECURE_HTTPS", "REUCID_SECRET_KEY_FILE",
    "REUCID_FILE_SENDING", "REUCID_CACHE_URL", "REUCID_RESPONDENT_RATE",
    "REUCID_RESPONDENT_BURST_RATE",
)


def run_python(code: str, **environment: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in SITE_VARIABLES}
    env.update(environment)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env,
        capture_output=True, text=True, timeout=60,
    )


def settings_with(**environment: str) -> dict:
    completed = run_python(PRINT_SETTINGS, **environment)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_embedded_default_needs_no_service():
    values = settings_with()

    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["eager"] is True
    assert values["broker"] == "memory://"
    assert values["debug"] is False, "DEBUG is off unless asked for"
    assert values["static_storage"] == "whitenoise.storage.CompressedStaticFilesStorage"


def test_production_services_from_environment(tmp_path):
    values = settings_with(
        DATABASE_URL="postgres://reucid:s3cret@db.lab:5432/reucid",
        CELERY_BROKER_URL="redis://broker.lab:6379/0",
        CELERY_RESULT_BACKEND="redis://broker.lab:6379/1",
        SECRET_KEY="a-real-secret-key-of-decent-length-0123456789-abcdefghij",
        ALLOWED_HOSTS="reucid.lab.example, 10.0.0.5",
        MEDIA_ROOT=str(tmp_path / "media"),
        STATIC_ROOT=str(tmp_path / "static"),
    )

    assert values["engine"] == "django.db.backends.postgresql"
    assert values["db_name"] == "reucid"
    assert values["db_options"]["connect_timeout"] == 10
    assert values["db_health_checks"] is True
    assert values["eager"] is False
    assert values["broker"] == "redis://broker.lab:6379/0"
    assert values["result_backend"] == "redis://broker.lab:6379/1"
    assert values["allowed_hosts"] == ["reucid.lab.example", "10.0.0.5"]
    assert values["media_root"] == str(tmp_path / "media")
    assert values["static_root"] == str(tmp_path / "static")
    assert values["secret_key"].startswith("a-real-secret")
    # Late acks: a message must not be redelivered while the longest task still runs.
    longest = max(hard for _soft, hard in values["time_limits"].values())
    assert values["transport_options"]["visibility_timeout"] > longest


def test_rabbitmq_broker_is_accepted():
    values = settings_with(CELERY_BROKER_URL="amqp://guest:guest@127.0.0.1:5672//")

    assert values["broker"].startswith("amqp://")
    assert values["eager"] is False


def test_filesystem_broker_keeps_its_folders_under_the_broker_dir(tmp_path):
    values = settings_with(
        CELERY_BROKER_URL="filesystem://localhost/", REUCID_BROKER_DIR=str(tmp_path / "b")
    )

    options = values["transport_options"]
    assert options["data_folder_in"] == options["data_folder_out"] == str(tmp_path / "b/queue")
    assert (tmp_path / "b" / "queue").is_dir()
    assert (tmp_path / "b" / "control").is_dir()


def test_s3_storage_from_environment():
    values = settings_with(
        REUCID_STORAGE="s3",
        AWS_STORAGE_BUCKET_NAME="reucid-lab",
        AWS_S3_ENDPOINT_URL="https://minio.lab:9000",
    )

    assert values["storage"]["BACKEND"] == "storages.backends.s3.S3Storage"
    assert values["storage"]["OPTIONS"]["bucket_name"] == "reucid-lab"
    assert values["storage"]["OPTIONS"]["endpoint_url"] == "https://minio.lab:9000"


def test_https_hardening_only_when_asked_and_not_debug():
    assert settings_with(DJANGO_SECURE_HTTPS="1")["ssl_redirect"] is True
    assert settings_with(DJANGO_SECURE_HTTPS="1", DJANGO_DEBUG="1")["ssl_redirect"] is False
    assert settings_with()["ssl_redirect"] is False


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"REUCID_STORAGE": "ftp"}, "REUCID_STORAGE must be 'filesystem' or 's3'"),
        ({"REUCID_FILE_SENDING": "nginx"}, "REUCID_FILE_SENDING must be 'django'"),
        ({"REUCID_CACHE_URL": "memcached://x"}, "REUCID_CACHE_URL must be redis://"),
        (
            {"REUCID_DENOISE_SOFT_TIME_LIMIT": "900", "REUCID_DENOISE_TIME_LIMIT": "600"},
            "soft time limit < hard time limit",
        ),
    ],
)
def test_bad_values_stop_with_a_clear_message(environment, message):
    completed = run_python("import runpy; runpy.run_path('reucid_site/settings.py')", **environment)

    assert completed.returncode != 0
    assert message in completed.stderr


#: The key that settings.py used to carry in its source (public, so anything signed with it
#: could be forged).
OLD_PUBLIC_KEY = "django-insecure-embedded-default-key-change-me-in-production-0123456789"


def test_embedded_secret_key_is_made_once_per_install_and_kept(tmp_path):
    key_file = tmp_path / "var" / "secret_key"

    first = settings_with(REUCID_SECRET_KEY_FILE=str(key_file))["secret_key"]
    again = settings_with(REUCID_SECRET_KEY_FILE=str(key_file))["secret_key"]
    other_install = settings_with(REUCID_SECRET_KEY_FILE=str(tmp_path / "b" / "key"))

    assert first == again == key_file.read_text().strip()
    assert len(first) >= 80 and first != OLD_PUBLIC_KEY
    assert other_install["secret_key"] != first
    assert key_file.stat().st_mode & 0o077 == 0, "readable by its owner only"


def test_secret_key_from_the_environment_wins_and_writes_no_file(tmp_path):
    key_file = tmp_path / "secret_key"
    values = settings_with(SECRET_KEY="x" * 60, REUCID_SECRET_KEY_FILE=str(key_file))

    assert values["secret_key"] == "x" * 60 and not key_file.exists()


def test_deploy_check_accepts_the_generated_key(tmp_path):
    completed = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=REPO_ROOT,
        env={**{k: v for k, v in os.environ.items() if k not in SITE_VARIABLES},
             "REUCID_SECRET_KEY_FILE": str(tmp_path / "secret_key")},
        capture_output=True, text=True, timeout=120,
    )

    assert "security.W009" not in completed.stdout + completed.stderr
