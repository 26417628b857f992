"""Register the packaged default classifiers and activate each if none of its kind is."""
from __future__ import annotations

from django.core.management.base import BaseCommand

from training.services import register_shipped_model


class Command(BaseCommand):
    help = ("Register denoiser/reucid/selection/models/reucid_default.pt (the paper method's "
            "CNN) and reucid_group_default.pt (the default method's group classifier); "
            "activate each if no model of its kind is active.")

    def handle(self, *args, **options) -> None:
        for kind, command in (("paper", "train_classifier --ship"),
                              ("group", "train_classifier --kind group --ship")):
            record, created, activated = register_shipped_model(kind)
            if record is None:
                self.stdout.write(self.style.WARNING(
                    f"no shipped {kind} model file; train one with `manage.py {command}`"))
                continue
            state = "registered" if created else "already registered"
            suffix = " and activated" if activated else ""
            self.stdout.write(self.style.SUCCESS(
                f"shipped {kind} model {state}{suffix} (#{record.pk})"))
