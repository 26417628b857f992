"""The survey's pictures, each behind a check of who may see it.

* a candidate by the respondent's own token (``ShownCandidate.token``): only to that
  respondent (cookie or ``X-Survey-Respondent`` header); staff may preview any candidate by
  its internal token;
* the reference (the noisy image) by the image's public token: to anyone, like the image
  list that names it; it is rendered apart from the attention candidate (no shared bytes).

Every answer has the same headers (type, length for one image, ``inline;
filename="image.png"``, cache policy) whatever the candidate: nothing but the picture
itself tells candidates, the attention check and the reference apart. Ground truth and
decompositions have no URL here at all; staff see the ground truth through
``staff_views.clean_png``.
"""
from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from reucid_site.files import send_file
from survey.identity import respondent_from_request
from survey.models import Candidate, ShownCandidate, SurveyImage
from survey.services.images import ensure_reference

#: What the client sees for every survey picture.
PICTURE_FILENAME = "image.png"
PICTURE_CACHE = "private, max-age=86400"


def _picture(name: str) -> HttpResponse:
    if not name:
        raise Http404("image not found")
    return send_file(name, content_type="image/png", filename=PICTURE_FILENAME,
                     cache_control=PICTURE_CACHE)


@require_GET
def candidate_png(request: HttpRequest, token: str) -> HttpResponse:
    """A candidate by the respondent's own token: the URL says nothing about k, and the
    token works for nobody else."""
    shown = (ShownCandidate.objects.select_related("candidate", "presentation")
             .filter(token=token).first())
    if shown is not None:
        respondent = respondent_from_request(request)
        if respondent is None or respondent.pk != shown.presentation.respondent_id:
            raise Http404("image not found")
        return _picture(shown.candidate.png.name)
    if request.user.is_active and request.user.is_staff:
        candidate = Candidate.objects.filter(token=token).first()
        if candidate is not None:
            return _picture(candidate.png.name)
    raise Http404("image not found")


@require_GET
def noisy_png(request: HttpRequest, token: str) -> HttpResponse:
    """The noisy reference on its candidates' intensity scale."""
    image = (SurveyImage.objects.filter(public_token=token, status=SurveyImage.Status.READY)
             .first())
    if image is None:
        raise Http404("image not found")
    return _picture(ensure_reference(image).reference_png.name)
