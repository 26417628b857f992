"""Survey URLs, mounted at /survey/ (namespace "survey")."""
from django.urls import path

from survey import api, files, staff_views, views

app_name = "survey"
urlpatterns = [
    path("", views.start, name="start"),
    path("invite/<str:token>/", views.invitation, name="invitation"),
    path("profile/", views.profile, name="profile"),
    path("next/", views.next_question, name="next"),
    path("q/<int:image_id>/", views.question, name="question"),
    path("thanks/", views.thanks, name="thanks"),
    path("c/<str:token>.png", files.candidate_png, name="candidate-png"),
    path("n/<str:token>.png", files.noisy_png, name="noisy-png"),
    path("staff/", staff_views.overview, name="staff-overview"),
    path("staff/images/<int:image_id>/", staff_views.image_detail, name="staff-image"),
    path("staff/images/<int:image_id>/clean.png", staff_views.clean_png, name="staff-clean-png"),
    path("staff/export/<str:kind>", staff_views.export, name="staff-export"),
    path("staff/respondents/<int:respondent_id>/", staff_views.respondent_detail,
         name="staff-respondent"),
    path("api/respondents/", api.RespondentCreateView.as_view(), name="api-respondents"),
    path("api/respondents/me/", api.RespondentMeView.as_view(), name="api-respondent-me"),
    path("api/images/", api.SurveyImageListView.as_view(), name="api-images"),
    path("api/images/<int:pk>/", api.SurveyImageDetailView.as_view(), name="api-image"),
    path("api/images/<int:pk>/candidates/", api.CandidatesView.as_view(),
         name="api-candidates"),
    path("api/images/<int:pk>/summary/", api.ImageSummaryView.as_view(), name="api-summary"),
    path("api/next/", api.NextQuestionView.as_view(), name="api-next"),
    path("api/responses/", api.AnswerView.as_view(), name="api-responses"),
    path("api/export/<str:kind>", api.ExportView.as_view(), name="api-export"),
]
