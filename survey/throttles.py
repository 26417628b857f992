"""Limits on joining the survey, per client address (pages and API alike).

Before issue 16 a script made 30 respondents in 3.5 s and 20 of them moved an image's mean
k to 25. Joining is now limited to ``settings.REUCID_RESPONDENT_RATE`` per client
(DRF's throttle, counted in the default cache: share it between web processes with
``REUCID_CACHE_URL``). Clients are told apart by ``REMOTE_ADDR`` (behind a proxy, let the
proxy set it; DRF's ``NUM_PROXIES`` reads ``X-Forwarded-For`` when configured).
"""
from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class RespondentCreationThrottle(SimpleRateThrottle):
    """New respondents per client address, e.g. ``20/hour``; ``off`` lifts the limit."""

    scope = "survey_respondents"

    def get_rate(self) -> str | None:
        # Read per request, not at import: tests and operators change it.
        rate = str(getattr(settings, "REUCID_RESPONDENT_RATE", "") or "").strip()
        return None if rate.lower() in {"", "off", "0", "none"} else rate

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def joining_allowed(request) -> tuple[bool, float | None]:
    """For the survey pages: may this client make a respondent now? ``(allowed, wait s)``.

    Counts the attempt when allowed, like the API's throttle (the same counter).
    """
    throttle = RespondentCreationThrottle()
    if throttle.allow_request(request, None):
        return True, None
    return False, throttle.wait()
