"""Respondents: consent, profile, invitations for verified experts."""
from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from survey.models import Invitation, Respondent


class RespondentError(ValueError):
    """A respondent action that cannot be done; the message says why."""


def _claim_invitation(token: str) -> Invitation:
    invitation = Invitation.objects.select_for_update().filter(token=token).first()
    if invitation is None or not invitation.is_usable:
        raise RespondentError("this invitation link is not valid or has already been used")
    Invitation.objects.filter(pk=invitation.pk).update(use_count=F("use_count") + 1)
    return invitation


def create_respondent(*, consent: bool, invitation_token: str | None = None) -> Respondent:
    """A new respondent who agreed to take part; an invitation makes them a verified expert."""
    if not consent:
        raise RespondentError("please agree to the consent statement to take part")
    with transaction.atomic():
        respondent = Respondent(consented_at=timezone.now())
        if invitation_token:
            respondent.invitation = _claim_invitation(invitation_token)
            respondent.is_verified_expert = True
            respondent.expertise = Respondent.Expertise.EXPERT
        respondent.save()
    return respondent


def accept_invitation(respondent: Respondent, *, invitation_token: str) -> Respondent:
    """An existing respondent opens an invitation link: they become a verified expert."""
    if respondent.is_verified_expert:
        return respondent
    with transaction.atomic():
        invitation = _claim_invitation(invitation_token)
        Respondent.objects.filter(pk=respondent.pk).update(
            invitation=invitation, is_verified_expert=True,
            expertise=Respondent.Expertise.EXPERT, profile_updated_at=timezone.now())
    respondent.refresh_from_db()
    return respondent


def update_profile(respondent: Respondent, *, expertise: str, field: str = "",
                   years_experience: int | None = None) -> Respondent:
    """Set the self-declared profile. A changed expertise applies to all earlier answers
    too: one person belongs to one group (see docs/survey.md)."""
    if expertise not in Respondent.Expertise.values:
        raise RespondentError("choose 'expert' or 'non-expert'")
    if respondent.is_verified_expert and expertise != Respondent.Expertise.EXPERT:
        raise RespondentError("you joined through an expert invitation; your expertise is set")
    if years_experience is not None and not 0 <= int(years_experience) <= 80:
        raise RespondentError("years of experience must be between 0 and 80")
    respondent.expertise = expertise
    respondent.field = (field or "").strip()[:200]
    respondent.years_experience = None if years_experience is None else int(years_experience)
    respondent.profile_updated_at = timezone.now()
    respondent.save(update_fields=["expertise", "field", "years_experience",
                                   "profile_updated_at"])
    return respondent


def mark_verified_experts(respondents) -> int:
    """Staff vouch for respondents: they become verified experts. Returns how many changed."""
    return respondents.filter(is_verified_expert=False).update(
        is_verified_expert=True, expertise=Respondent.Expertise.EXPERT,
        profile_updated_at=timezone.now())


def exclude_respondent(respondent: Respondent, *, reason: str = "") -> Respondent:
    """Staff leave every answer of this respondent out of the labels (kept, not deleted)."""
    respondent.excluded_at = timezone.now()
    respondent.exclusion_reason = (reason or "").strip()[:500]
    respondent.save(update_fields=["excluded_at", "exclusion_reason"])
    return respondent


def include_respondent(respondent: Respondent) -> Respondent:
    """Undo :func:`exclude_respondent`: the answers count again."""
    respondent.excluded_at = None
    respondent.exclusion_reason = ""
    respondent.save(update_fields=["excluded_at", "exclusion_reason"])
    return respondent
