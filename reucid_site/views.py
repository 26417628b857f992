"""Site-wide pages that belong to no single app."""
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import static
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


def media(request: HttpRequest, path: str) -> HttpResponse:
    """Uploaded and computed files from MEDIA_ROOT, where Django itself is to serve them."""
    served_here = settings.DEBUG or settings.REUCID_SERVE_MEDIA
    if not served_here or settings.REUCID_STORAGE != "filesystem":
        raise Http404("media files are served by the front proxy or object storage")
    return static.serve(request, path, document_root=settings.MEDIA_ROOT)
