"""REST API: submit a denoise job, poll it, download its results, sample a line profile.

Same services as the page (:mod:`denoiser.services`); session or token authentication;
anonymous use is allowed (the job's UUID is then the only key to it).
"""
from __future__ import annotations

import numpy as np
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import permissions, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from reucid_site.files import send_file

from . import hspy_export, job_files, selectors, services
from .models import DenoiseJob, JobStatus
from .profiles import line_profile
from .serializers import DenoiseRequestSerializer, JobSerializer, ProfileQuerySerializer
from .uploads import UploadRejected

ERROR_SCHEMA = inline_serializer("DenoiseError", fields={"detail": serializers.CharField()})


def _first_error(errors) -> str:
    if isinstance(errors, dict):
        for field, value in errors.items():
            message = _first_error(value)
            return message if field in ("non_field_errors", "detail") else f"{field}: {message}"
    if isinstance(errors, list) and errors:
        return _first_error(errors[0])
    return str(errors)


def get_visible_job_or_404(job_id, user) -> DenoiseJob:
    job = selectors.visible_job(job_id, user)
    if job is None:
        raise Http404("No such job (or it is not yours).")
    return job


class DenoiseSubmitView(APIView):
    """Upload an image and start a denoise job."""

    parser_classes = [MultiPartParser, FormParser]
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        request={"multipart/form-data": DenoiseRequestSerializer},
        responses={
            201: JobSerializer,
            400: OpenApiResponse(ERROR_SCHEMA, description="Unusable image or options"),
            413: OpenApiResponse(ERROR_SCHEMA, description="File or image too large"),
            429: OpenApiResponse(ERROR_SCHEMA, description="This client already has "
                                 "REUCID_MAX_JOBS_PER_CLIENT jobs queued or running"),
        },
        summary="Upload a STEM image and start a REUCID denoise job",
    )
    def post(self, request):
        if "file" not in request.FILES:
            return Response(
                {"detail": "No file was uploaded. Send the image in the multipart field 'file'."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        form = DenoiseRequestSerializer(data=request.data)
        if not form.is_valid():
            return Response(
                {"detail": _first_error(form.errors), "errors": form.errors},
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            job = services.submit_job(
                uploaded=form.validated_data["file"],
                owner=request.user,
                classifier=form.validated_data["classifier"],
                method=form.validated_data["method"],
                protect_defects=form.validated_data.get("protect_defects", False),
                patch_size=form.validated_data.get("patch_size"),
                seed=form.validated_data["seed"],
                n_stacks=form.validated_data.get("n_stacks"),
                frame=form.validated_data.get("frame"),
                client=selectors.client_identity(request),
            )
        except UploadRejected as rejection:
            return Response({"detail": rejection.message}, status=rejection.status)
        if job.owner_id is None and hasattr(request, "session"):
            selectors.remember_in_session(request.session, job)
        job.refresh_from_db()
        data = JobSerializer(job, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED, headers={"Location": data["urls"]["status"]})


class JobListView(APIView):
    """The logged-in user's jobs, newest first."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: JobSerializer(many=True)}, summary="List your denoise jobs")
    def get(self, request):
        jobs = selectors.jobs_of_user(request.user)[:200]
        return Response(JobSerializer(jobs, many=True, context={"request": request}).data)


class JobDetailView(APIView):
    """Status, progress and diagnostics of one job."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(responses={200: JobSerializer, 404: ERROR_SCHEMA}, summary="Job status")
    def get(self, request, job_id):
        job = get_visible_job_or_404(job_id, request.user)
        return Response(JobSerializer(job, context={"request": request}).data)

    @extend_schema(responses={204: None, 404: ERROR_SCHEMA}, summary="Delete a job and its files")
    def delete(self, request, job_id):
        job = get_visible_job_or_404(job_id, request.user)
        services.delete_job(job)
        return Response(status=status.HTTP_204_NO_CONTENT)


class _AnyMediaRenderer(BaseRenderer):
    """Lets a client that asks for image/tiff or image/png get past content negotiation."""

    media_type = "*/*"
    format = "file"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else str(data).encode()


class JobDownloadView(APIView):
    """A result file of a finished job."""

    permission_classes = [permissions.AllowAny]
    renderer_classes = [JSONRenderer, _AnyMediaRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "name", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(job_files.DOWNLOADS),
                description=("result.tif (float32), result.png, result.hspy (HyperSpy, with the "
                             "input's axes and metadata), residual.tif, residual.png"),
            )
        ],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 404: ERROR_SCHEMA},
        summary="Download a result",
    )
    def get(self, request, job_id, name):
        job = get_visible_job_or_404(job_id, request.user)
        if name not in job_files.DOWNLOADS:
            raise Http404("Unknown download.")
        if job.status != JobStatus.DONE:
            return Response(
                {"detail": f"The job is {job.status}; results exist once it is done."},
                status=status.HTTP_409_CONFLICT,
            )
        file_name, content_type, _ = job_files.DOWNLOADS[name]
        if file_name == job_files.RESULT_HSPY and job_files.job_path(
                job, job_files.RESULT_NPY).is_file():
            hspy_export.ensure_result_hspy(job)  # made on first download, then kept
        if not job_files.job_path(job, file_name).is_file():
            raise Http404("This result file has been deleted.")
        stem = job.original_filename.rsplit(".", 1)[0] or "image"
        kind, extension = name.split(".")
        # The owner/staff/secret-link check is above; the bytes go out by the configured
        # way (FileResponse, X-Accel-Redirect or X-Sendfile).
        return send_file(job_files.storage_name(job, file_name), content_type=content_type,
                         filename=f"{stem}_reucid_{kind}.{extension}", as_attachment=True)


class JobProfileView(APIView):
    """Input and output sampled along a line (the paper's Fig. 7)."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(
        parameters=[ProfileQuerySerializer],
        responses={
            200: inline_serializer(
                "LineProfile",
                fields={
                    "unit": serializers.CharField(),
                    "distance": serializers.ListField(child=serializers.FloatField()),
                    "input": serializers.ListField(child=serializers.FloatField()),
                    "output": serializers.ListField(child=serializers.FloatField()),
                },
            ),
            404: ERROR_SCHEMA,
        },
        summary="Line profile across input and reconstruction",
    )
    def get(self, request, job_id):
        job = get_visible_job_or_404(job_id, request.user)
        query = ProfileQuerySerializer(data=request.query_params)
        if not query.is_valid():
            return Response(
                {"detail": "Give the line as x0, y0, x1, y1 in pixels."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        if job.status != JobStatus.DONE:
            return Response(
                {"detail": f"The job is {job.status}; profiles exist once it is done."},
                status=status.HTTP_409_CONFLICT,
            )
        coordinates = query.validated_data
        values = [coordinates[key] for key in ("x0", "y0", "x1", "y1")]
        if not all(np.isfinite(values)):
            return Response({"detail": "Coordinates must be finite."}, status=400)
        clip = lambda value, size: float(min(max(value, 0.0), size - 1.0))
        start = (clip(values[0], job.width), clip(values[1], job.height))
        end = (clip(values[2], job.width), clip(values[3], job.height))
        try:
            images = {
                "input": np.load(job_files.job_path(job, job_files.INPUT_NPY), mmap_mode="r"),
                "output": np.load(job_files.job_path(job, job_files.RESULT_NPY), mmap_mode="r"),
            }
        except FileNotFoundError as error:
            raise Http404("The images of this job have been deleted.") from error
        profile = line_profile(images, start, end, pixel_size=job.pixel_size)
        return Response(
            {
                "unit": profile.unit,
                "start": start,
                "end": end,
                "distance": np.round(profile.distance, 4).tolist(),
                "input": profile.values["input"].astype(float).tolist(),
                "output": profile.values["output"].astype(float).tolist(),
            }
        )
