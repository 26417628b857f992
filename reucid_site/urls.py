"""Top-level URL configuration: each app owns its own urls module."""
import re

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("admin/", admin.site.urls),
    path("health/", views.health, name="health"),
    path("", include("denoiser.urls")),
    path("survey/", include("survey.urls")),
    path("training/", include("training.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

if settings.MEDIA_URL.startswith("/"):
    # Looked up per request (DEBUG, REUCID_SERVE_MEDIA, MEDIA_ROOT), so tests and the embedded
    # site see the media folder in force; production puts a proxy or S3 in front instead.
    urlpatterns.append(
        re_path(rf"^{re.escape(settings.MEDIA_URL.lstrip('/'))}(?P<path>.*)$", views.media)
    )
