"""Django settings for REUCID.

Every deployment-specific value comes from the environment; the defaults are the
embedded mode (SQLite, Celery tasks run eagerly in-process) so a fresh checkout runs
with no services at all. See README.md, "Configuration".
"""
from __future__ import annotations

import os
import secrets
import time
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)


def install_secret_key(path: Path) -> str:
    """This install's own signing key: read from ``path``, made there once if absent.

    A key written in the source would be public, and anything signed with it (sessions,
    respondent tokens, invitation cookies) forgeable. Several processes (gunicorn workers,
    Celery) may start at once: the file is created exclusively, so the first one's key wins
    and every other process reads that one.

    Parameters
    ----------
    path : Path
        Where the key lives (``var/secret_key`` by default; readable by its owner only).

    Returns
    -------
    str
        The key (86 URL-safe characters, 512 random bits).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(64))
    for _ in range(50):  # another process may be between creating and writing the file
        key = path.read_text().strip()
        if key:
            return key

        time.sleep(0.02)
    raise RuntimeError(f"{path} is empty: delete it and start again")


# Production sets SECRET_KEY (the same on every machine); an embedded install makes its own
# once and keeps it under var/ (REUCID_SECRET_KEY_FILE).
SECRET_KEY = os.environ.get("SECRET_KEY") or install_secret_key(
    Path(os.environ.get("REUCID_SECRET_KEY_FILE", BASE_DIR / "var" / "secret_key")))
try:
    REUCID_VERSION = package_version("reucid")
except PackageNotFoundError:  # a checkout that was never pip-installed
    REUCID_VERSION = "0.1.0"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "denoiser",
    "survey",
    "training",
]

MIDDLEWARE = [
    # Outermost: it sees every response, including Django's own error pages.
    "reucid_site.errors.ErrorPagesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "reucid_site.urls"
# Notes the failure, so an API path can answer it as JSON (reucid_site.errors).
CSRF_FAILURE_VIEW = "reucid_site.errors.csrf_failure"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "reucid_site.wsgi.application"

DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        # A kept connection is checked before reuse, so a database restart costs one
        # reconnect instead of a failed request or task.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Fail fast (and let the task retry) instead of hanging when the server is unreachable.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", int(os.environ.get("DB_CONNECT_TIMEOUT", 10))
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded site has a web process and a local worker writing one file: WAL lets
    # readers go on during a write, IMMEDIATE takes the write lock up front so two writers
    # queue on `timeout` instead of failing with "database is locked" mid-transaction.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))
# No URL serves MEDIA_ROOT as such: every stored file is reached through a view that checks
# who may see it (reucid_site.files.send_file). How that view hands the bytes over:
#   "django"           - Django streams the file (FileResponse); the embedded default.
#   "x-accel-redirect" - nginx: the view answers with X-Accel-Redirect to
#                        REUCID_PROTECTED_MEDIA_URL + path, an `internal` location.
#   "x-sendfile"       - Apache mod_xsendfile / lighttpd: X-Sendfile with the file's path.
REUCID_FILE_SENDING = os.environ.get("REUCID_FILE_SENDING", "django").strip().lower()
if REUCID_FILE_SENDING not in {"django", "x-accel-redirect", "x-sendfile"}:
    raise ValueError("REUCID_FILE_SENDING must be 'django', 'x-accel-redirect' or "
                     f"'x-sendfile', not {REUCID_FILE_SENDING!r}")
REUCID_PROTECTED_MEDIA_URL = os.environ.get("REUCID_PROTECTED_MEDIA_URL", "/protected-media/")
# Media (uploads, results, model files) must be shared by the web server and every worker:
# one filesystem (NFS...) at MEDIA_ROOT, or S3-compatible object storage (REUCID_STORAGE=s3,
# needs the `s3` extra: django-storages[s3]). See docs/deployment.md.
REUCID_STORAGE = os.environ.get("REUCID_STORAGE", "filesystem").strip().lower()
if REUCID_STORAGE not in {"filesystem", "s3"}:
    raise ValueError(f"REUCID_STORAGE must be 'filesystem' or 's3', not {REUCID_STORAGE!r}")
if REUCID_STORAGE == "s3":
    DEFAULT_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ.get("AWS_STORAGE_BUCKET_NAME", "reucid-media"),
            "endpoint_url": os.environ.get("AWS_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("AWS_S3_REGION_NAME") or None,
            "location": os.environ.get("AWS_LOCATION", "media"),
            "file_overwrite": False,
            "default_acl": None,
            "querystring_auth": True,
        },
    }
else:
    DEFAULT_STORAGE = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": DEFAULT_STORAGE,
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedStaticFilesStorage"
        )
    },
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "/admin/login/"

# Uploads: microscope frames can be large; Django streams big files to disk.
REUCID_MAX_UPLOAD_BYTES = int(os.environ.get("REUCID_MAX_UPLOAD_BYTES", 200 * 1024 * 1024))
REUCID_MAX_IMAGE_SIDE = int(os.environ.get("REUCID_MAX_IMAGE_SIDE", 8192))
# The "best" (grouped) method's time and memory grow with the pixel count (measured:
# docs/benchmarks/figures.json); the default keeps a job within the worker's time limit.
REUCID_BEST_MAX_PIXELS = int(os.environ.get("REUCID_BEST_MAX_PIXELS", 2048 * 2048))
# Survey candidates are full-size images in the respondent's browser.
REUCID_SURVEY_MAX_IMAGE_SIDE = int(os.environ.get("REUCID_SURVEY_MAX_IMAGE_SIDE", 2048))
# Denoise jobs: where they run (a GPU worker node sets REUCID_DEVICE=cuda), how long a job may
# go without a heartbeat before it counts as lost, how often it is retried, how long kept.
REUCID_DEVICE = os.environ.get("REUCID_DEVICE", "cpu")
REUCID_JOB_STALE_AFTER_SECONDS = int(os.environ.get("REUCID_JOB_STALE_AFTER_SECONDS", 900))
REUCID_JOB_QUEUED_LOST_AFTER_SECONDS = int(
    os.environ.get("REUCID_JOB_QUEUED_LOST_AFTER_SECONDS", 7200)
)
REUCID_JOB_MAX_ATTEMPTS = int(os.environ.get("REUCID_JOB_MAX_ATTEMPTS", 3))
REUCID_RETENTION_DAYS = int(os.environ.get("REUCID_RETENTION_DAYS", 30))
REUCID_PREVIEW_MAX_SIDE = int(os.environ.get("REUCID_PREVIEW_MAX_SIDE", 1024))
# Fair queueing (denoiser.services.dispatch_jobs): how many queued + running denoise jobs one
# client may have (0 = no limit), and how many jobs are handed to the denoise workers at once
# (0 = CELERY_WORKER_CONCURRENCY, else this machine's cores; set the total of the workers).
REUCID_MAX_JOBS_PER_CLIENT = int(os.environ.get("REUCID_MAX_JOBS_PER_CLIENT", 20))
REUCID_DENOISE_SLOTS = int(os.environ.get("REUCID_DENOISE_SLOTS", 0))
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# Celery: with no broker configured, tasks run eagerly in-process (embedded mode).
# scripts/start.sh uses the service-free `filesystem://` broker (folders under var/broker)
# with local workers; production uses Redis or RabbitMQ (docs/deployment.md).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
# A task is acknowledged when it has finished, so a worker that dies (OOM, node lost) hands it
# back to the queue instead of losing it.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_TRACK_STARTED = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_MAX_TASKS_PER_CHILD = int(os.environ.get("CELERY_WORKER_MAX_TASKS_PER_CHILD", 50))
CELERY_WORKER_CONCURRENCY = int(os.environ.get("CELERY_WORKER_CONCURRENCY", 0)) or None
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 3,
    "interval_start": 0.2,
    "interval_step": 0.5,
    "interval_max": 2,
}
# Denoise jobs (uploads, survey candidates) and retraining live in separate queues so a long
# training run never sits in front of a user's upload; run one worker per queue.
CELERY_TASK_DEFAULT_QUEUE = "denoise"
CELERY_TASK_ROUTES = {
    "training.*": {"queue": "training"},
    "survey.*": {"queue": "denoise"},
    "denoiser.*": {"queue": "denoise"},
}
# (soft, hard) seconds per queue, applied by reucid_site.task_policy.QueueTimeLimits to every
# task that does not set its own; the soft limit lets a task record why it stopped.
REUCID_TASK_TIME_LIMITS = {
    "denoise": (
        int(os.environ.get("REUCID_DENOISE_SOFT_TIME_LIMIT", 840)),
        int(os.environ.get("REUCID_DENOISE_TIME_LIMIT", 900)),
    ),
    "training": (
        int(os.environ.get("REUCID_TRAINING_SOFT_TIME_LIMIT", 6 * 3600 - 120)),
        int(os.environ.get("REUCID_TRAINING_TIME_LIMIT", 6 * 3600)),
    ),
}
for _queue, (_soft, _hard) in REUCID_TASK_TIME_LIMITS.items():
    if not 0 < _soft < _hard:
        raise ValueError(
            f"the {_queue} queue needs 0 < soft time limit < hard time limit, got {_soft}, {_hard}"
        )
# No global CELERY_TASK_TIME_LIMIT: Celery would copy it onto every task before the
# annotation runs, and the annotation could no longer tell a task's own limit from it.
CELERY_TASK_ANNOTATIONS = ["reucid_site.task_policy:QueueTimeLimits"]
_longest_task = max(hard for _soft, hard in REUCID_TASK_TIME_LIMITS.values())
if CELERY_BROKER_URL.startswith("filesystem://"):
    REUCID_BROKER_DIR = Path(os.environ.get("REUCID_BROKER_DIR", BASE_DIR / "var" / "broker"))
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Producer and consumer share one folder: the web process writes, workers read.
        "data_folder_in": str(REUCID_BROKER_DIR / "queue"),
        "data_folder_out": str(REUCID_BROKER_DIR / "queue"),
        "control_folder": str(REUCID_BROKER_DIR / "control"),
        "processed_folder": str(REUCID_BROKER_DIR / "processed"),
        "store_processed": False,
    }
    for _folder in ("queue", "control", "processed"):
        (REUCID_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
else:
    # Redis and SQS redeliver an unacknowledged message after the visibility timeout; with
    # late acks it must outlast the longest task, or a training run would start twice.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": _longest_task + 600}
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "memory://"
# Celery beat (`celery -A reucid_site beat`, or `-B` on one worker): the safety net that
# requeues denoise jobs whose worker died or whose message was lost.
CELERY_BEAT_SCHEDULE = {
    "recover-stale-denoise-jobs": {
        "task": "denoiser.recover_stale_jobs",
        "schedule": float(os.environ.get("REUCID_RECOVER_STALE_EVERY_S", 300)),
    },
    "recover-stale-training-runs": {
        "task": "training.recover_stale_runs",
        "schedule": float(os.environ.get("REUCID_RECOVER_STALE_EVERY_S", 300)),
    },
}
# A training run that sends no progress for this long has lost its worker.
REUCID_TRAINING_STALE_AFTER_SECONDS = float(
    os.environ.get("REUCID_TRAINING_STALE_AFTER_SECONDS", 900)
)

# The cache holds the throttles' counters. Per process by default; every web process of one
# install must share it for a limit to mean what it says: start.sh uses a folder
# (file:///path), production Redis (redis://host:6379/2).
REUCID_CACHE_URL = os.environ.get("REUCID_CACHE_URL", "").strip()
if REUCID_CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": REUCID_CACHE_URL}}
elif REUCID_CACHE_URL.startswith("file://"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                          "LOCATION": REUCID_CACHE_URL[len("file://"):]}}
elif REUCID_CACHE_URL:
    raise ValueError(f"REUCID_CACHE_URL must be redis://... or file:///..., not "
                     f"{REUCID_CACHE_URL!r}")
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Joining the survey (pages and API) is limited per client address, in a burst and per hour:
# a script cannot make respondents by the dozen (survey.throttles); invited experts are not
# limited. "off" lifts a limit (load tests on loopback).
REUCID_RESPONDENT_BURST_RATE = os.environ.get("REUCID_RESPONDENT_BURST_RATE", "10/min").strip()
REUCID_RESPONDENT_RATE = os.environ.get("REUCID_RESPONDENT_RATE", "60/hour").strip()
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "REUCID API",
    "DESCRIPTION": "Denoise atomic-resolution STEM images and run the eigenpatch survey.",
    "VERSION": REUCID_VERSION,
    # Swagger UI and Redoc from the site's own static files: the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}


# Behind a TLS-terminating proxy: DJANGO_SECURE_HTTPS=1 turns on HTTPS redirects, HSTS and
# secure cookies (off by default so plain-HTTP lab installs and the test suite work).
if not DEBUG and env_bool("DJANGO_SECURE_HTTPS", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^health/$"]
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 3600))
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
