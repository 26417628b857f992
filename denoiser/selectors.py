"""Reading side of the denoise app: who may see which job, and job listings.

A job with an owner is visible to that owner (and staff) only. A job uploaded anonymously
has no owner and is reachable by anyone holding its link: the random UUID in it is the
secret. Invisible and non-existent jobs look the same (404) so ids cannot be probed.
"""
from __future__ import annotations

import uuid

from django.db.models import QuerySet

from .models import DenoiseJob

SESSION_KEY = "denoise_job_ids"
SESSION_LIMIT = 50


def can_view(job: DenoiseJob, user) -> bool:
    if job.owner_id is None:
        return True
    if not getattr(user, "is_authenticated", False):
        return False
    return job.owner_id == user.pk or bool(getattr(user, "is_staff", False))


def visible_job(job_id, user) -> DenoiseJob | None:
    """The job with this id if ``user`` may see it, else None."""
    try:
        key = job_id if isinstance(job_id, uuid.UUID) else uuid.UUID(str(job_id))
    except ValueError:
        return None
    job = DenoiseJob.objects.select_related("owner").filter(pk=key).first()
    if job is None or not can_view(job, user):
        return None
    return job


def jobs_of_user(user) -> QuerySet[DenoiseJob]:
    """A logged-in user's jobs, newest first (empty for anonymous users)."""
    if not getattr(user, "is_authenticated", False):
        return DenoiseJob.objects.none()
    return DenoiseJob.objects.filter(owner=user).order_by("-created_at")


def jobs_of_session(session) -> QuerySet[DenoiseJob]:
    """Anonymous jobs uploaded from this browser session, newest first."""
    ids = list(session.get(SESSION_KEY, [])) if session is not None else []
    return DenoiseJob.objects.filter(pk__in=ids, owner__isnull=True).order_by("-created_at")


def remember_in_session(session, job: DenoiseJob) -> None:
    ids = [str(job.pk)] + [i for i in session.get(SESSION_KEY, []) if i != str(job.pk)]
    session[SESSION_KEY] = ids[:SESSION_LIMIT]
