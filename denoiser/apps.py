from django.apps import AppConfig


class DenoiserConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "denoiser"
