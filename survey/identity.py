"""Who is answering: respondents are remembered by a signed cookie (pages) or a signed
token in the ``X-Survey-Respondent`` header (API clients such as a microscope plug-in)."""
from __future__ import annotations

from django.core import signing
from django.http import HttpRequest, HttpResponse

from survey.models import Respondent

COOKIE_NAME = "survey_respondent"
HEADER_NAME = "HTTP_X_SURVEY_RESPONDENT"
SALT = "survey.respondent"
MAX_AGE_SECONDS = 365 * 24 * 3600


def respondent_token(respondent: Respondent) -> str:
    """A signed, tamper-proof token naming the respondent."""
    return signing.dumps(str(respondent.uid), salt=SALT)


def _respondent_from_uid(uid: str | None) -> Respondent | None:
    if not uid:
        return None
    try:
        return Respondent.objects.select_related("invitation").get(uid=uid)
    except (Respondent.DoesNotExist, ValueError, signing.BadSignature):
        return None
    except Exception:  # a malformed UUID raises ValidationError
        return None


def respondent_from_request(request: HttpRequest) -> Respondent | None:
    """The respondent named by the request's header token or signed cookie, if valid."""
    header = request.META.get(HEADER_NAME)
    if header:
        try:
            return _respondent_from_uid(signing.loads(header, salt=SALT, max_age=MAX_AGE_SECONDS))
        except signing.BadSignature:
            return None
    uid = request.get_signed_cookie(COOKIE_NAME, default=None, salt=SALT,
                                    max_age=MAX_AGE_SECONDS)
    return _respondent_from_uid(uid)


def remember_respondent(request: HttpRequest, response: HttpResponse,
                        respondent: Respondent) -> HttpResponse:
    """Set the signed cookie that lets the respondent come back and continue."""
    response.set_signed_cookie(
        COOKIE_NAME, str(respondent.uid), salt=SALT, max_age=MAX_AGE_SECONDS, httponly=True,
        samesite="Lax", secure=request.is_secure())
    return response
