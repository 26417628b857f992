"""Writing side of the denoise app: submit a job, enqueue it, delete it.

The page and the API both call :func:`submit_job`; it validates the upload synchronously
(see :mod:`denoiser.uploads`), so bad input is answered with a 4xx before any job or file
exists, then stores the validated array and enqueues the worker on commit.
"""
from __future__ import annotations

import logging
import uuid

import numpy as np
from django.db import transaction
from django.utils import timezone

from . import job_files, methods
from .classifier_choice import (
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
    from django.conf import settings

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
    from denoiser.reucid import estimate_patch_size

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
) -> DenoiseJob:
    """Validate an upload, store it and enqueue a denoise job.

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
    try:
        requested = methods.normalise_method(method) if method and method.strip() else None
        # options are checked against the default method before the image is read, so
        # a bad combination is refused without reading (possibly large) files
        planned = requested or methods.DEFAULT_METHOD
        resolved = resolve_classifier(classifier, default=methods.default_classifier(planned))
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
        method_note=choice.note,
        protect_defects=protect_defects,
    )


def _classifier_after_fallback(requested: str | None, planned: ResolvedClassifier
                               ) -> tuple[ResolvedClassifier, str]:
    """The classifier of a job that fell back from "best" to "paper", and a note if changed.

    The paper's default (the trained model, else the Marchenko–Pastur rule when no model
    exists) replaces an unnamed classifier and the noise-edge rule, which needs "best"'s
    stabilised groups; any other choice is kept.
    """
    if requested and requested.strip() and planned.choice != NOISE_EDGE:
        return planned, ""
    try:
        fallback = resolve_classifier(None, default=methods.default_classifier(methods.PAPER))
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
) -> DenoiseJob:
    """Store a validated image as a new queued job; the worker starts after commit."""
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
    )
    try:
        folder = job_files.job_path(job)
        folder.mkdir(parents=True, exist_ok=False)
        job_files.atomic_write(
            job_files.job_path(job, job_files.INPUT_NPY),
            lambda path: np.save(path, validated.array, allow_pickle=False),
        )
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
    """Send the job to the ``denoise`` queue once the surrounding transaction commits."""
    from .tasks import run_denoise_job

    job_id, task_id = str(job.pk), job.task_id
    transaction.on_commit(lambda: run_denoise_job.apply_async(args=[job_id], task_id=task_id))


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
