"""Celery application; configuration comes from Django settings (CELERY_*).

Every task gets :class:`reucid_site.task_policy.ReucidTask` as its base (retries with
backoff for transient failures) and its queue's time limits (``QueueTimeLimits``).
"""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reucid_site.settings")

app = Celery("reucid_site", task_cls="reucid_site.task_policy:ReucidTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
