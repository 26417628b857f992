"""URLs of the denoise app (included at the site root)."""
from django.urls import path

from . import api, views

app_name = "denoiser"
urlpatterns = [
    path("denoise/", views.denoise_page, name="denoise"),
    path("denoise/jobs/<uuid:job_id>/", views.job_page, name="job"),
    path("denoise/jobs/<uuid:job_id>/image/<str:name>/", views.job_image, name="job-image"),
    path("denoise/jobs/<uuid:job_id>/retry/", views.job_retry, name="job-retry"),
    path("denoise/jobs/<uuid:job_id>/delete/", views.job_delete, name="job-delete"),
    path("api/denoise/", api.DenoiseSubmitView.as_view(), name="api-denoise"),
    path("api/jobs/", api.JobListView.as_view(), name="api-jobs"),
    path("api/jobs/<uuid:job_id>/", api.JobDetailView.as_view(), name="api-job"),
    path(
        "api/jobs/<uuid:job_id>/download/<str:name>/",
        api.JobDownloadView.as_view(),
        name="api-job-download",
    ),
    path("api/jobs/<uuid:job_id>/profile/", api.JobProfileView.as_view(), name="api-job-profile"),
]
