"""Site-wide pages that belong to no single app."""
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .health import site_health


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Database, broker and active-model status; 200 when healthy, 503 otherwise."""
    report = site_health()
    return JsonResponse(report.as_json(), status=200 if report.healthy else 503)

