"""HTTP responses for the exports (shared by the staff pages, the API and the admin)."""
from __future__ import annotations

from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone

from survey.models import Survey
from survey.services.exports import (
    eigenpatches_npz_tempfile, iter_eigenpatches_json, iter_responses_csv)

EXPORT_KINDS = ("responses.csv", "eigenpatches.json", "eigenpatches.npz")


def export_filename(kind: str, survey: Survey | None) -> str:
    stem, extension = kind.rsplit(".", 1)
    name = survey.slug if survey else "all-surveys"
    return f"survey-{name}-{stem}-{timezone.now():%Y%m%d-%H%M}.{extension}"


def export_response(kind: str, survey: Survey | None, *, min_responses: int = 1):
    """A streamed download of one export (`kind` is one of EXPORT_KINDS)."""
    filename = export_filename(kind, survey)
    if kind == "responses.csv":
        response = StreamingHttpResponse(iter_responses_csv(survey),
                                         content_type="text/csv; charset=utf-8")
    elif kind == "eigenpatches.json":
        response = StreamingHttpResponse(
            iter_eigenpatches_json(survey, min_responses=min_responses),
            content_type="application/json")
    elif kind == "eigenpatches.npz":
        # FileResponse streams the temporary file in blocks and closes (deletes) it after.
        return FileResponse(eigenpatches_npz_tempfile(survey, min_responses=min_responses),
                            as_attachment=True, filename=filename,
                            content_type="application/zip")
    else:
        raise ValueError(f"unknown export {kind!r}; choose one of {', '.join(EXPORT_KINDS)}")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
