"""Error answers the site gives whatever raised them: JSON on API paths, and Django's
technical (DEBUG) pages only for requests from this machine.

Django turns an exception into a response in several places (URL resolution, each
middleware, the view), and with DEBUG on it answers with its technical page (settings,
URL patterns, tracebacks). This middleware sits outermost and rewrites the finished
response, so it catches all of them:

* on an API path (``/api/...``, ``/survey/api/...``) every error is ``{"detail": ...}``
  JSON, the status kept (an oversized request body becomes 413);
* with DEBUG on, a technical page goes only to a loopback client (``REMOTE_ADDR``; a proxy's
  ``X-Forwarded-For`` is never trusted for this); anyone else gets the page DEBUG=False
  would give.
"""
from __future__ import annotations

import ipaddress
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import TooManyFilesSent
from django.views import defaults
from django.views.csrf import csrf_failure as django_csrf_failure

logger = logging.getLogger(__name__)

API_PREFIXES = ("/api/", "/survey/api/")
# Every Django technical page (404, 500/400, CSRF failure with DEBUG) carries this tag; the
# site's own pages never do.
TECHNICAL_MARKER = b'<meta name="robots" content="NONE,NOARCHIVE">'
TOO_LARGE = (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent)
DETAILS = {
    400: "bad request",
    401: "authentication required",
    403: "permission denied",
    404: "not found",
    405: "method not allowed",
    413: "the request is too large",
    429: "too many requests; try again later",
    500: "server error; the failure has been logged",
}
_EXCEPTION_ATTRIBUTE = "_reucid_exception"


def is_api_path(path: str) -> bool:
    """Whether ``path`` belongs to the REST API (whose clients expect JSON).

    Examples
    --------
    >>> is_api_path("/survey/api/respondents/"), is_api_path("/survey/q/1/")
    (True, False)
    """
    return path.startswith(API_PREFIXES)


def is_local_client(request: HttpRequest) -> bool:
    """Whether the request comes from this machine (loopback ``REMOTE_ADDR``)."""
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _json_error(request: HttpRequest, response: HttpResponse) -> JsonResponse:
    exception = getattr(request, _EXCEPTION_ATTRIBUTE, None)
    status = response.status_code
    if isinstance(exception, TOO_LARGE):
        status = 413
    if status == 403 and getattr(request, "_reucid_csrf_failed", False):
        detail = ("CSRF check failed: a browser session must send the CSRF token; API clients "
                  "send no session cookie (use a token header instead)")
    else:
        detail = DETAILS.get(status, response.reason_phrase.lower() or "error")
    if status == 413:
        detail = DETAILS[413] + " (a field or the whole body is over the limit)"
    body = {"detail": detail}
    if settings.DEBUG and is_local_client(request) and exception is not None:
        body["exception"] = f"{type(exception).__name__}: {exception}"[:2000]
    answer = JsonResponse(body, status=status)
    for header in ("Allow", "Retry-After", "WWW-Authenticate"):
        if header in response:
            answer[header] = response[header]
    return answer


def _public_page(request: HttpRequest, status: int) -> HttpResponse:
    """What DEBUG=False would answer with this status."""
    if status == 404:
        return defaults.page_not_found(request, exception=None)
    if status == 403:
        return defaults.permission_denied(request, exception=None)
    if status == 400:
        return defaults.bad_request(request, exception=None)
    response = defaults.server_error(request)
    response.status_code = status
    return response


class ErrorPagesMiddleware:
    """JSON errors on API paths; technical pages for loopback clients only (see module)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or getattr(response, "streaming", False):
            return response
        if is_api_path(request.path) and not _is_json(response):
            return _json_error(request, response)
        if (settings.DEBUG and not is_local_client(request)
                and TECHNICAL_MARKER in response.content):
            return _public_page(request, response.status_code)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        # Only remembered: Django still makes the response, and __call__ rewrites it.
        setattr(request, _EXCEPTION_ATTRIBUTE, exception)
        return None


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").split(";")[0].strip().endswith("json")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Django's CSRF failure view, noting the failure so API paths can say what it was."""
    request._reucid_csrf_failed = True
    return django_csrf_failure(request, reason=reason)
