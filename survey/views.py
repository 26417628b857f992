"""Survey pages for respondents: consent, profile, questions, thanks; and the images."""
from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from survey.consensus import consensus_rows
from survey.forms import AnswerForm, ConsentForm, ProfileForm
from survey.identity import remember_respondent, respondent_from_request
from survey.models import Invitation, SurveyImage
from survey.selectors import current_survey, next_image_for, progress_for
from survey.services.answers import (
    AnswerError, present_image, presented_candidates, previous_choice_token, submit_answer)
from survey.services.respondents import (
    RespondentError, accept_invitation, create_respondent, update_profile)
from survey.throttles import joining_allowed


def _render_consent(request, *, form, survey, invitation=None, status=200):
    return render(request, "survey/start.html",
                  {"form": form, "survey": survey, "invitation": invitation}, status=status)


@require_http_methods(["GET", "POST"])
def start(request: HttpRequest) -> HttpResponse:
    """The landing page: consent for newcomers, 'continue' for returning respondents."""
    survey = current_survey()
    respondent = respondent_from_request(request)
    if request.method == "POST":
        form = ConsentForm(request.POST)
        if not form.is_valid():
            return _render_consent(request, form=form, survey=survey, status=400)
        allowed, wait = joining_allowed(
            request, invitation_token=form.cleaned_data["invitation"] or None)
        if not allowed:
            minutes = max(1, round((wait or 60) / 60))
            form.add_error(None, "Many people joined from this network just now; please try "
                                 f"again in about {minutes} minute(s).")
            return _render_consent(request, form=form, survey=survey, status=429)
        try:
            respondent = create_respondent(
                consent=True, invitation_token=form.cleaned_data["invitation"] or None)
        except RespondentError as error:
            form.add_error(None, str(error))
            return _render_consent(request, form=form, survey=survey, status=400)
        return remember_respondent(request, redirect("survey:profile"), respondent)
    if respondent is not None and not respondent.has_profile:
        return redirect("survey:profile")
    context = {"form": ConsentForm(), "survey": survey, "respondent": respondent}
    if respondent is not None and survey is not None:
        context["progress"] = progress_for(respondent, survey)
    return render(request, "survey/start.html", context)


@require_GET
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """An invited expert's link: joining through it makes them a verified expert."""
    invite = Invitation.objects.filter(token=token).first()
    if invite is None or not invite.is_usable:
        messages.error(request, "This invitation link is not valid or has already been used. "
                                "You are still welcome to take part.")
        return redirect("survey:start")
    respondent = respondent_from_request(request)
    if respondent is not None:
        try:
            accept_invitation(respondent, invitation_token=token)
        except RespondentError as error:
            messages.error(request, str(error))
            return redirect("survey:start")
        messages.success(request, "Thank you — you are taking part as a verified expert.")
        return redirect("survey:profile")
    form = ConsentForm(initial={"invitation": token})
    return _render_consent(request, form=form, survey=current_survey(), invitation=invite)


@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    respondent = respondent_from_request(request)
    if respondent is None:
        return redirect("survey:start")
    initial = {"expertise": respondent.expertise, "field": respondent.field,
               "years_experience": respondent.years_experience}
    if request.method == "POST":
        form = ProfileForm(request.POST, initial=initial,
                           verified=respondent.is_verified_expert)
        if form.is_valid():
            try:
                update_profile(respondent, expertise=form.cleaned_data["expertise"],
                               field=form.cleaned_data["field"],
                               years_experience=form.cleaned_data["years_experience"])
            except RespondentError as error:
                form.add_error(None, str(error))
            else:
                return redirect("survey:next")
        status = 400
    else:
        form = ProfileForm(initial=initial, verified=respondent.is_verified_expert)
        status = 200
    return render(request, "survey/profile.html",
                  {"form": form, "respondent": respondent}, status=status)


def _respondent_or_redirect(request):
    respondent = respondent_from_request(request)
    if respondent is None:
        return None, redirect("survey:start")
    if not respondent.has_profile:
        return None, redirect("survey:profile")
    return respondent, None


@require_GET
def next_question(request: HttpRequest) -> HttpResponse:
    respondent, redirection = _respondent_or_redirect(request)
    if redirection:
        return redirection
    survey = current_survey()
    image = next_image_for(respondent, survey) if survey else None
    if image is None:
        return redirect("survey:thanks")
    return redirect("survey:question", image_id=image.id)


@require_http_methods(["GET", "POST"])
def question(request: HttpRequest, image_id: int) -> HttpResponse:
    """One question: the noisy image and its blinded candidates; POST records the choice."""
    respondent, redirection = _respondent_or_redirect(request)
    if redirection:
        return redirection
    survey = current_survey()
    image = get_object_or_404(SurveyImage, pk=image_id, survey=survey,
                              status=SurveyImage.Status.READY, is_active=True)
    error = None
    status = 200
    if request.method == "POST":
        form = AnswerForm(request.POST)
        if form.is_valid():
            try:
                submit_answer(respondent, image, candidate_token=form.cleaned_data["candidate"],
                              time_taken_ms=form.cleaned_data["time_taken_ms"])
            except AnswerError as problem:
                error = str(problem)
            else:
                return redirect("survey:next")
        else:
            error = "Please choose one of the candidates."
        status = 400
    presentation = present_image(respondent, image)
    candidates = presented_candidates(presentation)
    return render(request, "survey/question.html", {
        "image": image, "candidates": candidates, "respondent": respondent,
        "progress": progress_for(respondent, survey), "error": error,
        "previous_token": previous_choice_token(respondent, image) or "",
    }, status=status)


@require_GET
def thanks(request: HttpRequest) -> HttpResponse:
    respondent = respondent_from_request(request)
    if respondent is None:
        return redirect("survey:start")
    survey = current_survey()
    answered = (respondent.responses.filter(image__survey=survey).select_related("image")
                .order_by("answered_at") if survey else [])
    return render(request, "survey/thanks.html", {
        "respondent": respondent, "answered": answered,
        "consensus": consensus_rows(respondent, survey) if survey else [],
        "progress": progress_for(respondent, survey) if survey else None,
    })

