from django.urls import path

app_name = "denoiser"
urlpatterns: list = []
