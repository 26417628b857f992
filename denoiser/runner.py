"""The worker side of a job: claim it, denoise with progress, write results, or fail.

Called by the Celery task ``denoiser.run_denoise_job``. Reliability rules:

* a job is claimed only by the message carrying its current ``task_id``; a stale or
  duplicate message does nothing;
* every claim counts an attempt; after ``REUCID_JOB_MAX_ATTEMPTS`` claims (a worker that
  died each time, e.g. out of memory) the job is failed instead of run again;
* progress and heartbeat are written after every patch stack; a job deleted or failed
  meanwhile makes the run stop;
* every exception ends in ``failed`` with a reason a user can read.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import numpy as np
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from denoiser.reucid import GroupedResult, iter_denoise, write_tiff
from denoiser.reucid.grouped.pipeline import GroupedOptions

from . import job_files, methods
from .models import DenoiseJob, JobStatus
from .rendering import (
    display_range,
    diverging_rgb,
    downsample_for_display,
    eigenpatch_gallery,
    save_png,
    to_grey_uint8,
    with_scale_bar,
)

logger = logging.getLogger(__name__)

#: Galleries are drawn for at most this many stacks (d can be large for huge images).
MAX_GALLERIES = 16
#: A gallery shows the kept eigenpatches and this many dropped ones after them (with
#: "k=all" or MP there can be p^2 of them; the tail is all noise).
GALLERY_DROPPED_SHOWN = 30
#: Interim pictures are written at most this often (seconds); progress is always written.
INTERIM_MIN_INTERVAL = 0.5
#: A grouped ("best") result has ~128 groups of p^2 eigenpatches each: the job keeps a
#: summary of all groups, and eigenvalues and galleries of only this many largest ones.
GROUPS_SHOWN = 4


class JobCancelled(Exception):
    """The job was deleted or failed by someone else while it ran."""


def max_attempts() -> int:
    return int(getattr(settings, "REUCID_JOB_MAX_ATTEMPTS", 3))


def run_job(job_id, *, task_id: str | None = None) -> DenoiseJob | None:
    """Run one job to ``done`` or ``failed``; return it, or None if not ours to run."""
    now = timezone.now()
    claim = Q(pk=job_id, status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
    if task_id:
        claim &= Q(task_id=task_id)
    claimed = DenoiseJob.objects.filter(claim).update(
        status=JobStatus.RUNNING,
        attempts=F("attempts") + 1,
        started_at=now,
        heartbeat_at=now,
        stacks_done=0,
        error="",
    )
    if not claimed:
        logger.info("Denoise job %s: nothing to do for task %s", job_id, task_id)
        return None
    job = DenoiseJob.objects.get(pk=job_id)
    if job.attempts > max_attempts():
        return _fail(
            job,
            f"The worker stopped {job.attempts - 1} times while denoising this image "
            "(it may need more memory than the server has). Try a smaller image.",
        )
    job_files.delete_outputs(job)
    started = time.perf_counter()
    try:
        image = np.load(job_files.job_path(job, job_files.INPUT_NPY), allow_pickle=False)
        result = _denoise_with_progress(job, image)
        diagnostics = _write_outputs(job, image, result)
    except JobCancelled:
        logger.info("Denoise job %s was cancelled while running", job_id)
        return None
    except Exception as error:  # noqa: BLE001 - every failure must end the job "failed"
        # (A worker killed outright raises nothing here: the job stays "running", the
        # broker redelivers the message, and recover_stale_jobs covers lost messages.)
        return _fail(job, failure_message(error))
    elapsed = time.perf_counter() - started
    finished = DenoiseJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
        status=JobStatus.DONE,
        finished_at=timezone.now(),
        heartbeat_at=timezone.now(),
        elapsed_seconds=elapsed,
        diagnostics=diagnostics,
        stacks_done=F("n_stacks"),
    )
    if not finished:
        return None
    job.refresh_from_db()
    return job


def _is_time_limit(error: BaseException) -> bool:
    return type(error).__name__ in ("SoftTimeLimitExceeded", "TimeLimitExceeded")


def failure_message(error: BaseException) -> str:
    """What a user is told when a run fails."""
    name = type(error).__name__
    if _is_time_limit(error):
        limits = getattr(settings, "REUCID_TASK_TIME_LIMITS", {}).get("denoise")
        limit = limits[0] if limits else getattr(settings, "CELERY_TASK_SOFT_TIME_LIMIT", None)
        return (
            "Denoising took longer than the server's time limit"
            + (f" ({limit} s)" if limit else "")
            + ". Try a smaller image or a fixed patch size."
        )
    if isinstance(error, MemoryError):
        return "The server ran out of memory while denoising this image. Try a smaller image."
    if name == "ModelLoadError":
        return (
            f"The classifier model could not be loaded: {error}. Choose the Marchenko–Pastur "
            "rule (mp), Gavish–Donoho (gd) or a fixed k instead."
        )
    if isinstance(error, FileNotFoundError):
        return "The uploaded image of this job is no longer on the server; upload it again."
    if isinstance(error, ValueError):
        return f"This image could not be denoised: {error}"
    logger.exception("Denoise job failed with an unexpected error", exc_info=error)
    return f"Internal error while denoising ({name}); the administrators can find it in the logs."


def _fail(job: DenoiseJob, message: str) -> DenoiseJob:
    DenoiseJob.objects.filter(pk=job.pk).exclude(status=JobStatus.DONE).update(
        status=JobStatus.FAILED, error=message[:4000], finished_at=timezone.now()
    )
    job_files.delete_outputs(job)
    job.refresh_from_db()
    return job


def _progress_writer(job: DenoiseJob) -> Callable[[object], None]:
    """A callback that records each interim result: progress, heartbeat, picture."""
    last_picture = [-math.inf]
    preview_side = int(getattr(settings, "REUCID_PREVIEW_MAX_SIDE", 1024))

    def record(interim) -> None:
        now = time.monotonic()
        stacks_done = int(interim.step)
        if now - last_picture[0] >= INTERIM_MIN_INTERVAL or stacks_done >= interim.n_steps:
            preview = downsample_for_display(
                np.nan_to_num(np.asarray(interim.image, dtype=np.float32)), max_side=preview_side
            )
            job_files.atomic_write(
                job_files.job_path(job, job_files.INTERIM_PREVIEW),
                lambda path: save_png(to_grey_uint8(preview), path),
            )
            last_picture[0] = now
        updated = DenoiseJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
            stacks_done=stacks_done, n_stacks=int(interim.n_steps), heartbeat_at=timezone.now()
        )
        if not updated:
            raise JobCancelled(str(job.pk))

    return record


def _denoise_with_progress(job: DenoiseJob, image: np.ndarray):
    """Run the core's ``iter_denoise``, recording each report; return the result."""
    record = _progress_writer(job)
    generator = iter_denoise(
        image,
        classifier=job.classifier_spec,
        patch_size=job.patch_size,
        seed=int(job.seed),
        **methods.core_options(job.method, protect_defects=job.protect_defects,
                               n_units=job.requested_stacks,
                               device=str(getattr(settings, "REUCID_DEVICE", "cpu"))),
    )
    last = None
    for interim in generator:
        record(interim)
        last = interim
    return _result_of(last)


def variant_metadata(method: str, *, protect_defects: bool = False) -> dict:
    """The pipeline steps a method runs, for the job record and page.

    Examples
    --------
    >>> variant_metadata("paper")["grouping"], variant_metadata("best")["pilot"]
    ('random', 'coarse')
    >>> variant_metadata("best", protect_defects=True)["pilot"] is None
    True
    """
    if method == "paper":
        return {"method": "paper", "stabilize": None, "grouping": "random", "passes": 1,
                "aggregation": "flat", "pilot": None}
    # read from the core's defaults, so that the record cannot drift from what runs
    core = GroupedOptions()
    return {"method": "best", "stabilize": "anscombe", "grouping": "similar",
            "passes": core.passes, "aggregation": core.aggregation,
            "local_means": core.local_means, "pilot": None if protect_defects else core.pilot}


def _result_of(interim):
    """The core hands the DenoiseResult over on the last interim result (``.final``)."""
    result = getattr(interim, "final", None)
    if result is None:
        raise RuntimeError("the denoiser produced no final result")
    return result


def jsonable(value):
    """Plain-JSON copy of core metadata (numpy to Python, NaN/Inf to None)."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def stack_summaries(result) -> list[dict]:
    """Eigenvalues and kept mask of every stack, for the scree plot and the numbers."""
    summaries = []
    for stack in getattr(result, "stacks", []) or []:
        eigenvalues = np.asarray(stack.eigenvalues, dtype=np.float64)
        kept = np.asarray(stack.kept, dtype=bool)
        summaries.append(
            {
                "eigenvalues": jsonable(eigenvalues),
                "kept": kept.tolist(),
                "n_kept": int(kept.sum()),
                "n_components": int(kept.size),
            }
        )
    return summaries


def is_grouped(result) -> bool:
    """True for a result of the default ("best") method: groups instead of stacks."""
    return isinstance(result, GroupedResult)


def _significant(value: float, digits: int = 4) -> float | None:
    return float(f"{value:.{digits}g}") if math.isfinite(value) else None


def shown_groups(result, count: int = GROUPS_SHOWN) -> list[int]:
    """Positions (in ``result.stacks``) of the groups a job page shows.

    The groups that kept the most eigenpatches (larger first on ties), where the
    selection has something to show, and the largest group, typically plain lattice or
    background, where it usually keeps nothing beyond the mean.
    """
    groups = list(result.last_pass)
    if not groups:
        return []
    by_kept = sorted(range(len(groups)),
                     key=lambda i: (-groups[i].n_kept, -groups[i].n_patches, i))
    largest = min(range(len(groups)), key=lambda i: (-groups[i].n_patches, i))
    chosen = by_kept[: max(count - 1, 1)]
    if largest not in chosen:
        chosen.append(largest)
    chosen += [i for i in by_kept if i not in chosen][: max(count - len(chosen), 0)]
    return chosen[:count]


def group_summary(result) -> dict:
    """All groups of a grouped result in a few numbers (no per-group arrays but kept counts).

    ``kept_histogram[k]`` is the number of groups that kept ``k`` eigenpatches.
    """
    groups = list(result.last_pass)
    kept = np.array([group.n_kept for group in groups], dtype=np.int64)
    sizes = np.array([group.n_patches for group in groups], dtype=np.int64)

    def spread(values: np.ndarray) -> dict:
        if values.size == 0:
            return {"min": 0, "median": 0, "mean": 0, "max": 0}
        return {"min": int(values.min()), "median": float(np.median(values)),
                "mean": round(float(values.mean()), 3), "max": int(values.max())}

    return {
        "n_groups": len(groups),
        "passes": int(result.passes),
        "n_components": int(result.patch_size**2),
        "patches_per_group": spread(sizes),
        "kept_per_group": spread(kept),
        "kept_histogram": np.bincount(kept).tolist() if kept.size else [],
    }


def shown_group_summaries(result, positions: list[int]) -> list[dict]:
    """Eigenvalues per patch (λ/n: the variance along each eigenpatch, in the stabilised
    units where the noise is about 1) and kept flags of the shown groups."""
    summaries = []
    for position in positions:
        group = result.last_pass[position]
        n_patches = max(int(group.n_patches), 1)
        per_patch = np.asarray(group.eigenvalues, dtype=np.float64) / n_patches
        kept = np.asarray(group.kept, dtype=bool)
        summaries.append(
            {
                "group": int(group.index),
                "n_patches": int(group.n_patches),
                "eigenvalues": [_significant(float(v)) for v in per_patch],
                "kept": kept.tolist(),
                "n_kept": int(kept.sum()),
                "n_components": int(kept.size),
            }
        )
    return summaries


def _write_outputs(job: DenoiseJob, image: np.ndarray, result) -> dict:
    """Write TIFFs, PNGs and galleries; return the diagnostics to store on the job."""
    output = np.asarray(result.image, dtype=np.float32)
    residual = (image.astype(np.float32) - output).astype(np.float32)
    # Eigenpatches stay out of the JSON (the gallery PNGs show them); the per-stack
    # eigenvalues and kept masks are in ``stacks``.
    core_metadata = jsonable(result.to_metadata(include_eigenpatches=False))
    core_stacks = core_metadata.pop("stacks", None) or []
    core_metadata.pop("groups", None)
    grouped = is_grouped(result)
    # the page reads the pipeline, the noise model and the pilot from one place
    core_metadata["options"] = {
        **(core_metadata.get("options") or {}),
        "variant": variant_metadata(job.method, protect_defects=job.protect_defects),
        **({"noise_model": core_metadata.get("noise_model"), "pilot": core_metadata.get("pilot")}
           if grouped else {}),
    }
    if grouped:
        # ~128 groups x p^2 eigenvalues would make the JSON hundreds of kB: keep a
        # summary and the largest groups only (they are also the galleries)
        shown = shown_groups(result)
        stacks = shown_group_summaries(result, shown)
        gallery_stacks = [result.last_pass[position] for position in shown]
    else:
        stacks = stack_summaries(result)
        for summary, core_stack in zip(stacks, core_stacks):
            for key in ("n_patches", "sample_size", "timings"):
                if key in core_stack:
                    summary[key] = core_stack[key]
        gallery_stacks = list(getattr(result, "stacks", []) or [])[:MAX_GALLERIES]
    diagnostics = {
        "method": job.method,
        "protect_defects": bool(job.protect_defects),
        "variant": variant_metadata(job.method, protect_defects=job.protect_defects),
        "core": core_metadata,
        "stacks": stacks,
        "patch_size": int(result.patch_size),
        "n_stacks": len(result.last_pass) if grouped else int(result.n_stacks),
        "kept_per_stack": [int(group.n_kept) for group in result.last_pass] if grouped
        else [stack["n_kept"] for stack in stacks],
        "model_version": job.model_version,
        "classifier": job.classifier_choice,
        "seed": int(job.seed),
        "timings": jsonable(getattr(result, "timings", {}) or {}),
        "input_range": list(display_range(image)),
        "output_range": list(display_range(output)),
        "residual_std": float(np.std(residual)),
    }
    if grouped:
        diagnostics["groups"] = group_summary(result)
    file_metadata = {
        "software": "REUCID",
        "job_id": str(job.pk),
        "source_file": job.original_filename,
        "model_version": job.model_version,
        "classifier": job.classifier_choice,
        **{key: value for key, value in diagnostics.items() if key != "stacks"},
    }

    def path(name: str):
        return job_files.job_path(job, name)

    job_files.atomic_write(
        path(job_files.RESULT_NPY), lambda p: np.save(p, output, allow_pickle=False)
    )
    job_files.atomic_write(
        path(job_files.RESULT_TIFF),
        lambda p: write_tiff(p, output, pixel_size=job.pixel_size, metadata=file_metadata),
    )
    job_files.atomic_write(
        path(job_files.RESIDUAL_TIFF),
        lambda p: write_tiff(
            p, residual, pixel_size=job.pixel_size,
            metadata={**file_metadata, "content": "residual = input - output"},
        ),
    )
    output_range = display_range(output)
    slide = to_grey_uint8(output, value_range=output_range)
    if job.pixel_size is not None and min(output.shape) >= 64:
        slide = with_scale_bar(slide, job.pixel_size_col)
    job_files.atomic_write(path(job_files.RESULT_PNG), lambda p: save_png(slide, p))
    job_files.atomic_write(path(job_files.RESIDUAL_PNG), lambda p: save_png(diverging_rgb(residual), p))

    side = int(getattr(settings, "REUCID_PREVIEW_MAX_SIDE", 1024))
    output_preview = downsample_for_display(output, max_side=side)
    residual_preview = downsample_for_display(residual, max_side=side)
    job_files.atomic_write(
        path(job_files.RESULT_PREVIEW),
        lambda p: save_png(to_grey_uint8(output_preview, value_range=output_range), p),
    )
    residual_limit = float(np.percentile(np.abs(residual), 99.5)) or 1.0
    job_files.atomic_write(
        path(job_files.RESIDUAL_PREVIEW),
        lambda p: save_png(diverging_rgb(residual_preview, limit=residual_limit), p),
    )
    for index, stack in enumerate(gallery_stacks):
        kept = np.asarray(stack.kept, dtype=bool)
        last_kept = int(np.flatnonzero(kept)[-1]) + 1 if kept.any() else 0
        shown = min(kept.size, last_kept + GALLERY_DROPPED_SHOWN)
        stacks[index]["gallery_shown"] = shown
        gallery = eigenpatch_gallery(np.asarray(stack.eigenpatches)[:shown], kept[:shown])
        job_files.atomic_write(
            path(job_files.gallery_name(index)), lambda p, g=gallery: save_png(g, p)
        )
    diagnostics["residual_limit"] = residual_limit
    diagnostics["galleries"] = min(len(stacks), MAX_GALLERIES)
    return diagnostics
