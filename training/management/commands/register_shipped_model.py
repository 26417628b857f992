"""Register the packaged default classifier and activate it if nothing is active."""
from __future__ import annotations

from django.core.management.base import BaseCommand

from training.services import register_shipped_model


class Command(BaseCommand):
    help = "Register denoiser/reucid/selection/models/reucid_default.pt; activate it if no model is active."

    def handle(self, *args, **options) -> None:
        record, created, activated = register_shipped_model()
        if record is None:
            self.stdout.write(self.style.WARNING(
                "no shipped model file; train one with `manage.py train_classifier --ship`"))
            return
        state = "registered" if created else "already registered"
        suffix = " and activated" if activated else ""
        self.stdout.write(self.style.SUCCESS(f"shipped model {state}{suffix} (#{record.pk})"))
