"""Writing side of the denoise app: submit a job, enqueue it, delete it.

The page and the API both call :func:`submit_job`; it validates the upload synchronously
(see :mod:`denoiser.uploads`), so bad input is answered with a 4xx before any job or file
exists, then stores the validated array and enqueues the worker on commit.
"""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable

from denoiser.reucid import estimate_patch_size

from . import input_record, job_files, methods, selectors
from .classifier_choice import (
    ACTIVE,
    NOISE_EDGE,
    ClassifierUnavailable,
    ResolvedClassifier,
    resolve_classifier,
)
from .models import DenoiseJob, JobStatus
from .rendering import display_range, downsample_for_display, save_png, to_grey_uint8
from .uploads import UploadRejected, ValidatedImage, validate_upload

logger = logging.getLogger(__name__)

MIN_PATCH_SIZE = 3
MAX_PATCH_SIZE = 99
MAX_STACKS = 64


def preview_max_side() -> int:
    return int(getattr(settings, "REUCID_PREVIEW_MAX_SIDE", 1024))


def _largest_odd_at_most(value: int) -> int:
    return value if value % 2 else value - 1


def check_patch_size(patch_size: int | None, shape: tuple[int, int]) -> int | None:
    """A requested patch size must be odd and fit (at least twice) into the image."""
    if patch_size is None:
        return None
    patch_size = int(patch_size)
    if patch_size < MIN_PATCH_SIZE or patch_size > MAX_PATCH_SIZE or patch_size % 2 == 0:
        raise UploadRejected(
            f"Patch size must be an odd number of pixels between {MIN_PATCH_SIZE} and "
            f"{MAX_PATCH_SIZE} (got {patch_size}); leave it empty to estimate it from the image."
        )
    if 2 * patch_size > min(shape):
        raise UploadRejected(
            f"A {patch_size} x {patch_size} patch does not fit enough times into this "
            f"{shape[0]} x {shape[1]} image; choose a patch size of at most "
            f"{_largest_odd_at_most(min(shape) // 2)} or leave it empty."
        )
    return patch_size


def _check_auto_patch_size(image: np.ndarray) -> None:
    """Estimate the patch size now, so an image it cannot be found for is a 4xx."""
    try:
        estimate = estimate_patch_size(image)
        patch_size = int(getattr(estimate, "patch_size", estimate))
    except ValueError as error:
        raise UploadRejected(f"No patch size can be estimated for this image: {error}") from error
    if 2 * patch_size > min(image.shape):
        raise UploadRejected(
            f"The image ({image.shape[0]} x {image.shape[1]} pixels) is smaller than two "
            f"patches of the estimated size {patch_size}; upload a larger field of view."
        )


def submit_job(
    *,
    uploaded,
    owner=None,
    classifier: str | None = None,
    patch_size: int | None = None,
    seed: int = 0,
    n_stacks: int | None = None,
    frame: int | None = None,
    method: str | None = None,
    protect_defects: bool = False,
    client: str | None = None,
) -> DenoiseJob:
    """Validate an upload, store it and enqueue a denoise job.

    ``client`` identifies the submitter for fair queueing
    (:func:`denoiser.selectors.client_identity`; None: the owner, else "anonymous"); a
    client that already has ``REUCID_MAX_JOBS_PER_CLIENT`` jobs queued or running is
    refused with status 429 before the upload is read.

    ``method`` is "best", "paper" or None: the default, "best", or "paper" with a note on
    the job (``method_note``) for an image larger than "best" accepts; a "best" named
    explicitly is refused for such an image instead. ``classifier`` None or blank means
    the method's default ("noise-edge" for "best", "active" for "paper").
    ``protect_defects`` (with "best" only) runs "best" without its coarse pilot; it is
    refused with a "paper" named explicitly and dropped, with a note, after a fall-back.

    Raises
    ------
    UploadRejected
        For any input the job could not run on (message for the user, HTTP status).
    """
    client = (client or selectors.owner_identity(owner))[:128]
    check_client_limit(client)
    try:
        requested = methods.normalise_method(method) if method and method.strip() else None
        # options are checked against the default method before the image is read, so
        # a bad combination is refused without reading (possibly large) files
        planned = requested or methods.DEFAULT_METHOD
        resolved = resolve_classifier(classifier, default=methods.default_classifier(planned),
                                      method=planned)
        protect_defects = bool(protect_defects)
        methods.check_combination(planned, resolved.choice, patch_size=patch_size,
                                  n_stacks=n_stacks, protect_defects=protect_defects)
    except (ValueError, ClassifierUnavailable) as error:
        raise UploadRejected(str(error)) from error
    seed = int(seed)
    if not 0 <= seed < 2**32:
        raise UploadRejected("The seed must be a whole number between 0 and 4294967295.")
    if n_stacks is not None and not 1 <= int(n_stacks) <= MAX_STACKS:
        raise UploadRejected(f"The number of stacks must be between 1 and {MAX_STACKS}.")
    validated = validate_upload(uploaded, frame=frame)
    choice = methods.choose_method(requested, validated.array.shape)
    try:
        methods.check_image_size(choice.method, validated.array.shape)
        if choice.method != planned:
            resolved, classifier_note = _classifier_after_fallback(classifier, resolved)
            # only "best" has a pilot to turn off: the fall-back runs without the option
            defects_note = methods.PROTECT_DEFECTS_DROPPED_NOTE if protect_defects else ""
            protect_defects = False
            choice = methods.MethodChoice(choice.method, " ".join(
                filter(None, [choice.note, classifier_note, defects_note])))
    except (ValueError, ClassifierUnavailable) as error:
        raise UploadRejected(str(error)) from error
    patch_size = check_patch_size(patch_size, validated.array.shape)
    if patch_size is None:
        _check_auto_patch_size(validated.array)
    return create_job(
        validated,
        owner=owner if getattr(owner, "is_authenticated", False) else None,
        classifier_choice=resolved.choice,
        classifier_spec=resolved.spec,
        model_version=resolved.version,
        patch_size=patch_size,
        seed=seed,
        n_stacks=None if n_stacks is None else int(n_stacks),
        frame=frame,
        method=choice.method,
        method_note=" ".join(filter(None, [choice.note, resolved.note])),
        protect_defects=protect_defects,
        client_key=client,
    )


def max_jobs_per_client() -> int:
    """``REUCID_MAX_JOBS_PER_CLIENT``: queued + running jobs one client may have (0: no limit)."""
    return int(getattr(settings, "REUCID_MAX_JOBS_PER_CLIENT", 20) or 0)


def check_client_limit(client: str) -> None:
    """Refuse (429) a new job of a client that already has the most jobs allowed waiting.

    Fair dispatching keeps a flood from delaying other clients' jobs; this limit keeps
    one client from filling the disk and the queue. Two uploads arriving at the same
    moment may both pass: the limit is a guard, not an exact count.
    """
    limit = max_jobs_per_client()
    if limit <= 0:
        return
    pending = DenoiseJob.objects.filter(
        client_key=client, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).count()
    if pending >= limit:
        raise UploadRejected(
            f"You already have {pending} images queued or being denoised; the limit is "
            f"{limit} per user (REUCID_MAX_JOBS_PER_CLIENT). Upload more once some are "
            "done.",
            status=429,
        )


def _classifier_after_fallback(requested: str | None, planned: ResolvedClassifier
                               ) -> tuple[ResolvedClassifier, str]:
    """The classifier of a job that fell back from "best" to "paper", and a note if changed.

    The paper's default (the trained model, else the Marchenko–Pastur rule when no model
    exists) replaces an unnamed classifier and the noise-edge rule, which needs "best"'s
    stabilised groups; any other choice is kept.
    """
    if requested and requested.strip() and planned.choice not in (NOISE_EDGE, ACTIVE):
        return planned, ""
    try:
        # "active" of "best" is the group classifier: "paper" takes its own kind of model
        fallback = resolve_classifier(None, default=methods.default_classifier(methods.PAPER),
                                      method=methods.PAPER)
    except ClassifierUnavailable:
        fallback = resolve_classifier("mp")
    if planned.choice == NOISE_EDGE and requested and requested.strip():
        return fallback, (f"The noise-edge rule works with the best method only; the "
                          f"classifier is '{fallback.choice}' instead.")
    return fallback, ""


def create_job(
    validated: ValidatedImage,
    *,
    owner=None,
    classifier_choice: str,
    classifier_spec: str,
    model_version: str,
    patch_size: int | None,
    seed: int,
    n_stacks: int | None = None,
    frame: int | None = None,
    method: str = methods.DEFAULT_METHOD,
    method_note: str = "",
    protect_defects: bool = False,
    client_key: str = "",
) -> DenoiseJob:
    """Store a validated image as a new queued job; it is dispatched after commit."""
    height, width = validated.array.shape
    pixel_size = validated.pixel_size or (None, None)
    job = DenoiseJob(
        owner=owner,
        original_filename=validated.original_filename,
        source_format=validated.source_format[:32],
        height=height,
        width=width,
        pixel_size_row=pixel_size[0],
        pixel_size_col=pixel_size[1],
        classifier_choice=classifier_choice,
        classifier_spec=classifier_spec,
        model_version=model_version[:255],
        patch_size=patch_size,
        seed=seed,
        requested_stacks=n_stacks,
        frame=frame,
        method=method,
        method_note=method_note,
        protect_defects=bool(protect_defects),
        task_id=uuid.uuid4().hex,
        client_key=client_key or selectors.owner_identity(owner),
    )
    try:
        folder = job_files.job_path(job)
        folder.mkdir(parents=True, exist_ok=False)
        job_files.atomic_write(
            job_files.job_path(job, job_files.INPUT_NPY),
            lambda path: np.save(path, validated.array, allow_pickle=False),
        )
        input_record.save(job, validated)
        preview = downsample_for_display(validated.array, max_side=preview_max_side())
        job_files.atomic_write(
            job_files.job_path(job, job_files.INPUT_PREVIEW),
            lambda path: save_png(
                to_grey_uint8(preview, value_range=display_range(preview)), path
            ),
        )
        with transaction.atomic():
            job.save(force_insert=True)
            enqueue_job(job)
    except BaseException:
        job_files.delete_job_files(job)
        raise
    return job


def enqueue_job(job: DenoiseJob) -> None:
    """Put the job in line for the ``denoise`` queue; dispatch once the transaction commits.

    The job waits in the database (``dispatched_at`` None) until :func:`dispatch_jobs`
    hands it to a worker in its fair turn.
    """
    DenoiseJob.objects.filter(pk=job.pk).update(dispatched_at=None)
    job.dispatched_at = None
    transaction.on_commit(dispatch_jobs)


#: An arbitrary number naming the PostgreSQL advisory lock that serialises dispatchers.
DISPATCH_LOCK = 0x5E0C1D


def dispatch_jobs(*, slots: int | None = None) -> list[str]:
    """Send waiting jobs to the ``denoise`` queue, fairly between clients, while slots are free.

    Called after a job is submitted or requeued, after every job a worker ends, and
    periodically by beat. At most ``slots`` (:func:`denoiser.selectors.dispatch_slots`)
    jobs are at the workers at once (sent or running), so jobs wait here rather than in
    the broker, which is first in, first out; each free slot goes to the oldest job of
    the client with the fewest jobs at the workers, on a tie of the client served
    longest ago (:func:`denoiser.selectors.fair_order`).

    Returns
    -------
    list of str
        Ids of the jobs dispatched (their messages are sent once this commits).
    """
    slots = selectors.dispatch_slots() if slots is None else int(slots)
    now = timezone.now()
    sent: list[str] = []
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # two dispatchers at once would both see the same free slots
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [DISPATCH_LOCK])
        busy = list(selectors.busy_jobs(now).values_list("client_key", flat=True))
        free = slots - len(busy)
        if free <= 0:
            return sent
        active: dict[str, int] = {}
        for client in busy:
            active[client] = active.get(client, 0) + 1
        waiting = list(selectors.waiting_jobs().only("pk", "client_key", "task_id")
                       [: selectors.QUEUE_SCAN_LIMIT])
        served = selectors.last_served({job.client_key for job in waiting})
        for job in selectors.fair_order(waiting, active, served):
            if len(sent) >= free:
                break
            # a microsecond apart: the order sent is the order the broker hands them out
            stamp = now + timedelta(microseconds=len(sent))
            claimed = DenoiseJob.objects.filter(
                pk=job.pk, status=JobStatus.QUEUED, dispatched_at__isnull=True,
                task_id=job.task_id,
            ).update(dispatched_at=stamp)
            if claimed:
                sent.append(str(job.pk))
                transaction.on_commit(lambda j=str(job.pk), t=job.task_id: _send(j, t))
    return sent


def _send(job_id: str, task_id: str) -> None:
    """Publish one job's message; a broker that cannot be reached puts it back in line."""
    # a real cycle: the tasks module imports these services (tasks are thin wrappers)
    from .tasks import run_denoise_job

    try:
        run_denoise_job.apply_async(args=[job_id], task_id=task_id)
    except (BrokerUnavailable, ConnectionError) as error:
        # the job waits again; the next dispatch (another job's end, or beat) retries it
        DenoiseJob.objects.filter(pk=job_id, task_id=task_id, status=JobStatus.QUEUED).update(
            dispatched_at=None)
        logger.warning("Denoise job %s could not be sent to the broker: %s", job_id, error)


def requeue_job(job: DenoiseJob, *, reset_attempts: bool = True) -> DenoiseJob:
    """Put a failed (or stale) job back in the queue with a fresh task id.

    The old task id is forgotten, so a late delivery of the old message does nothing.
    A user's retry starts the attempt count afresh; the stale-job recovery keeps it, so
    an image that kills the worker every time ends up failed, not in an endless loop.
    """
    if not job_files.job_path(job, job_files.INPUT_NPY).is_file():
        raise UploadRejected("The uploaded image of this job has been deleted; upload it again.")
    with transaction.atomic():
        job.status = JobStatus.QUEUED
        job.task_id = uuid.uuid4().hex
        job.stacks_done = 0
        job.error = ""
        job.finished_at = None
        job.heartbeat_at = timezone.now()
        if reset_attempts:
            job.attempts = 0
        job.save(
            update_fields=[
                "status", "task_id", "stacks_done", "error", "finished_at", "heartbeat_at",
                "attempts",
            ]
        )
        enqueue_job(job)
    return job


def delete_job(job: DenoiseJob) -> None:
    """Delete a job and every file it made (a running worker notices and stops)."""
    with transaction.atomic():
        DenoiseJob.objects.filter(pk=job.pk).delete()
    job_files.delete_job_files(job)
