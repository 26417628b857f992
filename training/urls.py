from django.urls import path

from . import views

app_name = "training"
urlpatterns = [
    path("", views.training_home, name="home"),
    path("models/table/", views.models_table, name="models-table"),
    path("runs/start/", views.start_run, name="start-run"),
    path("runs/<int:run_id>/status/", views.run_status, name="run-status"),
]
