"""Top-level URL configuration: each app owns its own urls module.

There is deliberately no route for MEDIA_URL: stored files are served only by views that
check who may see them (reucid_site.files.send_file).
"""
from django.contrib import admin
from django.templatetags.static import static
from django.views.generic import RedirectView
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView)

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("admin/", admin.site.urls),
    path("health/", views.health, name="health"),
    # browsers ask for /favicon.ico whatever the page links; the site's icon is an SVG
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True),
         name="favicon"),
    path("", include("denoiser.urls")),
    path("survey/", include("survey.urls")),
    path("training/", include("training.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(
        url_name="api-schema", template_name="drf_spectacular/redoc_offline.html"),
        name="api-redoc"),
]
