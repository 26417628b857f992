"""Showing an image's candidates to a respondent and recording their choice."""
from __future__ import annotations

import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from survey.candidate_ks import choose_ks
from survey.models import (
    Candidate, Presentation, Respondent, Response, ShownCandidate, SurveyImage)
from survey.selectors import counted_responses, stable_seed

MAX_TIME_TAKEN_MS = 24 * 3600 * 1000


class AnswerError(ValueError):
    """An answer that cannot be recorded; the message says why."""


def _build_presentation(respondent: Respondent, image: SurveyImage) -> tuple[list[int], bool]:
    survey = image.survey
    rng = np.random.default_rng(stable_seed(respondent.uid, image.id, "presentation"))
    candidates = {c.k: c.id for c in image.candidates.all()}
    noisy_id = candidates.pop(None, None)
    consensus = list(counted_responses(survey).filter(image=image)
                     .values_list("chosen_k", flat=True))
    ks = choose_ks(sorted(candidates), strategy=survey.candidate_strategy,
                   count=survey.candidates_per_question, consensus_ks=consensus,
                   adaptive_after=survey.adaptive_after, rng=rng)
    ids = [candidates[k] for k in ks]
    with_check = bool(survey.attention_check_every and noisy_id is not None
                      and rng.random() < 1.0 / survey.attention_check_every)
    if with_check:
        ids.append(noisy_id)
    order = rng.permutation(len(ids))
    return [int(ids[i]) for i in order], with_check


def present_image(respondent: Respondent, image: SurveyImage) -> Presentation:
    """The candidates this respondent sees for the image, in their own random order.

    Made once and kept, so a reload or a return visit shows the same question.
    """
    if image.status != SurveyImage.Status.READY or not image.is_active:
        raise AnswerError("this image is not open for answers")
    existing = Presentation.objects.filter(respondent=respondent, image=image).first()
    if existing is not None:
        return existing
    candidate_ids, with_check = _build_presentation(respondent, image)
    try:
        with transaction.atomic():
            presentation = Presentation.objects.create(
                respondent=respondent, image=image, candidate_ids=candidate_ids,
                includes_attention_check=with_check)
            _give_tokens(presentation)
            return presentation
    except IntegrityError:
        # The same respondent opened the question twice at once; keep the first.
        return Presentation.objects.get(respondent=respondent, image=image)


def _give_tokens(presentation: Presentation) -> None:
    """One fresh random token per shown candidate, for this respondent only."""
    existing = set(Candidate.objects.filter(id__in=presentation.candidate_ids)
                   .values_list("id", flat=True))
    ShownCandidate.objects.bulk_create([
        ShownCandidate(presentation=presentation, candidate_id=candidate_id, position=position)
        for position, candidate_id in enumerate(presentation.candidate_ids)
        if candidate_id in existing])


def presented_candidates(presentation: Presentation) -> list[ShownCandidate]:
    """The presentation's candidates, in the order shown, each with the respondent's own
    ``token`` (and ``kind``, ``k`` and ``candidate`` for the server side)."""
    shown = list(presentation.shown.select_related("candidate").order_by("position"))
    if not shown and presentation.candidate_ids:
        # A presentation made before tokens were per respondent gets its tokens now.
        try:
            with transaction.atomic():
                _give_tokens(presentation)
        except IntegrityError:  # given by a concurrent request
            pass
        shown = list(presentation.shown.select_related("candidate").order_by("position"))
    return shown


def previous_choice_token(respondent: Respondent, image: SurveyImage) -> str | None:
    """The respondent's own token of the candidate they chose before, if any."""
    return (ShownCandidate.objects
            .filter(presentation__respondent=respondent, presentation__image=image,
                    candidate__responses__respondent=respondent,
                    candidate__responses__image=image)
            .values_list("token", flat=True).first())


def submit_answer(respondent: Respondent, image: SurveyImage, *, candidate_token: str,
                  time_taken_ms: int | None = None) -> tuple[Response, bool]:
    """Record (or change) the respondent's choice for the image.

    One answer per respondent and image, enforced by a unique constraint and written with
    ``update_or_create`` inside a transaction, so concurrent or repeated submissions
    update the one row. Returns ``(response, created)``.
    """
    if not respondent.has_profile:
        raise AnswerError("please fill in the short profile before answering")
    if image.status != SurveyImage.Status.READY or not image.is_active:
        raise AnswerError("this image is not open for answers")
    presentation = Presentation.objects.filter(respondent=respondent, image=image).first()
    if presentation is None:
        raise AnswerError("this image has not been shown to you yet")
    shown = presented_candidates(presentation)
    # Only the respondent's own token counts: another respondent's token, or the
    # candidate's internal one, is refused like any unknown token.
    picked = next((c for c in shown if c.token == candidate_token), None)
    if picked is None:
        raise AnswerError("that candidate was not among the ones shown for this image")
    chosen = picked.candidate
    if time_taken_ms is None:
        elapsed = timezone.now() - presentation.shown_at
        time_taken_ms = int(elapsed.total_seconds() * 1000)
    time_taken_ms = int(min(max(int(time_taken_ms), 0), MAX_TIME_TAKEN_MS))
    is_noisy = chosen.kind == Candidate.Kind.NOISY
    values = {
        "candidate": chosen,
        "chosen_k": None if is_noisy else chosen.k,
        "failed_attention_check": is_noisy,
        "shown_ks": [c.k for c in shown],
        "time_taken_ms": time_taken_ms,
        "expertise_at_answer": respondent.expertise,
    }
    with transaction.atomic():
        response, created = Response.objects.update_or_create(
            respondent=respondent, image=image,
            defaults={**values, "revisions": F("revisions") + 1},
            create_defaults={**values, "revisions": 0},
        )
    if not created:
        response.refresh_from_db(fields=["revisions"])
    return response, created
