"""REST representations of denoise requests and jobs."""
from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from . import job_files, methods
from .classifier_choice import normalise_choice
from .input_record import load, warnings_of
from .models import DenoiseJob, JobStatus
from .selectors import QueueSnapshot


class DenoiseRequestSerializer(serializers.Serializer):
    """``POST /api/denoise/`` (multipart/form-data)."""

    file = serializers.FileField(
        allow_empty_file=True,
        help_text="The STEM image: TIFF, PNG, NPY, DM3/DM4, EMD, SER, MRC or HSPY.",
    )
    method = serializers.ChoiceField(
        choices=list(methods.METHODS),
        required=False,
        allow_blank=True,
        default=methods.DEFAULT_METHOD,
        error_messages={
            "invalid_choice": '"{input}" is not a method: choose "best" (default) or "paper".'
        },
        help_text=(
            '"best" (default): Anscombe stabilisation, a coarse pilot, groups of similar '
            "patches, two passes; the cleanest result, slower (measured PSNR and time per "
            "method: docs/benchmarks/figures.json, on the upload page). Left out, an image "
            "above the server's best-method limit (REUCID_BEST_MAX_PIXELS) falls back to "
            "\"paper\" "
            "and the job's method_note says so; \"best\" named explicitly is refused "
            'for it (400). "paper": the paper\'s REUCID, much faster, the fast option for '
            "live view and series."
        ),
    )
    protect_defects = serializers.BooleanField(
        required=False,
        default=False,
        help_text=(
            'With method "best" only (with "paper": 400): run it without its coarse pilot. '
            + methods.PROTECT_DEFECTS_HELP
            + " After a fall-back to \"paper\" for a too-large image it is dropped and the "
            "job's method_note says so."
        ),
    )
    classifier = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        default=None,
        help_text=(
            'With method "best": "noise-edge" (default), "active", "mp", "gd" or "k=N". '
            'With method "paper": "active" (the trained model, default), "mp", "gd", "k=N" '
            'or "k=all".'
        ),
    )
    patch_size = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=3, max_value=99,
        help_text="Odd patch size in pixels; empty = estimated from the image.",
    )
    seed = serializers.IntegerField(
        required=False, default=0, min_value=0, max_value=2**32 - 1,
        help_text="Seed of the random stack assignment and SVD sampling.",
    )
    frame = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=0,
        help_text="For a stack or series: which frame to denoise (0-based).",
    )
    n_stacks = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=64,
        help_text="Number of patch stacks d; empty = from the memory estimate.",
    )

    def validate_classifier(self, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None  # the method's default, chosen in validate()
        try:
            return normalise_choice(value)
        except ValueError as error:
            raise serializers.ValidationError(str(error)) from error

    def validate(self, data: dict) -> dict:
        # "method" None: not named, so the service may fall back to "paper" for an image
        # too large for "best"; the classifier stays None until the method is known
        named = str(self.initial_data.get("method") or "").strip()
        data["method"] = data.get("method") if named else None
        planned = data["method"] or methods.DEFAULT_METHOD
        classifier = data.get("classifier") or methods.default_classifier(planned)
        try:
            methods.check_combination(
                planned, classifier, patch_size=data.get("patch_size"),
                n_stacks=data.get("n_stacks"), protect_defects=data.get("protect_defects", False),
            )
        except ValueError as error:
            raise serializers.ValidationError(str(error)) from error
        return data


def job_urls(job: DenoiseJob, request=None) -> dict:
    """Links a client needs: the page, this status, previews and downloads."""

    def absolute(url: str) -> str:
        return request.build_absolute_uri(url) if request is not None else url

    key = str(job.pk)
    urls = {
        "page": absolute(reverse("denoiser:job", args=[key])),
        "status": absolute(reverse("denoiser:api-job", args=[key])),
        "input_preview": absolute(reverse("denoiser:job-image", args=[key, "input"])),
        "interim_preview": None,
        "downloads": {},
    }
    if job.status == JobStatus.RUNNING and job_files.job_path(
        job, job_files.INTERIM_PREVIEW
    ).is_file():
        urls["interim_preview"] = (
            absolute(reverse("denoiser:job-image", args=[key, "interim"]))
            + f"?v={job.stacks_done}"
        )
    if job.status == JobStatus.DONE:
        urls["result_preview"] = absolute(reverse("denoiser:job-image", args=[key, "result"]))
        urls["residual_preview"] = absolute(
            reverse("denoiser:job-image", args=[key, "residual"])
        )
        urls["profile"] = absolute(reverse("denoiser:api-job-profile", args=[key]))
        urls["downloads"] = {
            name: absolute(reverse("denoiser:api-job-download", args=[key, name]))
            for name in job_files.DOWNLOADS
        }
    return urls


class JobSerializer(serializers.ModelSerializer):
    """``GET /api/jobs/{id}/``: status, progress, diagnostics and links."""

    progress = serializers.SerializerMethodField()
    shape = serializers.SerializerMethodField()
    pixel_size = serializers.SerializerMethodField()
    urls = serializers.SerializerMethodField()
    diagnostics = serializers.SerializerMethodField()
    classifier = serializers.CharField(source="classifier_choice")
    queue_position = serializers.SerializerMethodField(
        help_text="Queued jobs: 1 = the next to start (jobs ahead + 1); null otherwise.")
    jobs_ahead = serializers.SerializerMethodField(
        help_text="Queued jobs: jobs that start before this one; null otherwise.")
    estimated_wait_seconds = serializers.SerializerMethodField(
        help_text="Queued jobs: estimated seconds until a worker starts it (0 once running).")
    estimated_seconds = serializers.SerializerMethodField(
        help_text="Estimated seconds until the result (running jobs: what is left), from "
        "the per-pixel times of recent finished jobs of the same method; null once done.")
    estimate_basis = serializers.SerializerMethodField(
        help_text="What the estimate is based on, in words.")
    warnings = serializers.SerializerMethodField(
        help_text="Sentences to read before trusting the result, e.g. that the "
        "autocorrelation found no atomic columns or no lattice (the job runs anyway).")
    lattice = serializers.SerializerMethodField(
        help_text="The lattice check of the input: psf_found, lattice_found, "
        "repeat_strength (autocorrelation repeat over its lag-1 value; crystals about "
        "0.6-1.2, threshold 0.3), lobe_radius_px, message; null for older jobs.")

    class Meta:
        model = DenoiseJob
        fields = [
            "id", "status", "original_filename", "source_format", "shape", "pixel_size",
            "method", "method_note", "protect_defects", "classifier", "model_version", "patch_size",
            "requested_stacks", "frame", "seed", "progress", "queue_position", "jobs_ahead",
            "estimated_wait_seconds", "estimated_seconds", "estimate_basis", "attempts",
            "error", "created_at", "started_at", "finished_at", "elapsed_seconds",
            "diagnostics", "warnings", "lattice", "urls",
        ]
        read_only_fields = fields

    def get_warnings(self, job: DenoiseJob) -> list[str]:
        return warnings_of(job)

    def get_lattice(self, job: DenoiseJob) -> dict | None:
        return load(job).get("lattice")

    def get_progress(self, job: DenoiseJob) -> dict:
        return {
            "stacks_done": job.stacks_done,
            "n_stacks": job.n_stacks,
            "fraction": round(job.progress_fraction, 4),
        }

    def _queue(self, job: DenoiseJob):
        """The job's queue estimate; one read of the queue per response (a list of jobs
        shares it through the context)."""
        if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
            return None

        snapshot = self.context.get("queue_snapshot")
        if snapshot is None:
            snapshot = QueueSnapshot()
            if isinstance(self.context, dict):
                self.context["queue_snapshot"] = snapshot
        return snapshot.estimate(job)

    def get_queue_position(self, job: DenoiseJob) -> int | None:
        estimate = self._queue(job)
        return estimate.position if estimate else None

    def get_jobs_ahead(self, job: DenoiseJob) -> int | None:
        estimate = self._queue(job)
        return estimate.jobs_ahead if estimate and estimate.position else None

    def get_estimated_wait_seconds(self, job: DenoiseJob) -> float | None:
        estimate = self._queue(job)
        return round(estimate.wait_seconds, 1) if estimate else None

    def get_estimated_seconds(self, job: DenoiseJob) -> float | None:
        estimate = self._queue(job)
        return round(estimate.total_seconds, 1) if estimate else None

    def get_estimate_basis(self, job: DenoiseJob) -> str | None:
        estimate = self._queue(job)
        return estimate.basis if estimate else None

    def get_shape(self, job: DenoiseJob) -> list[int]:
        return [job.height, job.width]

    def get_pixel_size(self, job: DenoiseJob) -> list[float] | None:
        return list(job.pixel_size) if job.pixel_size else None

    def get_diagnostics(self, job: DenoiseJob) -> dict | None:
        return job.diagnostics if job.status == JobStatus.DONE else None

    def get_urls(self, job: DenoiseJob) -> dict:
        return job_urls(job, self.context.get("request"))


class ProfileQuerySerializer(serializers.Serializer):
    x0 = serializers.FloatField()
    y0 = serializers.FloatField()
    x1 = serializers.FloatField()
    y1 = serializers.FloatField()
