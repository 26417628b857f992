"""Staff-only training page: models, runs with live progress, and a retrain button."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from . import selectors, services
from .measures import MEASURES, measure_rows
from .models import TrainingRun


def _models_context() -> dict:
    models = list(selectors.classifier_models()[:30])
    return {
        "models": models,
        "model_rows": [{"model": model, "measures": measure_rows(model)} for model in models],
        "measures": MEASURES,
        "active": selectors.active_classifier_record(),
    }


@staff_member_required
@require_GET
def training_home(request: HttpRequest) -> HttpResponse:
    runs = list(selectors.recent_training_runs())
    return render(request, "training/home.html", {
        **_models_context(),
        "runs": runs,
        "sources": TrainingRun.Source.choices,
    })


@staff_member_required
@require_GET
def models_table(request: HttpRequest) -> HttpResponse:
    """The model table alone: the page swaps it in when a run finishes (live refresh)."""
    response = render(request, "training/_models_table.html", _models_context())
    response["Cache-Control"] = "no-store"
    return response


@staff_member_required
@require_POST
def start_run(request: HttpRequest) -> HttpResponse:
    try:
        tune = int(request.POST.get("tune", "0") or 0)
        options = services.run_options_from_form(request.POST)
        run = services.start_training_run(
            source=request.POST.get("source", TrainingRun.Source.BOTH), tune_trials=tune,
            auto_activate=request.POST.get("auto_activate") == "on", user=request.user,
            options=options)
    except (ValueError, services.TrainingError) as exc:
        messages.error(request, f"Training was not started: {exc}")
    else:
        messages.success(request, f"Training run #{run.pk} queued.")
    return redirect("training:home")


@staff_member_required
@require_GET
def run_status(request: HttpRequest, run_id: int) -> JsonResponse:
    run = get_object_or_404(TrainingRun.objects.select_related("result"), pk=run_id)
    return JsonResponse(selectors.run_progress(run))
