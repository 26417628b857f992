"""Limits on joining the survey, per client address (pages and API alike).

Before issue 16 a script made 30 respondents in 3.5 s and 20 of them moved an image's mean
k to 25. Joining is now limited per client address by two DRF throttles counted in the
default cache (share it between web processes with ``REUCID_CACHE_URL``):

* a burst limit, ``settings.REUCID_RESPONDENT_BURST_RATE`` (default ``10/min``): a script
  cannot make dozens at once, while a room of people behind one network can still join
  within a few minutes;
* a sustained limit, ``settings.REUCID_RESPONDENT_RATE`` (default ``60/hour``).

Joining through a valid staff invitation is not limited: the invitation is the limit.
``off`` lifts a limit (load tests on loopback). Clients are told apart by ``REMOTE_ADDR``
(behind a proxy, let the proxy set it; DRF's ``NUM_PROXIES`` reads ``X-Forwarded-For``).
"""
from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from survey.models import Invitation

OFF = {"", "off", "0", "none"}


class _JoinThrottle(SimpleRateThrottle):
    setting = ""

    def get_rate(self) -> str | None:
        # Read per request, not at import: tests and operators change it.
        rate = str(getattr(settings, self.setting, "") or "").strip()
        return None if rate.lower() in OFF else rate

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class RespondentBurstThrottle(_JoinThrottle):
    """New respondents per client address in a short window, e.g. ``10/min``."""

    scope = "survey_join_burst"
    setting = "REUCID_RESPONDENT_BURST_RATE"


class RespondentCreationThrottle(_JoinThrottle):
    """New respondents per client address over an hour, e.g. ``60/hour``."""

    scope = "survey_join"
    setting = "REUCID_RESPONDENT_RATE"


JOIN_THROTTLES = (RespondentBurstThrottle, RespondentCreationThrottle)


def invited(token: str | None) -> bool:
    """Whether ``token`` names a staff invitation that can still be used."""
    if not token or not isinstance(token, str):
        return False
    invitation = Invitation.objects.filter(token=token[:32]).first()
    return invitation is not None and invitation.is_usable


def joining_allowed(request, *, invitation_token: str | None = None
                    ) -> tuple[bool, float | None]:
    """For the survey pages: may this client make a respondent now? ``(allowed, wait s)``.

    Counts the attempt when allowed, on the API's counters.
    """
    if invited(invitation_token):
        return True, None
    for throttle_class in JOIN_THROTTLES:
        throttle = throttle_class()
        if not throttle.allow_request(request, None):
            return False, throttle.wait()
    return True, None
