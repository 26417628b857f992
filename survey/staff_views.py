"""Staff-only survey pages: results per image, agreement, counts over time, exports."""
from __future__ import annotations

import numpy as np
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods

from survey.arrays import load_decomposition, load_npy
from survey.chart_data import answer_times
from survey.charts import histogram_svg, timeline_svg, violin_svg
from survey.export_http import EXPORT_KINDS, export_response
from survey.models import Candidate, Respondent, Survey, SurveyImage
from survey.rendering import encode_png
from survey.selectors import (
    current_survey, exclusion_effect, image_statistics, image_utilities, respondent_counts,
    survey_overview)
from survey.services.respondents import exclude_respondent, include_respondent


def _chosen_survey(request: HttpRequest) -> Survey | None:
    slug = request.GET.get("survey")
    if slug:
        return get_object_or_404(Survey, slug=slug)
    return current_survey() or Survey.objects.order_by("-created_at").first()


@staff_member_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    survey = _chosen_survey(request)
    context = {"survey": survey, "surveys": Survey.objects.order_by("-created_at"),
               "export_kinds": EXPORT_KINDS}
    if survey is not None:
        context.update({
            "rows": survey_overview(survey),
            "counts": respondent_counts(survey),
            "timeline": mark_safe(timeline_svg(answer_times(survey))),
        })
    return render(request, "survey/staff/overview.html", context)


@staff_member_required
@require_GET
def image_detail(request: HttpRequest, image_id: int) -> HttpResponse:
    image = get_object_or_404(SurveyImage.objects.select_related("survey"), pk=image_id)
    statistics = image_statistics(image)
    k_max = max(image.n_components, image.survey.k_max, 1)
    candidates = list(image.candidates.filter(kind=Candidate.Kind.RECONSTRUCTION)
                      .order_by("k"))
    eigenvalues = None
    # a default-method image's candidates are per-group counts: no single eigenvalue each
    if image.decomposition_file and image.candidate_method == SurveyImage.CandidateMethod.PAPER:
        eigenvalues = load_decomposition(image.decomposition_file.name).eigenvalues
    utilities = image_utilities(image)
    counts = np.bincount(statistics.ks["all"], minlength=k_max + 1) if statistics.ks["all"] \
        else np.zeros(k_max + 1, dtype=int)
    rows = [{"candidate": c, "times_chosen": int(counts[c.k]) if c.k < counts.size else 0,
             "eigenvalue": f"{float(eigenvalues[c.k - 1]):.3g}" if eigenvalues is not None
             and c.k <= eigenvalues.size else "",
             "useful": statistics.label_k is not None and c.k <= statistics.label_k}
            for c in candidates]
    return render(request, "survey/staff/image.html", {
        "image": image, "stats": statistics, "rows": rows,
        "group_rows": [(key, name, statistics.summaries[key]) for key, name in
                       (("expert", "Experts"), ("non_expert", "Non-experts"), ("all", "All"))],
        "violin": mark_safe(violin_svg(statistics.ks, k_max=k_max)),
        "histogram": mark_safe(histogram_svg(statistics.ks, k_max=k_max)),
        "utilities": utilities,
        "utilities_have_model": bool(utilities) and utilities[0]["model_keeps"] is not None,
    })


@staff_member_required
@require_GET
def clean_png(request: HttpRequest, image_id: int) -> HttpResponse:
    """The ground truth on the noisy image's intensity scale (staff only: it is the answer)."""
    image = get_object_or_404(SurveyImage, pk=image_id)
    if not image.clean_file or image.display_low is None:
        raise Http404("this image has no ground truth")
    clean = load_npy(image.clean_file.name)
    png = encode_png(clean, low=image.display_low, high=image.display_high)
    return HttpResponse(png, content_type="image/png")


@staff_member_required
@require_GET
def export(request: HttpRequest, kind: str) -> HttpResponse:
    if kind not in EXPORT_KINDS:
        raise Http404("unknown export")
    slug = request.GET.get("survey")
    survey = get_object_or_404(Survey, slug=slug) if slug else None
    try:
        min_responses = max(1, int(request.GET.get("min_responses", 1)))
    except ValueError:
        return HttpResponse("min_responses must be a whole number", status=400)
    return export_response(kind, survey, min_responses=min_responses)


@staff_member_required
@require_http_methods(["GET", "POST"])
def respondent_detail(request: HttpRequest, respondent_id: int) -> HttpResponse:
    """One respondent: their answers, their weight, and each label with and without them;
    POST excludes them from the labels (or counts them again)."""
    respondent = get_object_or_404(Respondent, pk=respondent_id)
    if request.method == "POST":
        if request.POST.get("action") == "exclude":
            exclude_respondent(respondent, reason=request.POST.get("reason", ""))
            messages.success(request, "Excluded: their answers no longer count.")
        elif request.POST.get("action") == "include":
            include_respondent(respondent)
            messages.success(request, "Included again: their answers count.")
        return redirect("survey:staff-respondent", respondent_id=respondent.pk)
    effects = exclusion_effect(respondent)
    return render(request, "survey/staff/respondent.html", {
        "respondent": respondent, "effects": effects,
        "n_changed": sum(effect.changes_label for effect in effects),
        "n_attention_failures": respondent.responses.filter(
            failed_attention_check=True).count(),
    })
