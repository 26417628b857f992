"""Idempotent demo data: a survey of a few simulated images with their candidates."""
from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from survey.models import Survey, SurveyImage
from survey.services.importing import import_sources, simulated_sources

DEMO_SLUG = "demo"
DEMO_MATERIALS = ("SrTiO3_001", "Si_110", "BaTiO3_001")
DEMO_DOSES = (300.0, 3000.0)


class Command(BaseCommand):
    help = ("Create (once) the demo survey: simulated HAADF images of a few materials at two "
            "doses, with candidates for k = 1..25. Safe to run again.")

    def add_arguments(self, parser):
        parser.add_argument("--size", type=int, default=128)

    def handle(self, *args, size, **options):
        with transaction.atomic():
            survey, created = Survey.objects.get_or_create(slug=DEMO_SLUG, defaults={
                "name": "Demo survey (simulated images)",
                "description": "Simulated HAADF-STEM images with ground truth; candidates "
                               "from one decomposition with k = 1..25 eigenpatches.",
                "attention_check_every": 5,
            })
        added, skipped = import_sources(survey, simulated_sources(
            materials=DEMO_MATERIALS, doses=DEMO_DOSES, shape=(size, size), seed=0))
        # Images whose candidates failed earlier (e.g. the core was missing) are retried.
        from survey.services.images import queue_candidates

        retried = 0
        for image in survey.images.filter(status=SurveyImage.Status.FAILED):
            if not image.responses.exists():
                with transaction.atomic():
                    queue_candidates(image)
                retried += 1
        ready = survey.images.filter(status=SurveyImage.Status.READY).count()
        failed = survey.images.filter(status=SurveyImage.Status.FAILED).count()
        self.stdout.write(self.style.SUCCESS(
            f"demo survey '{survey.slug}'{' created' if created else ''}: {len(added)} image(s) "
            f"added, {len(skipped)} already there, {retried} retried; {ready} ready"
            + (f", {failed} failed (see the admin)" if failed else "") + "."))
