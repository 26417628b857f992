"""The denoise job: one uploaded image, its options, its progress and its results."""
from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.db import models


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class DenoiseMethod(models.TextChoices):
    """Quality mode (see :mod:`denoiser.methods`)."""

    BEST = "best", "Best quality (default)"
    PAPER = "paper", "Paper (REUCID, fast live view)"


class DenoiseJob(models.Model):
    """One REUCID reconstruction of one uploaded image.

    The primary key is a random UUID: it is the unguessable part of the link that is the
    only way to reach a job uploaded anonymously. Files live in ``job_dir`` (relative to
    MEDIA_ROOT) under fixed names, see :mod:`denoiser.job_files`.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="denoise_jobs",
    )
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )

    # What was uploaded.
    original_filename = models.CharField(max_length=255)
    source_format = models.CharField(max_length=32, blank=True)
    height = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    pixel_size_row = models.FloatField(null=True, blank=True, help_text="Å per pixel")
    pixel_size_col = models.FloatField(null=True, blank=True, help_text="Å per pixel")

    # Options, as the user chose them.
    method = models.CharField(
        max_length=16, choices=DenoiseMethod.choices, default=DenoiseMethod.BEST,
        help_text='"best" (the core\'s best variant, default) or "paper" (the paper\'s REUCID)',
    )
    method_note = models.TextField(
        blank=True,
        help_text="Why the job runs another method than the default (empty if it does not), "
        "e.g. 'paper' for an image too large for 'best'",
    )
    protect_defects = models.BooleanField(
        default=False,
        help_text='With "best" only: run it without its coarse pilot, which keeps more of a '
        "rare defect's contrast at very low dose and removes less noise",
    )
    classifier_choice = models.CharField(
        max_length=32, help_text='"active", "mp", "gd", "k=N", "k=all" or "noise-edge"'
    )
    classifier_spec = models.CharField(
        max_length=1024, help_text="What the core receives: a model path or a rule name."
    )
    model_version = models.CharField(max_length=255, blank=True)
    patch_size = models.PositiveIntegerField(null=True, blank=True, help_text="None = auto")
    seed = models.BigIntegerField(default=0)
    frame = models.IntegerField(
        null=True, blank=True, help_text="Frame of a stack/series that was denoised (0-based)"
    )
    requested_stacks = models.PositiveIntegerField(
        null=True, blank=True, help_text="Number of stacks d; None = from the memory estimate"
    )

    # Progress and reliability.
    stacks_done = models.PositiveIntegerField(default=0)
    n_stacks = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    task_id = models.CharField(max_length=64, blank=True)
    # Fair queueing (denoiser.services.dispatch_jobs): a job waits here until the
    # dispatcher hands it to a worker, choosing between clients, not first come first served.
    client_key = models.CharField(
        max_length=128, blank=True, db_index=True,
        help_text='Who submitted it, for fair queueing: "user:<id>", "session:<key>" or '
        '"ip:<address>"',
    )
    dispatched_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When the job was sent to the denoise queue; None while it waits for its turn",
    )
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    elapsed_seconds = models.FloatField(null=True, blank=True)

    # What the core reported: patch size, d, kept counts, eigenvalues, timings...
    diagnostics = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"{self.original_filename} ({self.status}, {self.id})"

    @property
    def job_dir(self) -> Path:
        """Folder of this job's files, relative to MEDIA_ROOT."""
        return Path("denoise") / str(self.id)

    @property
    def is_finished(self) -> bool:
        return self.status in (JobStatus.DONE, JobStatus.FAILED)

    @property
    def progress_fraction(self) -> float:
        if self.status == JobStatus.DONE:
            return 1.0
        if not self.n_stacks:
            return 0.0
        return min(1.0, self.stacks_done / self.n_stacks)

    @property
    def pixel_size(self) -> tuple[float, float] | None:
        if self.pixel_size_row is None or self.pixel_size_col is None:
            return None
        return (self.pixel_size_row, self.pixel_size_col)
